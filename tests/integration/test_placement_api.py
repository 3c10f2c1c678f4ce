"""Placement's API in the in-process app: a provider, its inventory, a claim, a refused
overcommit and a stale generation, as a Placement client sees them."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx

from lessor.server import MEMORY, api_app, build

ADMIN = {"x-auth-token": "admin", "openstack-api-version": "placement 1.28"}


class Client:
    """Requests to the in-process app, one at a time."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        async def run() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://lessor") as c:
                return await c.request(method, path, **kw)

        return asyncio.run(run())

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, **kw)


def test_claims_are_guarded_by_generations_and_capacity(tmp_path: Path) -> None:
    parts = build(MEMORY, ())
    client = Client(api_app(parts, tmp_path, admin_token="admin"))
    rp = str(uuid.uuid4())
    made = client.post(
        "/placement/resource_providers", json={"name": "cn1", "uuid": rp}, headers=ADMIN
    )
    assert made.status_code == 200 and made.json()["generation"] == 0
    inv = {"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 2}}}
    assert (
        client.put(
            f"/placement/resource_providers/{rp}/inventories", json=inv, headers=ADMIN
        ).status_code
        == 200
    )
    stale = client.put(f"/placement/resource_providers/{rp}/inventories", json=inv, headers=ADMIN)
    assert stale.status_code == 409
    assert stale.json()["errors"][0]["code"] == "placement.concurrent_update"

    def claim(consumer: str, vcpu: int) -> int:
        body = {
            "allocations": {rp: {"resources": {"VCPU": vcpu}}},
            "project_id": "p",
            "user_id": "u",
            "consumer_generation": None,
        }
        return client.put(
            f"/placement/allocations/{consumer}", json=body, headers=ADMIN
        ).status_code

    assert claim(str(uuid.uuid4()), 2) == 204
    assert claim(str(uuid.uuid4()), 1) == 409  # full: never overcommitted
    found = client.get("/placement/allocation_candidates?resources=VCPU:1", headers=ADMIN)
    assert found.json()["allocation_requests"] == []
    user = {"x-auth-token": "user"}
    assert client.get("/placement/resource_providers", headers=user).status_code == 403
    refused = client.delete(f"/placement/resource_providers/{rp}", headers=user)
    assert refused.status_code == 403  # only the admin token reads or changes anything
    assert client.get("/placement/", headers=user).status_code == 200  # the root document
    assert client.get("/placement/resource_providers").status_code == 401


def test_placement_needs_the_servers_admin_token_not_the_word_admin(
    tmp_path: Path,
) -> None:
    parts = build(MEMORY, ())
    client = Client(api_app(parts, tmp_path, admin_token="s3cret"))
    body = {"name": "host-1"}
    version = {"openstack-api-version": "placement 1.28"}
    for token in ("admin", "admin:project", "user", "s3cre"):
        headers = {**version, "x-auth-token": token}
        refused = client.post("/placement/resource_providers", json=body, headers=headers)
        assert refused.status_code == 403, token
        assert client.get("/placement/resource_providers", headers=headers).status_code == 403
    listed = client.get("/placement/resource_providers", headers={"x-auth-token": "s3cret:p"})
    assert listed.json() == {"resource_providers": []}
    made = client.post(
        "/placement/resource_providers", json=body, headers={**version, "x-auth-token": "s3cret"}
    )
    assert made.status_code == 200


def test_native_candidates_explain_and_are_bounded(tmp_path: Path) -> None:
    parts = build(MEMORY, ())
    client = Client(api_app(parts, tmp_path, admin_token="admin"))
    for name, vcpu, traits in (("big", 8, ["HW_CPU_X86_AVX2"]), ("small", 1, [])):
        rp = str(uuid.uuid4())
        client.post("/placement/resource_providers", json={"name": name, "uuid": rp}, headers=ADMIN)
        inv = {"resource_provider_generation": 0, "inventories": {"VCPU": {"total": vcpu}}}
        client.put(f"/placement/resource_providers/{rp}/inventories", json=inv, headers=ADMIN)
        client.put(
            f"/placement/resource_providers/{rp}/traits",
            headers=ADMIN,
            json={"resource_provider_generation": 1, "traits": traits},
        )
    listed = client.get("/api/v1/providers").json()
    assert [(p["name"], p["inventories"]["VCPU"]["capacity"]) for p in listed] == [
        ("big", 8),
        ("small", 1),
    ]
    found = client.get(
        "/api/v1/candidates",
        params={"resources": "VCPU:2", "required": "HW_CPU_X86_AVX2", "explain": "true"},
    ).json()
    assert len(found["allocation_requests"]) == 1 and not found["truncated"]
    assert found["rejected"] == {"small": ["VCPU: 2 asked, 1 free"]}
    bounded = client.get("/api/v1/candidates", params={"resources": "VCPU:1", "budget": 1})
    assert bounded.json()["truncated"] is True
    bad = client.get("/api/v1/candidates", params={"resources": "VCPU"})
    assert bad.status_code == 422 and "resources" in bad.json()["detail"]
