"""Fake embeddings: OpenAI's `POST /v1/embeddings` and Gemini's `:batchEmbedContents` / `:embedContent`.

Vectors are deterministic and carry meaning enough for retrieval tests: a text's words (lower-cased, common
words left out, crudely stemmed) and their character trigrams are hashed into `DIMENSIONS` signed buckets,
weighted by 1 + log(count), and the vector is L2-normalized. Texts sharing words, or parts of words, are
close; unrelated texts are nearly orthogonal. Usage counts one token per word (at least one a text).
Requests for other sizes (`dimensions`, `outputDimensionality`, 1 to 4096) get that many buckets.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter, defaultdict
from typing import Any

DIMENSIONS = 256
MAX_DIMENSIONS = 4096
TRIGRAM_WEIGHT = 0.35
WORD = re.compile(r"[^\W_]+")
COMMON = frozenset(
    re.findall(
        r"\w+",
        """a an and are as at be by can do does for from how i in is it my of on or our the this to we what
        when where which who will with you your""",
    )
)
SUFFIXES = ("ing", "ed", "es", "s")


def _stem(word: str) -> str:
    for suffix in SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _bucket(feature: str, size: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
    number = int.from_bytes(digest, "little")
    return number % size, 1.0 if number >> 63 else -1.0


def fake_vector(text: str, size: int = DIMENSIONS) -> list[float]:
    """The text's vector (see the module)."""
    words = [_stem(word) for word in WORD.findall(text.lower()) if word not in COMMON]
    features: defaultdict[str, float] = defaultdict(float)
    for word, count in Counter(words).items():
        features["w:" + word] += 1.0 + math.log(count)
        padded = f"^{word}$"
        for start in range(len(padded) - 2):
            features["t:" + padded[start : start + 3]] += TRIGRAM_WEIGHT
    vector = [0.0] * size
    for feature, weight in features.items():
        index, sign = _bucket(feature, size)
        vector[index] += sign * weight
    norm = math.sqrt(sum(value * value for value in vector))
    if norm == 0:
        vector[0], norm = 1.0, 1.0
    return [round(value / norm, 6) for value in vector]


def tokens(text: str) -> int:
    return max(1, len(text.split()))


def _size(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_DIMENSIONS:
        return value
    return DIMENSIONS


def _parts_text(content: Any) -> str:
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list):
        return ""
    texts = (part.get("text") for part in parts if isinstance(part, dict))
    return " ".join(text for text in texts if isinstance(text, str))


class FakeEmbeddings:
    """Answers embedding requests; `handles` says which paths are embedding requests."""

    def handles(self, path: str) -> bool:
        return path.endswith("/embeddings") or path.endswith((":batchEmbedContents", ":embedContent"))

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The status and JSON answer to an embedding request."""
        if path.endswith("/embeddings"):
            return self._openai(body)
        if path.endswith(":embedContent"):
            size = _size(body.get("outputDimensionality"))
            return 200, {"embedding": {"values": fake_vector(_parts_text(body.get("content")), size)}}
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests or len(requests) > 100:
            return 400, gemini_error("requests must hold 1 to 100 embedding requests")
        items = [item if isinstance(item, dict) else {} for item in requests]
        vectors = [_gemini_vector(item) for item in items]
        return 200, {"embeddings": [{"values": vector} for vector in vectors]}

    def _openai(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        given = body.get("input")
        texts = [given] if isinstance(given, str) else given
        if not isinstance(texts, list) or not texts or not all(isinstance(text, str) for text in texts):
            return 400, openai_error("'input' must be a string or a non-empty array of strings")
        if len(texts) > 2048:
            return 400, openai_error("'input' may hold at most 2048 texts")
        size = _size(body.get("dimensions"))
        used = sum(tokens(text) for text in texts)
        return 200, {
            "object": "list",
            "data": [
                {"object": "embedding", "index": index, "embedding": fake_vector(text, size)}
                for index, text in enumerate(texts)
            ],
            "model": str(body.get("model") or "fake-embedding"),
            "usage": {"prompt_tokens": used, "total_tokens": used},
        }


def _gemini_vector(request: dict[str, Any]) -> list[float]:
    return fake_vector(_parts_text(request.get("content")), _size(request.get("outputDimensionality")))


def openai_error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": "input", "code": None}}


def gemini_error(message: str) -> dict[str, Any]:
    return {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
