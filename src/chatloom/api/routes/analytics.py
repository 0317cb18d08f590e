"""`GET /analytics/costs`: the caller's chat costs per UTC day, split by assistant or by model."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from chatloom.api.deps import OrgId, ServicesDep, json_response
from chatloom.api.openapi import answers
from chatloom.api.schemas.analytics import CostReportOut, CostsParams
from chatloom.engine.records.chats import CostReport
from chatloom.store.analytics import DailyCost

router = APIRouter(tags=["Analytics"])


@router.get(
    "/analytics/costs",
    operation_id="AnalyticsController_costs",
    responses=answers(200, CostReportOut, "The org's chat costs per day and per group."),
    summary="Chat costs per day",
    description="Chat costs of the last `days` UTC days (today included), summed per day and per "
    "assistant (`groupBy=assistant`) or per model (`groupBy=model`, the model that produced each reply).",
)
async def chat_costs(
    org_id: OrgId, services: ServicesDep, params: Annotated[CostsParams, Query()]
) -> Response:
    report = await services.chats.daily_costs(org_id, params.days, params.group_by)
    return json_response(cost_report(report, params))


def _groups(rows: list[DailyCost]) -> list[dict[str, Any]]:
    totals: dict[str | None, dict[str, Any]] = {}
    for row in rows:
        entry = totals.setdefault(row.group, {"key": row.group, "cost": 0.0, "chats": 0})
        entry["cost"] += row.cost
        entry["chats"] += row.chats
    return sorted(totals.values(), key=lambda entry: (-entry["cost"], entry["key"] or ""))


def cost_report(report: CostReport, params: CostsParams) -> dict[str, Any]:
    by_day: dict[str, list[DailyCost]] = {}
    for row in report.rows:
        by_day.setdefault(row.day.isoformat(), []).append(row)
    daily = []
    day = report.first_day
    while day <= report.last_day:
        rows = by_day.get(day.isoformat(), [])
        daily.append(
            {
                "date": day.isoformat(),
                "cost": sum(row.cost for row in rows),
                "chats": sum(row.chats for row in rows),
                "groups": _groups(rows),
            }
        )
        day += timedelta(days=1)
    return {
        "groupBy": params.group_by,
        "days": params.days,
        "startDate": report.first_day.isoformat(),
        "endDate": report.last_day.isoformat(),
        "totalCost": sum(row.cost for row in report.rows),
        "totalChats": sum(row.chats for row in report.rows),
        "groups": _groups(report.rows),
        "daily": daily,
    }
