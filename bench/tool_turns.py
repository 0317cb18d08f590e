"""`python -m bench.tool_turns`: the server's CPU for a tool call answered by the caller (a function tool
defined in the request, OpenAI-style) against one answered by the assistant's own tool server.

Both go through `POST /chat/responses`, non-streamed, with the same assistant prompt, input and tool:
- **assistant tool**: one request; the model calls the assistant's `get_weather`, chatloom calls the tool
  server (a loopback HTTP server in this process) and asks the model again: two model calls, one tool call.
- **caller tool**: the request defines `get_weather` in `tools`; the model calls it and the turn ends with a
  `function_call` item; a second request sends the `function_call_output` with `previous_response_id`, and
  the model answers: two model calls, two requests (two stored turns).

- **knowledge base**: one request; the model calls the `knowledgeBase` tool of a `/v2/knowledge-base` holding
  the ten documents of `tests/fixtures/kb/` (indexed before the run, full text only: the server runs with
  `CHATLOOM_KB_EMBEDDINGS=false`), chatloom searches it and asks the model again: two model calls, one
  search. Compare it with the assistant tool: the same turn with a function-tool round.

Each round trip ends with the answer "Tool said: ..." (the weather, or the passages). One server per
backend; the load alternates between the kinds in slices on that server, so machine drift falls on all
alike. Reported: server CPU per round trip (and, for the caller tool, per request).

    .venv/bin/python -m bench.tool_turns --backends sqlite,postgresql --slices 10
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.compare import Turn, database, load
from bench.load import JSON_HEADERS, RequestFailed, post_json
from bench.processes import (
    BenchSetupError,
    create_key,
    migrate,
    server_environment,
    start_fake_llm,
    start_server,
)
from bench.scenarios import CUSTOMER_NAME, MODEL, SYSTEM_PROMPT
from chatloom.testing.http_recorder import HttpRecorder, RecordedCall, Scripted

QUESTION = "What is the weather in Oslo today? call:get_weather"
KB_QUESTION = "How long is the password reset link valid? call:search_shop"
KB_FILES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "kb"
WEATHER = "7C, rain"
ANSWER = f"Tool said: {WEATHER}"
PARAMETERS = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}


def weather(call: RecordedCall) -> Scripted:
    """The tool server: Vapi's tool-call request in, `{"results": [...]}` out."""
    calls = call.json["message"]["toolCallList"]
    return Scripted(json={"results": [{"toolCallId": c["id"], "result": WEATHER} for c in calls]})


def assistant(tool_url: str | None) -> dict[str, Any]:
    model: dict[str, Any] = {
        "provider": "openai",
        "model": MODEL,
        "messages": [{"role": "system", "content": SYSTEM_PROMPT}],
    }
    if tool_url is not None:
        model["tools"] = [
            {
                "type": "function",
                "function": {"name": "get_weather", "description": "The weather.", "parameters": PARAMETERS},
                "server": {"url": tool_url},
            }
        ]
    return {"name": "Bench tools", "model": model}


