"""`/squad` CRUD: members by assistantId or inline assistant, checked against the caller's org."""

from __future__ import annotations

from typing import Any

from tests.support.client import Api

UNKNOWN = "00000000-0000-4000-8000-000000000000"


def prompt(text: str) -> dict[str, Any]:
    return {"provider": "openai", "model": "gpt-4o-mini", "messages": [{"role": "system", "content": text}]}


def test_squad_crud(api: Api) -> None:
    receptionist = api.create_assistant(name="Receptionist", model=prompt("You route."))
    body = {
        "name": "Front desk",
        "members": [
            {
                "assistantId": receptionist["id"],
                "assistantOverrides": {"variableValues": {"company": "Acme"}},
                "assistantDestinations": [
                    {"type": "assistant", "assistantName": "Billing", "description": "money questions"}
                ],
            },
            {"assistant": {"name": "Billing", "model": prompt("You bill.")}},
        ],
        "membersOverrides": {"variableValues": {"tone": "warm"}},
    }
    created = api.post("/squad", body)
    assert created.status_code == 201, created.text
    squad = created.json()
    assert squad["id"] and squad["orgId"] and squad["createdAt"] and squad["members"] == body["members"]
    assert api.get(f"/squad/{squad['id']}").json() == squad
    assert [s["id"] for s in api.get("/squad").json()] == [squad["id"]] or squad["id"] in [
        s["id"] for s in api.get("/squad", params={"limit": 1000}).json()
    ]
    patched = api.patch(f"/squad/{squad['id']}", {"name": "Desk"})
    assert patched.status_code == 200 and patched.json()["name"] == "Desk"
    assert patched.json()["members"] == body["members"]
    assert api.delete(f"/squad/{squad['id']}").status_code == 200
    assert api.get(f"/squad/{squad['id']}").status_code == 404


def test_bad_members_are_400_naming_the_member(api: Api, other_api: Api) -> None:
    mine = api.create_assistant(name="Mine")
    theirs = other_api.create_assistant(name="Theirs")
    for assistant_id in (theirs["id"], UNKNOWN):
        response = api.post(
            "/squad", {"members": [{"assistantId": mine["id"]}, {"assistantId": assistant_id}]}
        )
        assert response.status_code == 400, response.text
        assert "members[1].assistantId" in response.json()["message"]
    assert api.post("/squad", {"members": []}).status_code == 400
    response = api.post("/squad", {"members": [{"assistantId": mine["id"], "assistant": {"name": "x"}}]})
    assert response.status_code == 400 and "members[0]" in str(response.json()["message"])
    squad = api.post("/squad", {"members": [{"assistantId": mine["id"]}]}).json()
    response = api.patch(f"/squad/{squad['id']}", {"members": [{"assistantId": theirs["id"]}]})
    assert response.status_code == 400 and "members[0].assistantId" in response.json()["message"]


def test_another_orgs_squad_is_not_found(api: Api, other_api: Api) -> None:
    squad = api.post("/squad", {"members": [{"assistant": {"model": prompt("x")}}]}).json()
    for response in (
        other_api.get(f"/squad/{squad['id']}"),
        other_api.patch(f"/squad/{squad['id']}", {"name": "x"}),
        other_api.delete(f"/squad/{squad['id']}"),
    ):
        assert response.status_code == 404, response.text
    assert squad["id"] not in [s["id"] for s in other_api.get("/squad").json()]


def test_squad_routes_use_vapi_operation_ids(api: Api) -> None:
    paths = api.get("/api-json").json()["paths"]
    operations = {
        operation["operationId"] for path in ("/squad", "/squad/{id}") for operation in paths[path].values()
    }
    assert operations == {
        f"SquadController_{name}" for name in ("create", "findAll", "findOne", "update", "remove")
    }


def test_inline_members_credentials_are_sealed_and_masked(api: Api) -> None:
    key = "gsk_" + "s3cr3t" * 6
    member = {
        "assistant": {"name": "A", "model": prompt("x"), "credentials": [{"provider": "groq", "apiKey": key}]}
    }
    created = api.post("/squad", {"members": [member]})
    assert created.status_code == 201, created.text
    for response in (created, api.get(f"/squad/{created.json()['id']}"), api.get("/squad")):
        assert key not in response.text
    shown = created.json()["members"][0]["assistant"]["credentials"][0]
    assert shown["provider"] == "groq"
