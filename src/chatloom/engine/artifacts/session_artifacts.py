"""A session's artifact: the structured outputs of its assistant, extracted once the session completes.

`SessionArtifacts.extract` is the background job that runs after a session completed (PATCH, expiry, or
web chat's `sessionEnd`): it reads the session and who answered last (a squad's active assistant), gates
each output on its conditions, extracts the rest with no database connection held, then writes
`artifact.structuredOutputs` / `skippedStructuredOutputs` and the extraction's cost lines in one short
transaction, charges the org's usage and sends `session.updated` with the completed session. `preview`
runs one output over a session or a chat and returns the result without saving anything.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from chatloom.domain.errors import NotFound
from chatloom.domain.ids import iso, utc_now
from chatloom.domain.messages import Message, text_of
from chatloom.domain.usage import ModelCall
from chatloom.engine.artifacts.definitions import OutputDefinition, definition, linked, planned_outputs
from chatloom.engine.artifacts.extraction import Conversation, Extracted, Extractor
from chatloom.engine.assistants.prompts import render_system_messages
from chatloom.engine.calls.costs import add_costs, cost_entry
from chatloom.engine.notify.server_messages import ServerMessages
from chatloom.engine.squads.members import find_agent, load_squad
from chatloom.store import assistants, chats, sessions, structured_outputs
from chatloom.store.db import Database
from chatloom.store.documents import Document, ListQuery

log = logging.getLogger("chatloom.artifacts")

MAX_OUTPUTS = 1000
"""Saved outputs an org may have (each one linked to assistants is looked at for every session)."""


class UsageCharge(Protocol):
    async def charge(self, org_id: str, key_id: str | None, calls: Sequence[ModelCall]) -> None: ...


class ArtifactObserver(Protocol):
    def structured_outputs(self, outcome: str, count: int = 1) -> None: ...

    def background_calls(self, kind: str, org_id: str, calls: Sequence[ModelCall]) -> None: ...


@dataclass(slots=True)
class ArtifactRun:
    """The results of a run: by output id, `{"name", "result"}` and `{"name", "unmetCondition"}`."""

    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[ModelCall] = field(default_factory=list)


class SessionArtifacts:
    def __init__(
        self,
        db: Database,
        extractor: Extractor,
        server_messages: ServerMessages,
        usage: UsageCharge | None = None,
        observer: ArtifactObserver | None = None,
    ) -> None:
        self.db = db
        self.extractor = extractor
        self.server_messages = server_messages
        self.usage = usage
        self.observer = observer

    # --- reading a conversation -----------------------------------------------------------------------

    async def _answering(self, org_id: str, document: Document) -> tuple[dict[str, Any], str | None, Any]:
        """The assistant that answered last (a squad's active member), its id, and the overrides."""
        overrides = document.get("assistantOverrides")
        active = document.get("activeAssistant")
        async with self.db.read() as conn:
            if document.get("squadId") is not None or isinstance(document.get("squad"), dict):
                squad = await load_squad(conn, org_id, document.get("squadId"), document.get("squad"))
                agent = await find_agent(conn, org_id, squad, active) if isinstance(active, dict) else None
                agent = agent or squad.members[0]
                return agent.assistant, agent.assistant_id, agent.overrides or overrides
            assistant_id = document.get("assistantId")
            if isinstance(active, dict):
                agent = await find_agent(conn, org_id, None, active)
                if agent is not None:
                    return agent.assistant, agent.assistant_id, overrides
            if assistant_id is not None:
                stored = await assistants.get(conn, org_id, str(assistant_id))
                if stored is None:
                    raise NotFound(f"Assistant {assistant_id} not found")
                return stored, str(assistant_id), overrides
        inline = document.get("assistant")
        if not isinstance(inline, dict):
            raise NotFound("the conversation has no assistant")
        return inline, None, overrides

    async def _outputs(
        self, org_id: str, assistant: Mapping[str, Any], assistant_id: str | None
    ) -> list[OutputDefinition]:
        ids, inline = planned_outputs(assistant)
        async with self.db.read() as conn:
            if assistant_id is not None:
                everyone = await structured_outputs.list_(conn, org_id, ListQuery(limit=MAX_OUTPUTS))
                ids.extend(linked(everyone.items, assistant_id))
            saved = await structured_outputs.get_many(conn, org_id, ids)
        found = {item.id: item for item in (*map(definition, saved), *inline)}
        return list(found.values())

    @staticmethod
    def _system_prompt(prompt: Sequence[Message], messages: Sequence[Message]) -> str:
        texts = [text_of(m.get("content")) for m in (*prompt, *messages) if m.get("role") == "system"]
        return "\n\n".join(text for text in texts if text)

    async def _run(self, outputs: Sequence[OutputDefinition], conversation: Conversation) -> ArtifactRun:
        run = ArtifactRun()
        for output in outputs:
            if output.min_messages is not None and conversation.message_count < output.min_messages:
                run.skipped[output.id] = {
                    "name": output.name,
                    "unmetCondition": output.min_messages_condition,
                }
                continue
            extracted: Extracted = await self.extractor.extract(output, conversation)
            run.calls.extend(extracted.calls)
            run.results[output.id] = {"name": output.name, "result": extracted.result}
            if extracted.reason is not None:
                log.warning(
                    "structured output %s (%s) of org %s gave no result: %s",
                    output.id,
                    output.name,
                    conversation.org_id,
                    extracted.reason,
                )
        if self.observer is not None:
            failed = sum(1 for result in run.results.values() if result["result"] is None)
            self.observer.structured_outputs("extracted", len(run.results) - failed)
            self.observer.structured_outputs("failed", failed)
            self.observer.structured_outputs("skipped", len(run.skipped))
        return run

    async def _bill(self, org_id: str, calls: Sequence[ModelCall]) -> None:
        if not calls:
            return
        if self.observer is not None:
            self.observer.background_calls("structured_output", org_id, calls)
        if self.usage is not None:
            await self.usage.charge(org_id, None, calls)

    async def _conversation(
        self, org_id: str, document: Document, messages: list[Message], prompt: list[Message] | None
    ) -> tuple[Conversation, str | None]:
        """A session's or chat's conversation and the id of its (last) assistant, if stored. `prompt`: the
        session's system prompt as rendered at its creation (a chat's is rendered from its assistant)."""
        assistant, assistant_id, overrides = await self._answering(org_id, document)
        overrides = overrides if isinstance(overrides, dict) else None
        started = datetime.fromisoformat(document["createdAt"])
        if prompt is None:
            model = assistant.get("model")
            prompt = await render_system_messages(
                model if isinstance(model, dict) else {}, overrides, started
            )
        conversation = Conversation(
            org_id,
            messages,
            self._system_prompt(prompt, messages),
            assistant,
            overrides,
            started_at=started,
            ended_at=datetime.fromisoformat(document["updatedAt"]),
        )
        return conversation, assistant_id

    async def _session_conversation(self, org_id: str, session_id: str) -> tuple[Conversation, str | None]:
        """The session's conversation, and the id of its (last) assistant, if stored."""
        async with self.db.read() as conn:
            found = await sessions.get_with_prompt(conn, self.db.messages, org_id, session_id, utc_now())
        if found is None:
            raise NotFound(f"Session {session_id} not found")
        document, prompt = found
        return await self._conversation(org_id, document, list(document.get("messages") or []), prompt)

    # --- the job and the previews ---------------------------------------------------------------------

    async def extract(self, org_id: str, session_id: str, only: OutputDefinition | None = None) -> bool:
        """Extracts the session's outputs (or just `only`) and saves them; False when the session is gone."""
        try:
            conversation, assistant_id = await self._session_conversation(org_id, session_id)
            if only is not None:
                outputs = [only]
            else:
                outputs = await self._outputs(org_id, conversation.assistant, assistant_id)
        except NotFound:
            return False
        if not outputs:
            return True
        run = await self._run(outputs, conversation)
        saved = await self._save(org_id, session_id, run, replace_all=only is None)
        await self._bill(org_id, run.calls)
        if saved is not None:
            await self.server_messages.about("session.updated", org_id, saved, {"session": saved})
        return saved is not None

    async def _save(
        self, org_id: str, session_id: str, run: ArtifactRun, replace_all: bool
    ) -> Document | None:
        now = utc_now()
        costs = [cost_entry(call) for call in run.calls]

        def revise(body: Document) -> None:
            artifact = dict(body.get("artifact") or {})
            outputs = {} if replace_all else dict(artifact.get("structuredOutputs") or {})
            skipped = {} if replace_all else dict(artifact.get("skippedStructuredOutputs") or {})
            outputs.update(run.results)
            for output_id in run.results:
                skipped.pop(output_id, None)
            skipped.update(run.skipped)
            for output_id in run.skipped:
                outputs.pop(output_id, None)
            artifact["structuredOutputs"] = outputs
            if skipped:
                artifact["skippedStructuredOutputs"] = skipped
            else:
                artifact.pop("skippedStructuredOutputs", None)
            artifact["structuredOutputsLastUpdatedAt"] = iso(now)
            body["artifact"] = artifact
            if costs:
                body["costs"] = add_costs(body.get("costs", []), costs)
                body["cost"] = body.get("cost", 0.0) + sum(entry["cost"] for entry in costs)

        async with self.db.write() as conn:
            return await sessions.revise(conn, self.db.messages, org_id, session_id, revise, now)

    async def preview_session(self, org_id: str, session_id: str, output: OutputDefinition) -> ArtifactRun:
        conversation, _ = await self._session_conversation(org_id, session_id)
        run = await self._run([output], conversation)
        await self._bill(org_id, run.calls)
        return run

    async def preview_chat(self, org_id: str, chat_id: str, output: OutputDefinition) -> ArtifactRun:
        async with self.db.read() as conn:
            document = await chats.get(conn, self.db.messages, org_id, chat_id)
        if document is None:
            raise NotFound(f"Chat {chat_id} not found")
        messages = [*(document.get("messages") or []), *(document.get("output") or [])]
        conversation, _ = await self._conversation(org_id, document, messages, None)
        run = await self._run([output], conversation)
        await self._bill(org_id, run.calls)
        return run
