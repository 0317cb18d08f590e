"""HTTP surface: FastAPI routes, Vapi/OpenAI DTOs, error bodies and SSE framing."""
