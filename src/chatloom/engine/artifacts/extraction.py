"""Extracting one structured output from a finished conversation.

A regex output runs RE2 over the transcript. An `ai` output asks a model: the output's own `model`, else the
assistant's provider and model, with the org's credentials. The provider's native structured-output mode
is used (OpenAI `json_schema`, Anthropic `output_config.format`, Gemini `responseJsonSchema`, through
`ModelRequest.options`); a schema whose top level is not an object is wrapped as `{"result": ...}`, which
every provider's mode accepts. The answer is validated with `jsonschema`; an invalid one is retried once
with the validation error, then the result is null and the reason is returned for the log and metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from jsonschema import Draft202012Validator

from chatloom.domain.errors import ChatloomError
from chatloom.domain.messages import Message, text_of
from chatloom.domain.model_options import JsonSchemaFormat, ModelOptions
from chatloom.domain.usage import ModelCall
from chatloom.engine.access.credentials import Credentials
from chatloom.engine.artifacts.definitions import OutputDefinition
from chatloom.engine.artifacts.patterns import PatternError, run_pattern
from chatloom.engine.assistants.views import ModelView
from chatloom.engine.calls.models import ModelCaller
from chatloom.engine.calls.pricing import PriceBook
from chatloom.outbound.guard import OutboundPolicy
from chatloom.providers.base import ChatProvider, ModelRequest
from chatloom.providers.registry import ProviderRegistry
from chatloom.templates.liquid import render_prompt_async

log = logging.getLogger("chatloom.artifacts")

MAX_TRANSCRIPT_CHARS = 400_000
"""The conversation an extraction prompt shows, at most (its most recent part when longer)."""
MAX_REASON_CHARS = 300
WRAPPED = "result"

DEFAULT_SYSTEM = (
    "You extract structured data from a conversation between a user and an assistant.\n"
    "Extract: {name}{description}\n"
    "Answer with JSON that matches this JSON Schema, and nothing else:\n{schema}\n"
    "Where the conversation does not say, use null if the schema allows it."
)


@dataclass(frozen=True, slots=True)
class Conversation:
    """What an extraction sees: the messages (tool calls and results included), the system prompt, and
    the assistant that had it (whose model and credentials extract by default)."""

    org_id: str
    messages: Sequence[Message]
    system_prompt: str
    assistant: Mapping[str, Any]
    overrides: Mapping[str, Any] | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def message_count(self) -> int:
        """Messages of the conversation proper: the user's and the assistant's (what `minMessages` counts)."""
        return sum(1 for message in self.messages if message.get("role") in ("user", "assistant"))

    def transcript(self) -> str:
        lines = []
        for message in self.messages:
            role = message.get("role")
            text = text_of(message.get("content")) if role in ("user", "assistant") else ""
            if text:
                lines.append(f"{'User' if role == 'user' else 'AI'}: {text}")
        return "\n".join(lines)[-MAX_TRANSCRIPT_CHARS:]

    def messages_json(self) -> str:
        shown = [message for message in self.messages if message.get("role") != "system"]
        return orjson.dumps(shown).decode()[-MAX_TRANSCRIPT_CHARS:]


@dataclass(slots=True)
class Extracted:
    """One output's result (None: extraction failed, `reason` says why) and the model calls it billed."""

    result: Any
    calls: list[ModelCall] = field(default_factory=list)
    reason: str | None = None


