"""A web chat body as the engine's `WebTurnRequest`, with what a public key may ask for: only its allowed
assistants, overrides of `variableValues` only, user and assistant text up to `web_max_input_chars`, and a
returning customer's session only when `customer.identityHash` vouches for it."""

from __future__ import annotations

from typing import Any

import orjson

from chatloom.api.deps import Services, web_refusal
from chatloom.api.schemas.web_chat import WebChatFields
from chatloom.domain.errors import InvalidRequest
from chatloom.domain.messages import Message, text_of
from chatloom.engine.access.keys import KeyAccess
from chatloom.engine.turn.web import WebTurnRequest

PUBLIC_ROLES = ("user", "assistant")


def check_assistant(caller: KeyAccess, assistant_id: str) -> None:
    if caller.public and caller.assistant_ids is not None and assistant_id not in caller.assistant_ids:
        raise web_refusal(f"Assistant {assistant_id[:100]} is not allowed for this public key", caller)


def variable_values(overrides: dict[str, Any] | None, where: str) -> dict[str, Any] | None:
    """`assistantOverrides.variableValues`; any other override is refused (web chat runs the assistant
    as its owner configured it)."""
    if overrides is None:
        return None
    for name in overrides:
        if name != "variableValues":
            raise InvalidRequest(
                f"{where}.{name}: web chat can override only variableValues", field=f"{where}.{name}"
            )
    values = overrides.get("variableValues")
    if values is not None and not isinstance(values, dict):
        raise InvalidRequest(f"{where}.variableValues: must be an object", field=f"{where}.variableValues")
    return values


def customer_vouched(
    services: Services, caller: KeyAccess, customer: dict[str, Any] | None, signature: str | None
) -> bool:
    """Whether the customer may be used to find its sessions: always for a private key (the site's own
    server, which vouches by itself: an `identityHash` from it is a 400), for a public key only with a
    valid `identityHash` (else 403). Without one nothing is opened or read."""
    if not caller.public:
        if signature is not None:
            raise InvalidRequest(
                "customer.identityHash: only a public key's request is signed; a private key vouches for "
                "its customer by itself (leave the field out)",
                field="customer.identityHash",
            )
        return True
    if signature is None or customer is None:
        return False
    if not services.keys.identity_vouched(caller, customer, signature, services.credentials.box):
        raise web_refusal(
            "customer.identityHash does not match the customer: sign the customer's identifying field "
            "with this public key's identity secret",
            caller,
        )
    return True


def check_public_input(messages: list[Message], variables: dict[str, Any] | None, limit: int) -> None:
    """What a public key may send: user and assistant text only (a page must not write the assistant's
    instructions or tool results), at most `limit` characters in all, variables included."""
    for index, message in enumerate(messages):
        if message["role"] not in PUBLIC_ROLES or "tool_calls" in message:
            raise InvalidRequest(
                f"input[{index}].role: web chat with a public key takes only user and assistant text",
                field=f"input[{index}].role",
            )
    size = sum(len(text_of(message.get("content"))) for message in messages)
    if size > limit:
        raise InvalidRequest(
            f"input: at most {limit} characters per web chat turn ({size} sent)", field="input"
        )
    if variables and len(orjson.dumps(variables)) > limit:
        raise InvalidRequest(
            f"assistantOverrides.variableValues: at most {limit} characters of JSON",
            field="assistantOverrides.variableValues",
        )


def web_turn_request(
    services: Services,
    caller: KeyAccess,
    body: WebChatFields,
    messages: list[Message],
    raw_input: Any,
    stream: bool = False,
) -> WebTurnRequest:
    """The engine's view of a `/chat/web` or `/chat/web/responses` body, once the caller may send it."""
    check_assistant(caller, body.assistant_id)
    values = variable_values(body.assistant_overrides, "assistantOverrides")
    customer = body.customer.model_dump(by_alias=True, exclude_none=True) if body.customer else None
    signature = None
    if customer is not None:
        signature = customer.pop("identityHash", None)  # never stored, never echoed
        extra = variable_values(customer.pop("assistantOverrides", None), "customer.assistantOverrides")
        values = {**(extra or {}), **(values or {})} or None
    if caller.public:
        check_public_input(messages, values, services.web_max_input_chars)
    vouched = customer_vouched(services, caller, customer, signature)
    expiration = body.session_expiration_seconds
    return WebTurnRequest(
        org_id=caller.org_id,
        key_id=caller.key_id,
        assistant_id=body.assistant_id,
        input=messages,
        raw_input=raw_input,
        session_id=body.session_id,
        customer=customer,
        customer_vouched=vouched,
        variable_values=values,
        expiration_seconds=int(expiration) if expiration is not None else None,
        stream=stream,
    )
