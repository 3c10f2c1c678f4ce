"""Placement's resource providers: the tree (parent/root), their traits and aggregates."""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

from starlette.responses import Response

from lessor.api.placement.handler import NAME, UUID, in_thread
from lessor.api.placement.http import (
    Call,
    PlacementError,
    bad,
    check_params,
    json_response,
    no_content,
)
from lessor.domain import candidates as cands
from lessor.domain.capacity import InUse, Missing, Provider
from lessor.service.capacity import CapacityService


def _provider_json(call: Call, p: Provider) -> dict[str, Any]:
    base = f"/resource_providers/{p.uuid}"
    links = [
        {"rel": "self", "href": base},
        {"rel": "inventories", "href": f"{base}/inventories"},
        {"rel": "usages", "href": f"{base}/usages"},
    ]
    if call.at_least(1):
        links.append({"rel": "aggregates", "href": f"{base}/aggregates"})
    if call.at_least(6):
        links.append({"rel": "traits", "href": f"{base}/traits"})
    if call.at_least(11):
        links.append({"rel": "allocations", "href": f"{base}/allocations"})
    out: dict[str, Any] = {
        "uuid": p.uuid,
        "name": p.name,
        "generation": p.generation,
        "links": links,
    }
    if call.at_least(14):
        out["parent_provider_uuid"] = p.parent_uuid
        out["root_provider_uuid"] = p.root_uuid
    return out


async def list_providers(svc: CapacityService, call: Call) -> Response:
    q = call.query()
    allowed = {"name", "uuid"} | ({"member_of"} if call.at_least(3) else set())
    allowed |= {"resources"} if call.at_least(4) else set()
    allowed |= {"in_tree"} if call.at_least(14) else set()
    allowed |= {"required"} if call.at_least(18) else set()
    check_params(q, allowed)
    states = await in_thread(svc.states)
    by_uuid = {s.uuid: s for s in states}
    if "uuid" in q:
        states = [s for s in states if s.uuid == q["uuid"][-1]]
    if "name" in q:
        states = [s for s in states if s.provider.name == q["name"][-1]]
    if "in_tree" in q:
        tree = by_uuid.get(q["in_tree"][-1])
        states = [s for s in states if tree is not None and s.root == tree.root]
    try:
        if "member_of" in q:
            sets, no = cands.parse_member_of(q["member_of"])
            states = [
                s for s in states if not s.aggregates & no and all(s.aggregates & w for w in sets)
            ]
        if "required" in q:
            required, forbidden, _ = cands.parse_traits(q["required"])
            await in_thread(svc.check_traits, required | forbidden)
            states = [s for s in states if required <= s.traits and not s.traits & forbidden]
        if "resources" in q:
            wanted = cands.parse_resources(q["resources"][-1])
            await in_thread(svc.check_resource_classes, wanted)
            states = [
                s for s in states if all(s.refusal(rc, n) is None for rc, n in wanted.items())
            ]
    except cands.BadQuery as e:
        raise bad(str(e)) from None
    states.sort(key=lambda s: s.provider.name)
    return json_response({"resource_providers": [_provider_json(call, s.provider) for s in states]})


async def create_provider(svc: CapacityService, call: Call) -> Response:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"name": NAME, "uuid": UUID},
        "required": ["name"],
        "additionalProperties": False,
    }
    if call.at_least(14):
        schema["properties"]["parent_provider_uuid"] = {"anyOf": [UUID, {"type": "null"}]}
    data = await call.body(schema)
    uuid = str(uuidlib.UUID(data["uuid"])) if data.get("uuid") else str(uuidlib.uuid4())
    parent = data.get("parent_provider_uuid")
    if parent == uuid:
        raise bad(
            f'Unable to create resource provider "{data["name"]}", {uuid}: '
            "parent provider UUID cannot be same as UUID. Please set parent provider "
            "UUID to None if there is no parent."
        )
    try:
        p = await in_thread(svc.store.create_provider, uuid, data["name"], parent)
    except Missing as e:
        raise bad(
            f'Unable to create resource provider "{data["name"]}", {uuid}: '
            "parent provider UUID does not exist."
        ) from e
    headers = {"location": f"{call.request.scope.get('root_path', '')}/resource_providers/{uuid}"}
    if call.at_least(20):
        return json_response(_provider_json(call, p), 200, headers)
    return Response(status_code=201, headers=headers)


