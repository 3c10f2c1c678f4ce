"""Placement's resources: providers, inventories, traits, aggregates, resource classes, usages,
allocations and allocation candidates, each as Placement answers it at each microversion."""

from __future__ import annotations

import json
import uuid as uuidlib
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from lessor.api.placement.http import (
    Call,
    PlacementError,
    Uncached,
    bad,
    check_params,
    json_response,
    no_content,
)
from lessor.domain import candidates as cands
from lessor.domain.capacity import (
    MAX_INT,
    ConsumerWrite,
    InUse,
    Inventory,
    Missing,
    NoProvider,
    Provider,
    is_custom,
)
from lessor.service.capacity import RESOURCE_CLASS, TRAIT, CapacityService

Handler = Callable[[CapacityService, Call], Awaitable[Response]]

UUID = {"type": "string", "format": "uuid"}
NAME = {"type": "string", "minLength": 1, "maxLength": 200}
_INV_FIELDS: dict[str, Any] = {
    "total": {"type": "integer", "maximum": MAX_INT, "minimum": 1},
    "reserved": {"type": "integer", "maximum": MAX_INT, "minimum": 0},
    "min_unit": {"type": "integer", "maximum": MAX_INT, "minimum": 1},
    "max_unit": {"type": "integer", "maximum": MAX_INT, "minimum": 1},
    "step_size": {"type": "integer", "maximum": MAX_INT, "minimum": 1},
    "allocation_ratio": {"type": "number", "maximum": 3.40282e38},
}
INVENTORY = {
    "type": "object",
    "properties": {"resource_provider_generation": {"type": "integer"}, **_INV_FIELDS},
    "required": ["total"],
    "additionalProperties": False,
}
INVENTORIES = {
    "type": "object",
    "properties": {
        "resource_provider_generation": {"type": "integer"},
        "inventories": {
            "type": "object",
            "patternProperties": {
                "^[A-Z0-9_]+$": {
                    "type": "object",
                    "properties": _INV_FIELDS,
                    "required": ["total"],
                    "additionalProperties": False,
                }
            },
            "additionalProperties": False,
        },
    },
    "required": ["resource_provider_generation", "inventories"],
    "additionalProperties": False,
}


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


