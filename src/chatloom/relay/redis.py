"""The Redis relay (`CHATLOOM_REDIS_URL`): a turn's frames in a list and its state in a hash, both expiring
with the stream, written in one MULTI per batch that also PUBLISHes on `chatloom:streams`; every process
subscribes on one connection. The database then carries no stream traffic at all."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from chatloom.relay.memory import StreamInfo
from chatloom.relay.shared import SharedRelay, snapshot_of

log = logging.getLogger("chatloom.relay")

CHANNEL = "chatloom:streams"


def _frames_key(turn_id: str) -> str:
    return f"chatloom:stream:{turn_id}:frames"


def _info_key(turn_id: str) -> str:
    return f"chatloom:stream:{turn_id}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisRelay(SharedRelay):
    def __init__(self, redis_url: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.redis: Redis = Redis.from_url(redis_url)
        self._pubsub: PubSub | None = None
        self._listening: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe(CHANNEL)
        self._listening = asyncio.get_running_loop().create_task(self._listen(self._pubsub))

    async def _listen(self, pubsub: PubSub) -> None:
        while True:
            try:
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        data = message["data"]
                        self.notified(data.decode() if isinstance(data, bytes) else str(data))
            except asyncio.CancelledError:
                raise
            except Exception:
                # Followers poll at each heartbeat anyway; reconnect after a short pause.
                log.exception("the Redis subscription failed; reconnecting")
                await asyncio.sleep(1.0)

    async def aclose(self) -> None:
        await super().aclose()
        if self._listening is not None:
            self._listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listening
        if self._pubsub is not None:
            await self._pubsub.aclose()
        await self.redis.aclose()

    async def _store(self, info: StreamInfo, first_seq: int, frames: list[bytes], expires_in: float) -> None:
        fields: dict[bytes | bytearray | memoryview[int] | str | int | float, bytes | str | int] = {
            "org_id": info.org_id,
            "kind": info.kind,
            "status": info.status,
            "background": int(info.background),
            "last_seq": info.last_seq,
        }
        if info.snapshot is not None:
            fields["snapshot"] = info.snapshot
        ttl = max(int(expires_in) + 1, 1)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(_info_key(info.turn_id), mapping=fields)
            pipe.expire(_info_key(info.turn_id), ttl)
            if frames:
                pipe.rpush(_frames_key(info.turn_id), *frames)
            pipe.expire(_frames_key(info.turn_id), ttl)
            pipe.publish(CHANNEL, "e " + info.turn_id)
            await pipe.execute()

    async def _read_info(self, org_id: str, turn_id: str) -> StreamInfo | None:
        raw = await self.redis.hgetall(_info_key(turn_id))
        row = {_text(key): _text(value) for key, value in raw.items()}
        if row.get("org_id") != org_id:
            return None
        return StreamInfo(
            turn_id,
            org_id,
            row["kind"],
            row["status"],
            row["background"] == "1",
            snapshot_of(row.get("snapshot")),
            int(row["last_seq"]),
        )

    async def _read_frames(self, turn_id: str, after: int) -> list[bytes]:
        frames = await self.redis.lrange(_frames_key(turn_id), after + 1, -1)
        return [frame if isinstance(frame, bytes) else frame.encode() for frame in frames]

    async def _send(self, message: str) -> None:
        await self.redis.publish(CHANNEL, message)

    async def _purge(self, org_id: str, turn_id: str) -> None:
        if await self._read_info(org_id, turn_id) is not None:
            await self.redis.delete(_info_key(turn_id), _frames_key(turn_id))
