"""Requests to user-supplied URLs (tool servers, apiRequest tools, webhooks, custom LLMs): the URL guard
and a guarded HTTP client with backoff. Used by the tools, webhooks and providers layers alike."""