def _run(fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
    return run_in_threadpool(fn, *args)


# providers


async def list_providers(svc: CapacityService, call: Call) -> Response:
    q = call.query()
    allowed = {"name", "uuid"} | ({"member_of"} if call.at_least(3) else set())
    allowed |= {"resources"} if call.at_least(4) else set()
    allowed |= {"in_tree"} if call.at_least(14) else set()
    allowed |= {"required"} if call.at_least(18) else set()
    check_params(q, allowed)
    states = await _run(svc.states)
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
            await _run(svc.check_traits, required | forbidden)
            states = [s for s in states if required <= s.traits and not s.traits & forbidden]
        if "resources" in q:
            wanted = cands.parse_resources(q["resources"][-1])
            await _run(svc.check_resource_classes, wanted)
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
        p = await _run(svc.store.create_provider, uuid, data["name"], parent)
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
    p = await _run(svc.provider, call.params["uuid"])
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
    old = await _run(svc.provider, call.params["uuid"])
    parent = data.get("parent_provider_uuid", old.parent_uuid) if call.at_least(14) else None
    if old.parent_uuid is not None and parent is None:
        raise bad(
            "Unable to save resource provider "
            f"{old.uuid}: Object action update failed because: un-parenting a provider "
            "is not currently allowed."
        )
    try:
        p = await _run(
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
    if await _run(svc.store.provider, uuid) is None:
        raise PlacementError(404, f"No resource provider with uuid {uuid} found for delete")
    await _run(svc.store.delete_provider, uuid)
    return no_content()


# inventories


def _inventory_json(inv: Inventory) -> dict[str, Any]:
    return dict(vars(inv))


def _inventory(
    rc: str, data: dict[str, Any], uuid: str, at_least_26: bool, action: str = "update"
) -> Inventory:
    """The inventory of a body; one Placement refuses is a 400 saying `action` (create by
    POST, update by PUT) failed."""
    fields = {k: v for k, v in data.items() if k in _INV_FIELDS}
    inv = Inventory(**fields)
    if "max_unit" not in data:
        inv = Inventory(**{**fields, "max_unit": MAX_INT})
    over = inv.reserved > inv.total or (inv.reserved == inv.total and not at_least_26)
    if over or inv.min_unit > inv.max_unit or inv.allocation_ratio <= 0:
        raise bad(
            f"Unable to {action} inventory for resource provider {uuid}: Invalid inventory "
            f"for '{rc}' on resource provider '{uuid}'. The reserved value is greater "
            f"than {'' if at_least_26 else 'or equal to '}total."
            if over
            else f"Unable to {action} inventory for resource provider {uuid}: Invalid "
            f"inventory for '{rc}': min_unit must not exceed max_unit"
        )
    return inv


async def get_inventories(svc: CapacityService, call: Call) -> Response:
    p = await _run(svc.provider, call.params["uuid"])
    inv = await _run(svc.store.inventories, p.uuid)
    return json_response(
        {
            "resource_provider_generation": p.generation,
            "inventories": {rc: _inventory_json(i) for rc, i in inv.items()},
        }
    )


async def put_inventories(svc: CapacityService, call: Call) -> Response:
    p = await _run(svc.provider, call.params["uuid"])
    data = await call.body(INVENTORIES)
    new = {
        rc: _inventory(rc, d, p.uuid, call.at_least(26)) for rc, d in data["inventories"].items()
    }
    await _check_classes(svc, new)
    p = await _run(svc.set_inventories, p.uuid, data["resource_provider_generation"], new)
    return json_response(
        {
            "resource_provider_generation": p.generation,
            "inventories": {rc: _inventory_json(i) for rc, i in new.items()},
        }
    )


async def _check_classes(svc: CapacityService, names: Any) -> None:
    for rc in names:
        if not await _run(svc.has_resource_class, rc):
            raise bad(
                f"Unknown resource class in inventory for resource provider "
                f"{rc}: No such resource class {rc}."
            )


async def post_inventory(svc: CapacityService, call: Call) -> Response:
    p = await _run(svc.provider, call.params["uuid"])
    schema = {
        **INVENTORY,
        "properties": {
            **INVENTORY["properties"],  # type: ignore[dict-item]
            "resource_class": {"type": "string"},
        },
        "required": ["total", "resource_class"],
    }
    data = await call.body(schema)
    rc = data["resource_class"]
    await _check_classes(svc, [rc])
    inv = _inventory(rc, data, p.uuid, call.at_least(26), "create")
    current = await _run(svc.store.inventories, p.uuid)
    if rc in current:
        raise PlacementError(
            409,
            f"Update conflict: Inventory for {rc} on resource provider {p.uuid} already exists.",
        )
    p = await _run(
        svc.set_inventories,
        p.uuid,
        data.get("resource_provider_generation", p.generation),
        {**current, rc: inv},
    )
    return json_response(
        {"resource_provider_generation": p.generation, **_inventory_json(inv)},
        201,
        {
            "location": f"{call.request.scope.get('root_path', '')}"
            f"/resource_providers/{p.uuid}/inventories/{rc}"
        },
    )


async def get_inventory(svc: CapacityService, call: Call) -> Response:
    p = await _run(svc.provider, call.params["uuid"])
    inv = (await _run(svc.store.inventories, p.uuid)).get(call.params["rc"])
    if inv is None:
        raise PlacementError(404, f"No inventory of class {call.params['rc']} for {p.uuid}")
    return json_response({"resource_provider_generation": p.generation, **_inventory_json(inv)})


async def put_inventory(svc: CapacityService, call: Call) -> Response:
    p = await _run(svc.provider, call.params["uuid"])
    schema = {**INVENTORY, "required": ["total", "resource_provider_generation"]}
    data = await call.body(schema)
    rc = call.params["rc"]
    await _check_classes(svc, [rc])
    inv = _inventory(rc, data, p.uuid, call.at_least(26))
    current = await _run(svc.store.inventories, p.uuid)
    if rc not in current:
        raise bad(f"No inventory record with resource class for resource provider {p.uuid}")
    p = await _run(
        svc.set_inventories, p.uuid, data["resource_provider_generation"], {**current, rc: inv}
    )
    return json_response({"resource_provider_generation": p.generation, **_inventory_json(inv)})


async def delete_inventory(svc: CapacityService, call: Call) -> Response:
    p = await _run(svc.provider, call.params["uuid"])
    rc = call.params["rc"]
    current = await _run(svc.store.inventories, p.uuid)
    if rc not in current:
        raise PlacementError(404, f"No inventory of class {rc} found for delete")
    await _run(
        svc.set_inventories, p.uuid, p.generation, {k: v for k, v in current.items() if k != rc}
    )
    return no_content()


async def delete_inventories(svc: CapacityService, call: Call) -> Response:
    if not call.at_least(5):
        raise PlacementError(
            405,
            "The method specified is not allowed for this resource.",
            headers={"allow": "GET, PUT, POST"},
        )
    p = await _run(svc.provider, call.params["uuid"])
    await _run(svc.set_inventories, p.uuid, p.generation, {})
    return no_content()


async def get_usages(svc: CapacityService, call: Call) -> Response:
    p = await _run(svc.provider, call.params["uuid"])
    used = await _run(svc.store.usages, p.uuid)
    inv = await _run(svc.store.inventories, p.uuid)
    return json_response(
        {
            "resource_provider_generation": p.generation,
            "usages": {rc: used.get(rc, 0) for rc in inv} | used,
        }
    )


# traits and aggregates


async def provider_traits(svc: CapacityService, call: Call) -> Response:
    p = await _run(svc.provider, call.params["uuid"])
    names = await _run(svc.store.traits, p.uuid)
    return json_response({"resource_provider_generation": p.generation, "traits": sorted(names)})


async def put_provider_traits(svc: CapacityService, call: Call) -> Response:
    p = await _run(svc.provider, call.params["uuid"])
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
        await _run(svc.check_traits, data["traits"])
    except Missing as e:
        raise bad(str(e)) from None
    p = await _run(svc.set_traits, p.uuid, data["resource_provider_generation"], data["traits"])
    return json_response(
        {"resource_provider_generation": p.generation, "traits": sorted(data["traits"])}
    )


async def delete_provider_traits(svc: CapacityService, call: Call) -> Response:
    p = await _run(svc.provider, call.params["uuid"])
    await _run(svc.set_traits, p.uuid, None, [])
    return no_content()


async def provider_aggregates(svc: CapacityService, call: Call) -> Response:
    p = await _run(svc.provider, call.params["uuid"])
    aggs = sorted(await _run(svc.store.aggregates, p.uuid))
    out: dict[str, Any] = {"aggregates": aggs}
    if call.at_least(19):
        out["resource_provider_generation"] = p.generation
    return json_response(out)


async def put_provider_aggregates(svc: CapacityService, call: Call) -> Response:
    p = await _run(svc.provider, call.params["uuid"])
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
    p = await _run(svc.store.set_aggregates, p.uuid, generation, aggs)
    # Placement answers the aggregates in the order they were given.
    out: dict[str, Any] = {"aggregates": aggs}
    if call.at_least(19):
        out["resource_provider_generation"] = p.generation
    return json_response(out)


# resource classes and traits


async def list_classes(svc: CapacityService, call: Call) -> Response:
    names = await _run(svc.resource_classes)
    return json_response(
        {
            "resource_classes": [
                {"name": n, "links": [{"rel": "self", "href": f"/resource_classes/{n}"}]}
                for n in names
            ]
        }
    )


CLASS_NAME = {
    "type": "object",
    "properties": {"name": {"type": "string", "pattern": "^CUSTOM_[A-Z0-9_]+$", "maxLength": 255}},
    "required": ["name"],
    "additionalProperties": False,
}
"""Placement's schema of a custom resource class's name (a body, or the path from 1.7)."""


def _class_location(call: Call, name: str) -> dict[str, str]:
    return {"location": f"{call.request.scope.get('root_path', '')}/resource_classes/{name}"}


async def create_class(svc: CapacityService, call: Call) -> Response:
    data = await call.body(CLASS_NAME)
    if not await _run(svc.add_custom, RESOURCE_CLASS, data["name"]):
        raise PlacementError(
            409,
            f"Conflicting resource class already exists: {data['name']}",
            "placement.duplicate_name",
        )
    return Uncached(status_code=201, headers=_class_location(call, data["name"]))


async def get_class(svc: CapacityService, call: Call) -> Response:
    name = call.params["name"]
    if not await _run(svc.has_resource_class, name):
        raise PlacementError(404, f"No such resource class {name}.")
    return json_response(
        {"name": name, "links": [{"rel": "self", "href": f"/resource_classes/{name}"}]}
    )


async def put_class(svc: CapacityService, call: Call) -> Response:
    name = call.params["name"]
    if not call.at_least(7):
        return await _rename_class(svc, call, name)
    Call.check(CLASS_NAME, {"name": name})
    new = await _run(svc.add_custom, RESOURCE_CLASS, name)
    return Uncached(status_code=201 if new else 204, headers=_class_location(call, name))


async def _rename_class(svc: CapacityService, call: Call, name: str) -> Response:
    """Before 1.7 a PUT with a body renames a custom class (its inventories and
    allocations follow); a standard class cannot be renamed."""
    new = (await call.body(CLASS_NAME))["name"]
    if not await _run(svc.has_resource_class, name):
        raise PlacementError(404, f"No such resource class {name}.")
    if not is_custom(name):
        raise bad(f"Cannot update standard resource class {name}")
    await _run(svc.store.rename_custom_class, name, new)
    return Uncached(
        json.dumps({"name": new, "links": [{"rel": "self", "href": f"/resource_classes/{new}"}]}),
        media_type="application/json",
    )


async def delete_class(svc: CapacityService, call: Call) -> Response:
    name = call.params["name"]
    if not is_custom(name) and await _run(svc.has_resource_class, name):
        raise bad(
            f"Cannot delete standard resource class {name}: Cannot delete standard resource class"
        )
    await _run(svc.store.delete_custom_name, RESOURCE_CLASS, name)
    return no_content()


async def list_traits(svc: CapacityService, call: Call) -> Response:
    q = call.query()
    check_params(q, {"name", "associated"})
    names = await _run(svc.traits)
    if "name" in q:
        spec = q["name"][-1]
        if spec.startswith("in:"):
            wanted = set(spec[3:].split(","))
            names = [n for n in names if n in wanted]
        elif spec.startswith("startswith:"):
            names = [n for n in names if n.startswith(spec[11:])]
        else:
            raise bad(
                f"Badly formatted name parameter. Expected name query string parameter "
                f'in form: ?name=[in|startswith]:[name1,name2|prefix]. Got: "{spec}"'
            )
    if "associated" in q:
        used = set().union(*(s.traits for s in await _run(svc.states)))
        value = q["associated"][-1].lower()
        if value not in ("true", "false"):
            raise bad('The query parameter "associated" only accepts "true" or "false"')
        want = value == "true"
        names = [n for n in names if (n in used) == want]
    return json_response({"traits": names})


async def get_trait(svc: CapacityService, call: Call) -> Response:
    name = call.params["name"]
    if name not in await _run(svc.traits):
        raise PlacementError(404, f"No such trait(s): {name}")
    return no_content()


async def put_trait(svc: CapacityService, call: Call) -> Response:
    name = call.params["name"]
    if not is_custom(name):
        raise bad(
            "The trait is invalid. A valid trait must be no longer than 255 characters, "
            'start with the prefix "CUSTOM_" and use following characters: '
            '"A"-"Z", "0"-"9" and "_"'
        )
    new = await _run(svc.add_custom, TRAIT, name)
    return Response(
        status_code=201 if new else 204,
        headers={"location": f"{call.request.scope.get('root_path', '')}/traits/{name}"},
    )


async def delete_trait(svc: CapacityService, call: Call) -> Response:
    name = call.params["name"]
    if not is_custom(name):
        raise bad(f"Cannot delete standard trait {name}.")
    await _run(svc.store.delete_custom_name, TRAIT, name)
    return no_content()


# allocations


async def provider_allocations(svc: CapacityService, call: Call) -> Response:
    p = await _run(svc.provider, call.params["uuid"])
    allocs = await _run(svc.store.provider_allocations, p.uuid)
    return json_response(
        {
            "resource_provider_generation": p.generation,
            "allocations": {c: {"resources": a} for c, a in allocs.items()},
        }
    )


async def get_allocations(svc: CapacityService, call: Call) -> Response:
    consumer, allocs = await _run(svc.store.consumer, call.params["consumer"])
    gens = {p: (await _run(svc.store.provider, p)) for p in allocs}
    out: dict[str, Any] = {
        "allocations": {
            p: {"resources": a, "generation": gens[p].generation if gens[p] else None}
            for p, a in allocs.items()
        }
    }
    if call.at_least(12) and consumer is not None:
        out["project_id"] = consumer.project_id
        out["user_id"] = consumer.user_id
    if call.at_least(28) and consumer is not None:
        out["consumer_generation"] = consumer.generation
    return json_response(out)


_RESOURCES = {
    "type": "object",
    "minProperties": 1,
    "patternProperties": {"^[0-9A-Z_]+$": {"type": "integer", "minimum": 1, "maximum": MAX_INT}},
    "additionalProperties": False,
}


def _consumer_schema(call: Call) -> dict[str, Any]:
    if call.at_least(12):
        allocations: dict[str, Any] = {
            "type": "object",
            "patternProperties": {
                "^[0-9a-fA-F-]{36}$": {
                    "type": "object",
                    "properties": {"resources": _RESOURCES, "generation": {}},
                    "required": ["resources"],
                    "additionalProperties": False,
                }
            },
            "additionalProperties": False,
        }
        if not call.at_least(28):
            allocations["minProperties"] = 1
    else:
        allocations = {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "resource_provider": {
                        "type": "object",
                        "properties": {"uuid": UUID},
                        "required": ["uuid"],
                        "additionalProperties": False,
                    },
                    "resources": _RESOURCES,
                },
                "required": ["resource_provider", "resources"],
                "additionalProperties": False,
            },
        }
    props: dict[str, Any] = {"allocations": allocations}
    required = ["allocations"]
    if call.at_least(8):
        props |= {
            "project_id": {"type": "string", "minLength": 1, "maxLength": 255},
            "user_id": {"type": "string", "minLength": 1, "maxLength": 255},
        }
        required += ["project_id", "user_id"]
    if call.at_least(28):
        props["consumer_generation"] = {"type": ["integer", "null"]}
        required.append("consumer_generation")
    return {
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": False,
    }


