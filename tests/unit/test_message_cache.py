"""The per-process cache of decoded messages: bounded by size, least recently used out, extended only
where a cached prefix ends."""

from __future__ import annotations

from chatloom.store.message_cache import MessageCache


def test_evicts_least_recently_used_by_size() -> None:
    cache = MessageCache(max_bytes=100)
    cache.put("a", (), ["a0"], 40)
    cache.put("b", (), ["b0"], 40)
    assert cache.get("a") is not None  # now "b" is the least recently used
    cache.put("c", (), ["c0"], 40)
    assert cache.get("b") is None and cache.get("a") is not None and cache.get("c") is not None
    assert cache.size == 80
    cache.put("huge", (), ["x"], 101)  # larger than the whole budget: not kept, nothing evicted for it
    assert cache.get("huge") is None and cache.size == 80


def test_extends_only_a_prefix_that_ends_where_the_messages_start() -> None:
    cache = MessageCache(max_bytes=1000)
    cache.put("log", (("parent", 2),), ["m0", "m1", "m2"], 30)
    assert not cache.extend("log", 2, ["other"], 10)  # would not follow the cached prefix
    assert not cache.extend("unknown", 0, ["m0"], 10)
    assert cache.extend("log", 3, ["m3", "m4"], 20)
    entry = cache.get("log")
    assert entry is not None and entry.messages == ["m0", "m1", "m2", "m3", "m4"] and entry.size == 50
    assert entry.ancestry == (("parent", 2),) and cache.size == 50


def test_forgets_entries_holding_deleted_messages() -> None:
    cache = MessageCache(max_bytes=1000)
    cache.put("log", (), ["m0", "m1", "m2"], 30)
    cache.forget_past("log", 3)
    assert cache.get("log") is not None
    cache.forget_past("log", 2)
    assert cache.get("log") is None and cache.size == 0


def test_a_zero_budget_keeps_nothing() -> None:
    cache = MessageCache(max_bytes=0)
    cache.put("log", (), ["m0"], 10)
    assert cache.get("log") is None and not cache.extend("log", 1, ["m1"], 10)
