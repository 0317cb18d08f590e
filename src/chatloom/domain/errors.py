"""Domain errors. Each names what went wrong; `api/errors.py` alone maps them to HTTP statuses."""

from __future__ import annotations


class ChatloomError(Exception):
    """Base of every error the API turns into a response body."""

    def __init__(self, message: str | list[str]) -> None:
        super().__init__(message if isinstance(message, str) else "; ".join(message))
        self.message = message

    @property
    def message_text(self) -> str:
        return str(self)

    def redact(self, secrets: tuple[str, ...]) -> None:
        """Masks each of `secrets` wherever the message quotes it (an upstream that echoes the key it was
        sent), before the message reaches a caller, a log or storage."""
        if not secrets:
            return
        texts = [self.message] if isinstance(self.message, str) else list(self.message)
        masked = []
        for text in texts:
            for secret in secrets:
                text = text.replace(secret, REDACTED)
            masked.append(text)
        self.message = masked[0] if isinstance(self.message, str) else masked
        self.args = (self.message if isinstance(self.message, str) else "; ".join(self.message),)


REDACTED = "[redacted]"


class InvalidRequest(ChatloomError):
    """The request is malformed or inconsistent (HTTP 400). `field` names the offending field."""

    def __init__(self, message: str | list[str], field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class TooLarge(ChatloomError):
    """Content over one of this server's size limits, or past the org's storage quota (HTTP 413).
    `field` names what is too large."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(ChatloomError):
    """The record does not exist, or belongs to another org (HTTP 404)."""


class PreviousChatNotFound(NotFound):
    """The chat a turn continues (`previousChatId`, `previous_response_id`) does not exist, belongs to
    another org, or was never stored (`store: false`)."""


class Unauthorized(ChatloomError):
    """Missing or invalid API key (HTTP 401)."""


class Forbidden(ChatloomError):
    """A valid key that may not do this: a public key's origin or assistant restriction (HTTP 403)."""


class RateLimited(ChatloomError):
    """Too many requests for one limit (HTTP 429); `retry_after_seconds` says when to try again."""

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class LimitsUnavailable(ChatloomError):
    """The counter of usage and rate limits (Redis) is unreachable: limited requests get HTTP 503."""


class SessionClosed(InvalidRequest):
    """The session is completed or expired and takes no more chats (HTTP 400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="sessionId")


class ProviderNotConfigured(InvalidRequest):
    """The assistant's provider has no API key configured on this server (HTTP 400)."""

    def __init__(self, provider: str, env_var: str) -> None:
        super().__init__(
            f"Provider '{provider}' is not configured: add a credential for it with POST /credential, "
            f"or set the {env_var} environment variable on the server.",
            field="model.provider",
        )
        self.env_var = env_var


class UpstreamError(ChatloomError):
    """The LLM provider answered with an error or broke the connection (HTTP 502)."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class UpstreamTimeout(ChatloomError):
    """The LLM provider did not answer in time (HTTP 504)."""


class OutboundUrlRefused(InvalidRequest):
    """A user-supplied URL points where this server may not send requests (metadata, link-local, ...)."""


class SessionBusy(ChatloomError):
    """A session stayed busy with other turns for longer than a turn may wait (HTTP 409)."""


class ContextWindowExceeded(InvalidRequest):
    """A turn does not fit the model's context window, by chatloom's count or the provider's (HTTP 400)."""

    def __init__(self, message: str, upstream: bool = False) -> None:
        super().__init__(message, field=None if upstream else "messages")
        self.upstream = upstream
        """True when the provider refused the request, rather than chatloom's own count."""