def _write(call: Call, consumer: str, data: dict[str, Any]) -> ConsumerWrite:
    raw = data["allocations"]
    if isinstance(raw, list):
        allocs: dict[str, dict[str, int]] = {}
        for item in raw:
            allocs.setdefault(item["resource_provider"]["uuid"], {}).update(item["resources"])
    else:
        allocs = {p: dict(a["resources"]) for p, a in raw.items()}
    return ConsumerWrite(
        consumer,
        allocs,
        data.get("project_id", "default"),
        data.get("user_id", "default"),
        data.get("consumer_generation"),
        check=call.at_least(28),
    )


async def put_allocations(svc: CapacityService, call: Call) -> Response:
    try:  # a consumer is a uuid, dash-less or not, stored in its dashed form
        consumer = str(uuidlib.UUID(call.params["consumer"]))
    except ValueError:
        raise bad(f"Malformed consumer_uuid: {call.params['consumer']}") from None
    data = await call.body(_consumer_schema(call))
    try:
        await _run(svc.write_allocations, [_write(call, consumer, data)])
    except NoProvider as e:
        raise bad(str(e)) from None
    except Missing as e:
        raise bad(f"Unable to allocate inventory for consumer {consumer}: {e}") from None
    return no_content()


async def post_allocations(svc: CapacityService, call: Call) -> Response:
    if not call.at_least(13):  # the path is known (other methods are a 405), POST is not yet
        raise PlacementError(404, "The resource could not be found.")
    one = _consumer_schema(call)
    one["properties"]["allocations"].pop("minProperties", None)
    data = await call.body(
        {
            "type": "object",
            "minProperties": 1,
            "patternProperties": {"^[0-9a-fA-F-]{36}$": one},
            "additionalProperties": False,
        }
    )
    try:
        await _run(svc.write_allocations, [_write(call, c, d) for c, d in data.items()])
    except NoProvider as e:
        raise bad(str(e)) from None
    except Missing as e:
        raise bad(f"Unable to allocate inventory: {e}") from None
    return no_content()