def _wrapped(schema: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    if schema.get("type") == "object":
        return dict(schema), False
    return {
        "type": "object",
        "properties": {WRAPPED: dict(schema)},
        "required": [WRAPPED],
        "additionalProperties": False,
    }, True


def _problem(validator: Draft202012Validator, text: str) -> tuple[Any, str | None]:
    """The answer's JSON value, and what is wrong with it (None: valid)."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None, f"the answer is not JSON: {text[:80]!r}"
    error = next(iter(validator.iter_errors(value)), None)
    if error is None:
        return value, None
    where = "/".join(str(part) for part in error.absolute_path) or "(the whole answer)"
    return value, f"the answer does not match the schema at {where}: {error.message[:MAX_REASON_CHARS]}"


class Extractor:
    def __init__(
        self,
        providers: ProviderRegistry,
        credentials: Credentials,
        models: ModelCaller,
        prices: PriceBook,
        outbound: OutboundPolicy,
        timeout_seconds: float,
        max_answer_bytes: int,
    ) -> None:
        self.providers = providers
        self.credentials = credentials
        self.models = models
        self.prices = prices
        self.outbound = outbound
        self.timeout_seconds = timeout_seconds
        self.max_answer_bytes = max_answer_bytes

    async def extract(self, output: OutputDefinition, conversation: Conversation) -> Extracted:
        if output.kind == "regex":
            try:
                return Extracted(
                    run_pattern(output.regex or "", dict(output.schema), conversation.transcript())
                )
            except PatternError as error:
                return Extracted(None, reason=str(error))
        try:
            return await self._ask_model(output, conversation)
        except ChatloomError as error:
            return Extracted(None, reason=str(error)[:MAX_REASON_CHARS])

    async def _prompt(self, output: OutputDefinition, conversation: Conversation) -> list[Message]:
        schema_text = orjson.dumps(dict(output.schema)).decode()
        custom = output.model.messages if output.model is not None else ()
        if not custom:
            description = f" ({output.description})" if output.description else ""
            system = DEFAULT_SYSTEM.format(name=output.name, description=description, schema=schema_text)
            if conversation.system_prompt:
                system += f"\n\nThe assistant's instructions were:\n{conversation.system_prompt}"
            user = f"The conversation, as JSON messages:\n{conversation.messages_json()}"
            return [{"role": "system", "content": system}, {"role": "user", "content": user}]
        described = output.described()
        described["schema"] = schema_text
        variables = {
            "transcript": conversation.transcript(),
            "messages": conversation.messages_json(),
            "structuredOutput": described,
            "systemPrompt": conversation.system_prompt,
            "startedAt": conversation.started_at.isoformat() if conversation.started_at else "",
            "endedAt": conversation.ended_at.isoformat() if conversation.ended_at else "",
            **dict((conversation.overrides or {}).get("variableValues") or {}),
        }
        prompt: list[Message] = []
        for index, message in enumerate(custom):
            content = str(message.get("content") or "")
            text = await render_prompt_async(content, variables, f"model.messages[{index}].content")
            prompt.append({"role": str(message.get("role") or "user"), "content": text})
        return prompt

    async def _request(
        self, output: OutputDefinition, conversation: Conversation, schema: dict[str, Any]
    ) -> tuple[ModelRequest, ChatProvider]:
        assistant_model = ModelView.of(conversation.assistant)
        chosen = output.model
        provider = chosen.provider if chosen is not None else assistant_model.provider
        name = chosen.model if chosen is not None else assistant_model.name
        same = chosen is None or provider == assistant_model.provider
        credentials = await self.credentials.for_turn(
            conversation.org_id, conversation.assistant, conversation.overrides
        )
        endpoint = self.providers.endpoint(
            provider,
            url=assistant_model.url if same else None,
            headers=assistant_model.headers if same else None,
            api_key=credentials.api_key(provider),
        )
        if endpoint.user_supplied:
            self.outbound.check_url(endpoint.base_url, "model.url")
        request = ModelRequest(
            provider=provider,
            model=name,
            messages=[],
            base_url=endpoint.base_url,
            api_key=endpoint.api_key,
            headers=dict(endpoint.headers),
            temperature=chosen.temperature if chosen is not None and chosen.temperature is not None else 0,
            max_tokens=chosen.max_tokens if chosen is not None else None,
            timeout_seconds=float(assistant_model.timeout_seconds or self.timeout_seconds),
            max_answer_bytes=self.max_answer_bytes,
            options=ModelOptions(
                output_format=JsonSchemaFormat(name="structured_output", schema=schema, strict=False)
            ),
        )
        return request, endpoint.adapter

    async def _ask_model(self, output: OutputDefinition, conversation: Conversation) -> Extracted:
        schema, wrapped = _wrapped(output.schema)
        request, adapter = await self._request(output, conversation, schema)
        validator = Draft202012Validator(schema)
        messages = await self._prompt(output, conversation)
        extracted = Extracted(None)
        for attempt in range(2):
            request.messages = messages
            reply = await self.models.complete(adapter, request, [])
            cost = self.prices.cost(request.provider, reply.model or request.model, reply.usage)
            extracted.calls.append(
                ModelCall(request.provider, reply.model or request.model, reply.usage, cost)
            )
            text = text_of(reply.message.get("content"))
            value, problem = _problem(validator, text)
            if problem is None:
                extracted.result = value[WRAPPED] if wrapped else value
                extracted.reason = None
                return extracted
            extracted.reason = problem
            if attempt == 0:
                log.info("structured output %s: retrying after an invalid answer", output.id)
                messages = [
                    *messages,
                    {"role": "assistant", "content": text},
                    {
                        "role": "user",
                        "content": f"That answer is not valid: {problem}. Answer again, JSON only.",
                    },
                ]
        return extracted
