"""A history that carries its JSON encodes exactly as the list it is, and stops carrying it once changed."""

from __future__ import annotations

import enum
from typing import Any

import orjson

from chatloom.api.deps import json_response
from chatloom.domain.attachments import has_attachments
from chatloom.domain.encoded_messages import EncodedMessages
from chatloom.store.message_cache import MessageCache


def _messages(count: int) -> list[dict[str, Any]]:
    return [
        {"role": "user" if index % 2 == 0 else "assistant", "content": f'message {index} \u00e9 "q"'}
        for index in range(count)
    ]


def test_a_cached_prefix_encodes_as_its_messages() -> None:
    cache = MessageCache(max_bytes=1 << 20)
    messages = _messages(5)
    cache.put("log", (), messages[:3], 100)
    assert cache.extend("log", 3, messages[3:], 40)
    entry = cache.get("log")
    assert entry is not None
    for end in range(6):
        prefix = entry.prefix(end)
        assert list(prefix) == messages[:end]
        assert prefix.json == orjson.dumps(messages[:end]) and prefix.plain


def test_a_message_the_wire_does_not_take_is_noticed() -> None:
    cache = MessageCache(max_bytes=1 << 20)
    summary = {"role": "system", "content": "s", "metadata": {"chatloomSummary": {"summarizes": 2}}}
    cache.put("log", (), [*_messages(2), summary, *_messages(1)], 100)
    entry = cache.get("log")
    assert entry is not None
    assert entry.prefix(2).plain and not entry.prefix(3).plain and not entry.prefix(4).plain


def test_joined_parts_encode_as_one_list() -> None:
    history = EncodedMessages(_messages(4), orjson.dumps(_messages(4)), True)
    joined = EncodedMessages.join([[{"role": "system", "content": "be brief"}], history, [], _messages(1)])
    expected = [{"role": "system", "content": "be brief"}, *_messages(4), *_messages(1)]
    assert list(joined) == expected and joined.json == orjson.dumps(expected) and joined.plain
    tagged = EncodedMessages.join([history, [{"role": "user", "content": "x", "metadata": {}}]])
    assert not tagged.plain and tagged.json == orjson.dumps(list(tagged))


def test_a_changed_list_is_encoded_as_it_is_now() -> None:
    history = EncodedMessages(_messages(2), orjson.dumps(_messages(2)), True)
    history.append({"role": "user", "content": "later"})
    assert history.json is None
    assert json_response({"messages": history}).body == orjson.dumps({"messages": list(history)})
    for change in (
        lambda m: m.pop(),
        lambda m: m.__setitem__(0, {}),
        lambda m: m.extend([]),
        lambda m: m.clear(),
    ):
        changed = EncodedMessages(_messages(2), orjson.dumps(_messages(2)), True)
        change(changed)
        assert changed.json is None


class Colour(enum.StrEnum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Tagged(dict[str, Any]):
    pass


def test_the_response_splices_the_history_and_keeps_other_values_as_they_were() -> None:
    history = EncodedMessages(_messages(3), orjson.dumps(_messages(3)), True)
    document = {"id": "c", "messages": history, "colour": Colour.RED, "level": Level.HIGH, "flag": True}
    document["extra"] = Tagged(a=[1, 2])
    plain = {**document, "messages": list(history), "colour": "red", "level": 3, "extra": {"a": [1, 2]}}
    assert json_response(document).body == orjson.dumps(plain)


def test_a_cached_prefix_knows_whether_it_holds_an_attachment() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": [{"type": "text", "text": "see"}, image]},
    ]
    cache = MessageCache(1 << 20)
    cache.put("log", (), messages, 100)
    entry = cache.get("log")
    assert entry is not None
    before, after = entry.prefix(2), entry.prefix(3)
    assert (before.attachments, after.attachments) == (False, True)
    assert not has_attachments(before) and has_attachments(after)
    joined = EncodedMessages.join([before, [{"role": "user", "content": "more"}]])
    assert not has_attachments(joined)
    assert has_attachments(EncodedMessages.join([before, messages[2:]]))
