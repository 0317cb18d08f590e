"""Rate limits as route dependencies: `rate_limited(caller, limit_of, subject_of)` authenticates with
`caller`, then counts the request against the limit the services hold, for the subject the request
names (e.g. a public key and a client address). A None limit or subject counts nothing.
"""

# No `from __future__ import annotations`: FastAPI reads the inner dependency's annotations at run
# time, and they name the `caller` of the enclosing call.
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from chatloom.api.deps import Services, services_of, web_caller
from chatloom.engine.access.keys import KeyAccess
from chatloom.engine.access.rate_limits import Limit

Caller = Callable[..., Awaitable[KeyAccess]]
"""A dependency that authenticates the request and says what its key may do."""


def rate_limited(
    caller: Caller,
    limit_of: Callable[[Services], Limit | None],
    subject_of: Callable[[Request, KeyAccess], str | None],
) -> Caller:
    async def limited_caller(request: Request, access: Annotated[KeyAccess, Depends(caller)]) -> KeyAccess:
        services = services_of(request)
        limit = limit_of(services)
        subject = subject_of(request, access) if limit is not None else None
        if limit is not None and subject is not None:
            await services.limiter.hit(limit, subject)
        return access

    return limited_caller


def public_key_and_address(request: Request, access: KeyAccess) -> str | None:
    """Public keys are limited per key and client address; private keys are the owner's own."""
    if not access.public:
        return None
    address = request.client.host if request.client is not None else "unknown"
    return f"{access.key_id}:{address}"


web_turn_caller = rate_limited(web_caller, lambda services: services.web_turn_limit, public_key_and_address)
"""Counts a web chat turn of an authenticated caller (`web_caller`) against the web turn limit."""

WebCaller = Annotated[KeyAccess, Depends(web_turn_caller)]
"""A web chat caller: a private key, or a public key from an allowed origin and within its turn limit."""
