"""A turn that names no assistant is answered by a model directly (OpenAI Responses clients that send only
`model` and `instructions`): the model becomes an inline assistant with nothing but that model, stored
with the chat like any inline assistant, so the chat is billed, limited, listed and continued as any other.

`model` is `provider/model` (`openai/gpt-4o-mini`, `anthropic/claude-sonnet-4-5`), or a bare model name
that the price table knows for exactly one provider this server serves, tried in `BARE_NAME_ORDER`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from chatloom.domain.errors import InvalidRequest

BARE_NAME_ORDER = ("openai", "anthropic", "google")
"""Where a bare model name is looked up first (the providers whose model names do not overlap)."""


def direct_assistant(
    name: str, providers: Sequence[str], knows: Callable[[str, str], bool]
) -> dict[str, Any]:
    """The inline assistant answering with the model `name` names; a 400 naming `model` when this
    server cannot tell which provider serves it."""
    provider, slash, model = name.partition("/")
    if slash and provider in providers and model:
        return {"model": {"provider": provider, "model": model}}
    ordered = [p for p in BARE_NAME_ORDER if p in providers] + [
        p for p in providers if p not in BARE_NAME_ORDER
    ]
    for candidate in ordered:
        if knows(candidate, name):
            return {"model": {"provider": candidate, "model": name}}
    raise InvalidRequest(
        f"model: '{name}' is not a model this server knows; name it as provider/model "
        f"(providers: {', '.join(providers)}) or pass assistantId",
        field="model",
    )
