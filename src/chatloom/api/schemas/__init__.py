"""Wire DTOs (Vapi and OpenAI shapes). Nothing outside `api/` sees these classes."""
