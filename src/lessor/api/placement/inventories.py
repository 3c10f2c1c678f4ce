"""A provider's inventories (one class or all at once, with its generation) and its usages."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from lessor.api.placement.handler import in_thread
from lessor.api.placement.http import Call, PlacementError, bad, json_response, no_content
from lessor.domain.capacity import MAX_INT, Inventory
from lessor.service.capacity import CapacityService

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
    p = await in_thread(svc.provider, call.params["uuid"])
    inv = await in_thread(svc.store.inventories, p.uuid)
    return json_response(
        {
            "resource_provider_generation": p.generation,
            "inventories": {rc: _inventory_json(i) for rc, i in inv.items()},
        }
    )


async def put_inventories(svc: CapacityService, call: Call) -> Response:
    p = await in_thread(svc.provider, call.params["uuid"])
    data = await call.body(INVENTORIES)
    new = {
        rc: _inventory(rc, d, p.uuid, call.at_least(26)) for rc, d in data["inventories"].items()
    }
    await _check_classes(svc, new)
    p = await in_thread(svc.set_inventories, p.uuid, data["resource_provider_generation"], new)
    return json_response(
        {
            "resource_provider_generation": p.generation,
            "inventories": {rc: _inventory_json(i) for rc, i in new.items()},
        }
    )


async def _check_classes(svc: CapacityService, names: Any) -> None:
    for rc in names:
        if not await in_thread(svc.has_resource_class, rc):
            raise bad(
                f"Unknown resource class in inventory for resource provider "
                f"{rc}: No such resource class {rc}."
            )


async def post_inventory(svc: CapacityService, call: Call) -> Response:
    p = await in_thread(svc.provider, call.params["uuid"])
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
    current = await in_thread(svc.store.inventories, p.uuid)
    if rc in current:
        raise PlacementError(
            409,
            f"Update conflict: Inventory for {rc} on resource provider {p.uuid} already exists.",
        )
    p = await in_thread(
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
    p = await in_thread(svc.provider, call.params["uuid"])
    inv = (await in_thread(svc.store.inventories, p.uuid)).get(call.params["rc"])
    if inv is None:
        raise PlacementError(404, f"No inventory of class {call.params['rc']} for {p.uuid}")
    return json_response({"resource_provider_generation": p.generation, **_inventory_json(inv)})


async def put_inventory(svc: CapacityService, call: Call) -> Response:
    p = await in_thread(svc.provider, call.params["uuid"])
    schema = {**INVENTORY, "required": ["total", "resource_provider_generation"]}
    data = await call.body(schema)
    rc = call.params["rc"]
    await _check_classes(svc, [rc])
    inv = _inventory(rc, data, p.uuid, call.at_least(26))
    current = await in_thread(svc.store.inventories, p.uuid)
    if rc not in current:
        raise bad(f"No inventory record with resource class for resource provider {p.uuid}")
    p = await in_thread(
        svc.set_inventories, p.uuid, data["resource_provider_generation"], {**current, rc: inv}
    )
    return json_response({"resource_provider_generation": p.generation, **_inventory_json(inv)})


async def delete_inventory(svc: CapacityService, call: Call) -> Response:
    p = await in_thread(svc.provider, call.params["uuid"])
    rc = call.params["rc"]
    current = await in_thread(svc.store.inventories, p.uuid)
    if rc not in current:
        raise PlacementError(404, f"No inventory of class {rc} found for delete")
    await in_thread(
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
    p = await in_thread(svc.provider, call.params["uuid"])
    await in_thread(svc.set_inventories, p.uuid, p.generation, {})
    return no_content()


async def get_usages(svc: CapacityService, call: Call) -> Response:
    p = await in_thread(svc.provider, call.params["uuid"])
    used = await in_thread(svc.store.usages, p.uuid)
    inv = await in_thread(svc.store.inventories, p.uuid)
    return json_response(
        {
            "resource_provider_generation": p.generation,
            "usages": {rc: used.get(rc, 0) for rc in inv} | used,
        }
    )
