"""Records outside a turn: document CRUD (assistants, tools), chats, sessions and their leases."""
