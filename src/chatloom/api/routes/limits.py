"""`GET /limits`: the usage limits of the caller's API key and org, and what their current windows used.

Private keys only: a public key's holder is any visitor of a web page, who has no business seeing an org's
spending.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from chatloom.api.deps import OrgId, ServicesDep, json_response, key_id_of
from chatloom.api.openapi import answers

router = APIRouter(tags=["Limits"])


class LimitValues(BaseModel):
    requestsPerMinute: int | None = Field(description="Chat turns per minute; null: no limit.")
    tokensPerMinute: int | None = Field(description="Prompt + completion tokens per minute; null: no limit.")
    usdPerDay: float | None = Field(description="USD per UTC day; null: no limit.")
    usdPerMonth: float | None = Field(description="USD per UTC calendar month; null: no limit.")


class LimitUsage(BaseModel):
    requestsThisMinute: int
    tokensThisMinute: int
    usdToday: float
    usdThisMonth: float


class SubjectLimits(BaseModel):
    id: str
    limits: LimitValues
    usage: LimitUsage = Field(description="What the current windows used (only what a limit counts).")


class LimitResets(BaseModel):
    minute: str
    day: str
    month: str


class Limits(BaseModel):
    key: SubjectLimits
    org: SubjectLimits
    resets: LimitResets = Field(description="When the current windows end (UTC).")


@router.get(
    "/limits",
    operation_id="LimitsController_get",
    responses=answers(200, Limits, "The usage limits of the caller's key and org."),
)
async def get_limits(request: Request, org_id: OrgId, services: ServicesDep) -> Response:
    return json_response(await services.usage.status(org_id, str(key_id_of(request))))
