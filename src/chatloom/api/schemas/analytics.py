"""Analytics DTOs: the `GET /analytics/costs` query and its report."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from chatloom.api.schemas.common import WholeNumber

MAX_DAYS = 366


class CostsParams(BaseModel):
    """Unknown parameters are refused, as on list routes, so a misspelt option is never ignored."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    days: Annotated[WholeNumber, Field(ge=1, le=MAX_DAYS)] = 30
    group_by: Literal["assistant", "model"] = Field("assistant", alias="groupBy")


class GroupCost(BaseModel):
    key: str | None = Field(description="The assistant id or model; null for chats without one.")
    cost: float
    chats: int


class DayCost(BaseModel):
    date: str = Field(description="A UTC day, YYYY-MM-DD.")
    cost: float
    chats: int
    groups: list[GroupCost] = Field(description="The day's groups with chats, costliest first.")


class CostReportOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    group_by: Literal["assistant", "model"] = Field(alias="groupBy")
    days: int
    start_date: str = Field(alias="startDate", description="The first UTC day reported (YYYY-MM-DD).")
    end_date: str = Field(alias="endDate", description="The last UTC day reported: today.")
    total_cost: float = Field(alias="totalCost")
    total_chats: int = Field(alias="totalChats")
    groups: list[GroupCost] = Field(description="Each group's totals over the period, costliest first.")
    daily: list[DayCost] = Field(description="Every day of the period, oldest first, days without chats too.")
