"""Persistence: SQLAlchemy Core tables and org-scoped repositories over SQLite or PostgreSQL."""