async def delete_allocations(svc: CapacityService, call: Call) -> Response:
    _, allocs = await _run(svc.store.consumer, call.params["consumer"])
    if not allocs:
        raise PlacementError(404, f"No allocations for consumer '{call.params['consumer']}'")
    await _run(
        svc.write_allocations,
        [ConsumerWrite(call.params["consumer"], {}, "", "", check=False, quiet=True)],
    )
    return no_content()


_ID = {"type": "string", "minLength": 1, "maxLength": 255}
USAGES_QUERY = {
    "type": "object",
    "properties": {"project_id": _ID, "user_id": _ID},
    "required": ["project_id"],
    "additionalProperties": False,
}
"""Placement's schema of the query of `GET /usages` (1.9)."""


async def usages(svc: CapacityService, call: Call) -> Response:
    if not call.at_least(9):
        raise PlacementError(404, "The resource could not be found.")
    q = call.checked_query(USAGES_QUERY)
    return json_response(
        {"usages": await _run(svc.store.project_usages, q["project_id"], q.get("user_id"))}
    )


# allocation candidates


async def allocation_candidates(svc: CapacityService, call: Call) -> Response:
    if not call.at_least(10):
        raise PlacementError(404, "The resource could not be found.")
    q = call.query()
    allowed = {"resources"} | ({"limit"} if call.at_least(16) else set())
    allowed |= {"required"} if call.at_least(17) else set()
    allowed |= {"member_of"} if call.at_least(21) else set()
    check_params(q, allowed)
    if any(v.startswith("!") for v in q.get("required", [])) and not call.at_least(22):
        pass  # before 1.22 a '!' name is an unknown trait, as Placement says below
    try:
        request = cands.parse_request(q)
    except cands.BadQuery as e:
        raise bad(str(e)) from None
    try:
        found, states = await _run(svc.candidates, request)
    except Missing as e:
        raise bad(
            f"Invalid resource class in resources parameter: {e}" if "class" in str(e) else str(e)
        ) from None
    if call.at_least(12):
        requests: list[Any] = [
            {"allocations": {p: {"resources": a} for p, a in ar.items()}}
            for ar in found.allocation_requests
        ]
    else:
        requests = [
            {
                "allocations": [
                    {"resource_provider": {"uuid": p}, "resources": a} for p, a in ar.items()
                ]
            }
            for ar in found.allocation_requests
        ]
    summaries: dict[str, Any] = {}
    for uuid in sorted(found.providers):
        s = states[uuid]
        classes = (
            s.inventories
            if call.at_least(27)
            else {rc: i for rc, i in s.inventories.items() if rc in request.resources}
        )
        if not classes and not call.at_least(29):
            in_request = any(uuid in ar for ar in found.allocation_requests)
            if not in_request:
                continue
        summary: dict[str, Any] = {
            "resources": {
                rc: {"capacity": i.capacity, "used": s.used.get(rc, 0)} for rc, i in classes.items()
            }
        }
        if call.at_least(17):
            summary["traits"] = sorted(s.traits)
        if call.at_least(14):
            summary["parent_provider_uuid"] = s.provider.parent_uuid
            summary["root_provider_uuid"] = s.root
        summaries[uuid] = summary
    return json_response({"allocation_requests": requests, "provider_summaries": summaries})