async def get_provider(svc: CapacityService, call: Call) -> Response:
    p = await in_thread(svc.provider, call.params["uuid"])
    return json_response(_provider_json(call, p))


async def update_provider(svc: CapacityService, call: Call) -> Response:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"name": NAME},
        "required": ["name"],
        "additionalProperties": False,
    }
    if call.at_least(14):
        schema["properties"]["parent_provider_uuid"] = {"anyOf": [UUID, {"type": "null"}]}
    data = await call.body(schema)
    old = await in_thread(svc.provider, call.params["uuid"])
    parent = data.get("parent_provider_uuid", old.parent_uuid) if call.at_least(14) else None
    if old.parent_uuid is not None and parent is None:
        raise bad(
            "Unable to save resource provider "
            f"{old.uuid}: Object action update failed because: un-parenting a provider "
            "is not currently allowed."
        )
    try:
        p = await in_thread(
            svc.store.update_provider,
            old.uuid,
            data["name"],
            parent if call.at_least(14) else old.parent_uuid,
        )
    except (InUse, Missing) as e:
        raise bad(
            f"Unable to save resource provider {old.uuid}: Object action update failed because: {e}"
        ) from None
    return json_response(_provider_json(call, p))


async def delete_provider(svc: CapacityService, call: Call) -> Response:
    uuid = call.params["uuid"]
    if await in_thread(svc.store.provider, uuid) is None:
        raise PlacementError(404, f"No resource provider with uuid {uuid} found for delete")
    await in_thread(svc.store.delete_provider, uuid)
    return no_content()


# traits and aggregates


async def provider_traits(svc: CapacityService, call: Call) -> Response:
    p = await in_thread(svc.provider, call.params["uuid"])
    names = await in_thread(svc.store.traits, p.uuid)
    return json_response({"resource_provider_generation": p.generation, "traits": sorted(names)})


async def put_provider_traits(svc: CapacityService, call: Call) -> Response:
    p = await in_thread(svc.provider, call.params["uuid"])
    data = await call.body(
        {
            "type": "object",
            "properties": {
                "traits": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
                "resource_provider_generation": {"type": "integer"},
            },
            "required": ["traits", "resource_provider_generation"],
            "additionalProperties": False,
        }
    )
    try:
        await in_thread(svc.check_traits, data["traits"])
    except Missing as e:
        raise bad(str(e)) from None
    p = await in_thread(
        svc.set_traits, p.uuid, data["resource_provider_generation"], data["traits"]
    )
    return json_response(
        {"resource_provider_generation": p.generation, "traits": sorted(data["traits"])}
    )


async def delete_provider_traits(svc: CapacityService, call: Call) -> Response:
    p = await in_thread(svc.provider, call.params["uuid"])
    await in_thread(svc.set_traits, p.uuid, None, [])
    return no_content()


async def provider_aggregates(svc: CapacityService, call: Call) -> Response:
    p = await in_thread(svc.provider, call.params["uuid"])
    aggs = sorted(await in_thread(svc.store.aggregates, p.uuid))
    out: dict[str, Any] = {"aggregates": aggs}
    if call.at_least(19):
        out["resource_provider_generation"] = p.generation
    return json_response(out)


async def put_provider_aggregates(svc: CapacityService, call: Call) -> Response:
    p = await in_thread(svc.provider, call.params["uuid"])
    items = {"type": "array", "items": UUID, "uniqueItems": True}
    if call.at_least(19):
        data = await call.body(
            {
                "type": "object",
                "properties": {
                    "aggregates": items,
                    "resource_provider_generation": {"type": "integer"},
                },
                "required": ["aggregates", "resource_provider_generation"],
                "additionalProperties": False,
            }
        )
        aggs, generation = data["aggregates"], data["resource_provider_generation"]
    else:
        aggs, generation = await call.body(items), None
    p = await in_thread(svc.store.set_aggregates, p.uuid, generation, aggs)
    # Placement answers the aggregates in the order they were given.
    out: dict[str, Any] = {"aggregates": aggs}
    if call.at_least(19):
        out["resource_provider_generation"] = p.generation
    return json_response(out)
