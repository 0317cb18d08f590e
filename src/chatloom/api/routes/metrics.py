"""`GET /metrics`: Prometheus' text format; behind `CHATLOOM_METRICS_TOKEN` (a bearer token) when set."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response

from chatloom.domain.errors import NotFound, Unauthorized
from chatloom.observability.metrics import CONTENT_TYPE, PrometheusObserver

router = APIRouter(tags=["Metrics"])


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    observer = request.app.state.observer
    if not isinstance(observer, PrometheusObserver):
        raise NotFound("Metrics are switched off (CHATLOOM_METRICS=false)")
    token: str | None = request.app.state.metrics_token
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise Unauthorized("GET /metrics needs 'Authorization: Bearer <CHATLOOM_METRICS_TOKEN>'")
    return Response(observer.render(), media_type=CONTENT_TYPE)
