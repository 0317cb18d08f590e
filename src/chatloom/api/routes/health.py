"""`GET /health`: liveness, unauthenticated."""

from __future__ import annotations

from fastapi import APIRouter

from chatloom import __version__

router = APIRouter(tags=["Health"])


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}
