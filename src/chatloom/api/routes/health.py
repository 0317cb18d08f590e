"""`GET /health`: liveness, unauthenticated."""

from __future__ import annotations

from fastapi import APIRouter

from chatloom import __version__
from chatloom.api.schemas.records_out import Health

router = APIRouter(tags=["Health"])


@router.get("/health", operation_id="HealthController_check", response_model=Health)
async def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}
