"""A small HTTP client bound to one org's API key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import orjson


class Api:
    def __init__(self, base_url: str, key: str) -> None:
        self.base_url = base_url
        self.key = key
        self.http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return self.http.post(path, json=body, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def patch(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return self.http.patch(path, json=body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.delete(path, **kwargs)

    def create_assistant(self, **fields: Any) -> dict[str, Any]:
        body = {"model": {"provider": "openai", "model": "gpt-4o-mini"}, **fields}
        response = self.post("/assistant", body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def chat(self, **body: Any) -> dict[str, Any]:
        response = self.post("/chat", body)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def stream(self, body: dict[str, Any]) -> Iterator[Any]:
        """The decoded `data:` payloads of a streamed chat (`[DONE]` as the string "[DONE]")."""
        with self.http.stream("POST", "/chat", json={**body, "stream": True}) as response:
            assert response.status_code == 200, response.read()
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if line.startswith("data: "):
                    data = line[len("data: ") :]
                    yield data if data == "[DONE]" else orjson.loads(data)

    def close(self) -> None:
        self.http.close()


def client_for(api: Api, **options: Any) -> openai.OpenAI:
    """The OpenAI SDK pointed at chatloom (`base_url` `<server>/chat`) with the org's key, no retries."""
    return openai.OpenAI(base_url=f"{api.base_url}/chat", api_key=api.key, max_retries=0, **options)
