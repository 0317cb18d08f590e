"""`GET /analytics/costs`: chat costs per UTC day, per assistant or model, scoped to the caller's org."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chatloom.testing.fake_llm import FakeLLM, FakeReply
from tests.support.client import Api

USAGE = {"prompt_tokens": 1000, "completion_tokens": 500}


def test_costs_per_day_split_by_assistant_and_by_model(api: Api, other_api: Api, fake_llm: FakeLLM) -> None:
    first = api.create_assistant(name="first")
    second = api.create_assistant(name="second", model={"provider": "openai", "model": "gpt-4o"})
    chats = []
    for assistant in (first, first, second):
        fake_llm.push(FakeReply(text="ok", usage=USAGE))
        chats.append(api.chat(assistantId=assistant["id"], input="hi"))
    inline = api.chat(assistant={"model": {"provider": "openai", "model": "gpt-4o-mini"}}, input="hi")
    other_api.chat(assistant={"model": {"provider": "openai", "model": "gpt-4o-mini"}}, input="not yours")
    assert all(chat["cost"] > 0 for chat in chats)
    today = datetime.now(UTC).date().isoformat()

    report = api.get("/analytics/costs", params={"groupBy": "assistant"}).json()
    assert report["groupBy"] == "assistant" and report["days"] == 30
    assert report["endDate"] == today and len(report["daily"]) == 30
    assert [day["date"] for day in report["daily"]][-1] == today
    assert all(day["cost"] == 0 and day["groups"] == [] for day in report["daily"][:-1])
    total = sum(chat["cost"] for chat in [*chats, inline])
    assert report["totalCost"] == pytest.approx(total) and report["totalChats"] == 4
    by_key = {group["key"]: group for group in report["groups"]}
    assert by_key[first["id"]]["chats"] == 2
    assert by_key[first["id"]]["cost"] == pytest.approx(chats[0]["cost"] + chats[1]["cost"])
    assert by_key[second["id"]]["cost"] == pytest.approx(chats[2]["cost"])
    assert by_key[None]["chats"] == 1, "chats with an inline assistant are grouped under null"
    assert report["daily"][-1]["cost"] == pytest.approx(total)
    costs = [group["cost"] for group in report["groups"]]
    assert costs == sorted(costs, reverse=True)

    by_model = api.get("/analytics/costs", params={"groupBy": "model", "days": 1}).json()
    assert len(by_model["daily"]) == 1 and by_model["startDate"] == today
    models = {group["key"]: group for group in by_model["groups"]}
    assert set(models) == {"gpt-4o-mini", "gpt-4o"}
    assert models["gpt-4o"]["cost"] == pytest.approx(chats[2]["cost"])
    assert models["gpt-4o-mini"]["chats"] == 3


def test_an_org_without_chats_gets_zeros(api: Api) -> None:
    report = api.get("/analytics/costs", params={"days": 7}).json()
    assert report["totalCost"] == 0 and report["totalChats"] == 0 and report["groups"] == []
    assert [day["cost"] for day in report["daily"]] == [0] * 7


def test_bad_parameters_are_400_naming_the_field(api: Api) -> None:
    for params in ({"days": 0}, {"days": 367}, {"days": "a"}, {"groupBy": "tool"}, {"group": "model"}):
        response = api.get("/analytics/costs", params=params)
        assert response.status_code == 400, params
        assert next(iter(params)) in str(response.json()["message"])


def test_costs_need_a_key(api: Api) -> None:
    response = api.http.get("/analytics/costs", headers={"Authorization": ""})
    assert response.status_code == 401


def test_the_route_is_documented(api: Api) -> None:
    document = api.get("/api-json").json()
    operation = document["paths"]["/analytics/costs"]["get"]
    assert operation["operationId"] == "AnalyticsController_costs"
    assert {parameter["name"] for parameter in operation["parameters"]} >= {"days", "groupBy"}