async def knowledge_base_assistant(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> str:
    """An assistant whose model has the tool of a knowledge base of the fixture documents, once indexed."""
    auth = {"Authorization": headers["Authorization"]}
    base = await post_json(http, f"{url}/v2/knowledge-base", orjson.dumps({"name": "shop"}), headers, 201)
    for path in sorted(KB_FILES.iterdir()):
        if path.suffix not in (".md", ".txt"):
            continue
        form = aiohttp.FormData()
        form.add_field("file", path.read_bytes(), filename=path.name, content_type="text/markdown")
        async with http.post(f"{url}/file", data=form, headers=auth) as response:
            if response.status != 201:
                raise BenchSetupError(f"upload of {path.name} answered {response.status}")
            file_id = (await response.json())["id"]
        body = orjson.dumps({"fileId": file_id})
        await post_json(http, f"{url}/v2/knowledge-base/{base['id']}/file", body, headers, 201)
    ends = time.monotonic() + 60
    while True:
        async with http.get(f"{url}/v2/knowledge-base/{base['id']}", headers=auth) as response:
            files = (await response.json())["files"]
        if all(file["status"] == "ready" for file in files):
            break
        if time.monotonic() > ends:
            raise BenchSetupError(f"the knowledge base was not indexed in 60 s: {files}")
        await asyncio.sleep(0.1)
    model = {**assistant(None)["model"], "toolIds": [base["toolId"]]}
    created = await post_json(http, f"{url}/assistant", orjson.dumps({"model": model}), headers, 201)
    return str(created["id"])


def output_text(response: Any) -> str:
    for item in response.get("output", ()):
        if item.get("type") == "message":
            return "".join(part.get("text", "") for part in item["content"])
    return ""


class ToolTurns:
    """The two round trips, as `load` turns."""

    def __init__(self, url: str, key: str, with_tool: str, without_tool: str, with_base: str) -> None:
        self.url = f"{url}/chat/responses"
        self.headers = {"Authorization": f"Bearer {key}", **JSON_HEADERS}
        common = {"model": MODEL, "stream": False}
        variables = {"assistantOverrides": {"variableValues": {"name": CUSTOMER_NAME}}}
        self._assistant_turn = orjson.dumps(
            {**common, **variables, "assistantId": with_tool, "input": QUESTION}
        )
        self._knowledge_turn = orjson.dumps(
            {**common, **variables, "assistantId": with_base, "input": KB_QUESTION}
        )
        self._tools = [{"type": "function", "name": "get_weather", "parameters": PARAMETERS}]
        self._caller_turn = orjson.dumps(
            {**common, **variables, "assistantId": without_tool, "input": QUESTION, "tools": self._tools}
        )

    async def assistant_tool(self, http: aiohttp.ClientSession, worker: int) -> None:
        response = await post_json(http, self.url, self._assistant_turn, self.headers)
        if output_text(response) != ANSWER:
            raise RequestFailed(f"assistant tool turn answered {str(response)[:300]}")

    async def knowledge_base(self, http: aiohttp.ClientSession, worker: int) -> None:
        response = await post_json(http, self.url, self._knowledge_turn, self.headers)
        if not output_text(response).startswith("Tool said: [1] faq.md"):
            raise RequestFailed(f"knowledge base turn answered {str(response)[:300]}")

    async def caller_tool(self, http: aiohttp.ClientSession, worker: int) -> None:
        called = await post_json(http, self.url, self._caller_turn, self.headers)
        calls = [item for item in called.get("output", ()) if item.get("type") == "function_call"]
        if len(calls) != 1:
            raise RequestFailed(f"caller tool turn did not call the tool: {str(called)[:300]}")
        result = {"type": "function_call_output", "call_id": calls[0]["call_id"], "output": WEATHER}
        body = {
            "model": MODEL,
            "stream": False,
            "previous_response_id": called["id"],
            "input": [result],
            "tools": self._tools,
        }
        answered = await post_json(http, self.url, orjson.dumps(body), self.headers)
        if output_text(answered) != ANSWER:
            raise RequestFailed(f"caller tool result answered {str(answered)[:300]}")


async def measure(
    url: str, key: str, tool_url: str, server: Any, args: argparse.Namespace
) -> dict[str, tuple[float, int]]:
    """CPU seconds and round trips per kind, over all slices."""
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {key}", **JSON_HEADERS}
        created = [
            await post_json(http, f"{url}/assistant", orjson.dumps(assistant(tool)), headers, 201)
            for tool in (tool_url, None)
        ]
        with_base = await knowledge_base_assistant(http, url, headers)
        turns = ToolTurns(url, key, created[0]["id"], created[1]["id"], with_base)
        kinds: dict[str, Turn] = {
            "assistant tool": turns.assistant_tool,
            "knowledge base": turns.knowledge_base,
            "caller tool": turns.caller_tool,
        }
        totals = dict.fromkeys(kinds, (0.0, 0))
        for turn in kinds.values():
            await load(http, turn, 2.0, args.concurrency)  # warm-up
        for index in range(args.slices):
            names = list(kinds) if index % 2 == 0 else list(reversed(kinds))  # drift falls on all alike
            for name in names:
                before = server.cpu_seconds()
                count = await load(http, kinds[name], args.seconds, args.concurrency)
                cpu, done = totals[name]
                totals[name] = (cpu + server.cpu_seconds() - before, done + count)
        return totals


def run(backend: str, args: argparse.Namespace) -> list[str]:
    workdir = Path(tempfile.mkdtemp(prefix="chatloom-tools-"))
    with ExitStack() as stack:
        llm, llm_base_url = start_fake_llm(workdir)
        stack.callback(llm.stop)
        tools = HttpRecorder().start()
        stack.callback(tools.stop)
        tools.on("/tools", weather)
        url = stack.enter_context(database(backend, workdir, 0))
        env = server_environment(url, llm_base_url)
        env["CHATLOOM_KB_EMBEDDINGS"] = "false"  # knowledge-base rounds by full text only
        migrate(env)
        key = create_key(env)
        server, server_url = start_server(env, workdir, "server")
        stack.callback(server.stop)
        totals = asyncio.run(measure(server_url, key, f"{tools.url}/tools", server, args))
    rows = []
    for name, (cpu, count) in totals.items():
        per_trip = 1000 * cpu / max(count, 1)
        per_request = f"{per_trip / 2:.2f}" if name == "caller tool" else "—"
        rows.append(f"| {backend} | {name} | {per_trip:.2f} | {per_request} | {count} |")
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.tool_turns", description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--slices", type=int, default=10, help="slices per kind (default 10)")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of a slice (default 1 s)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients (default 8)")
    args = parser.parse_args(argv)
    lines = [
        f"`bench.tool_turns` — {args.slices} slices of {args.seconds:g} s per kind, {args.concurrency} "
        f"clients; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        "| database | tool answered by | server CPU ms/round trip | ms/request | round trips |",
        "|---|---|--:|--:|--:|",
    ]
    for backend in (name.strip() for name in args.backends.split(",") if name.strip()):
        lines.extend(run(backend, args))
    print("\n".join(lines))


if __name__ == "__main__":
    try:
        main()
    except BenchSetupError as error:
        sys.exit(f"bench.tool_turns: {error}")
