"""`GET /limits`: the usage limits of the caller's API key and org, and what their current windows used.

Private keys only: a public key's holder is any visitor of a web page, who has no business seeing an org's
spending.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from chatloom.api.deps import OrgId, ServicesDep, json_response, key_id_of

router = APIRouter(tags=["Limits"])


@router.get("/limits")
async def get_limits(request: Request, org_id: OrgId, services: ServicesDep) -> Response:
    return json_response(await services.usage.status(org_id, str(key_id_of(request))))
