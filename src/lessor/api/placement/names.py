"""Resource classes and traits: standard names (os-resource-classes, os-traits), CUSTOM_ ones."""

from __future__ import annotations

import json

from starlette.responses import Response

from lessor.api.placement.handler import in_thread
from lessor.api.placement.http import (
    Call,
    PlacementError,
    Uncached,
    bad,
    check_params,
    json_response,
    no_content,
)
from lessor.domain.capacity import is_custom
from lessor.service.capacity import RESOURCE_CLASS, TRAIT, CapacityService


async def list_classes(svc: CapacityService, call: Call) -> Response:
    names = await in_thread(svc.resource_classes)
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
    if not await in_thread(svc.add_custom, RESOURCE_CLASS, data["name"]):
        raise PlacementError(
            409,
            f"Conflicting resource class already exists: {data['name']}",
            "placement.duplicate_name",
        )
    return Uncached(status_code=201, headers=_class_location(call, data["name"]))


async def get_class(svc: CapacityService, call: Call) -> Response:
    name = call.params["name"]
    if not await in_thread(svc.has_resource_class, name):
        raise PlacementError(404, f"No such resource class {name}.")
    return json_response(
        {"name": name, "links": [{"rel": "self", "href": f"/resource_classes/{name}"}]}
    )


async def put_class(svc: CapacityService, call: Call) -> Response:
    name = call.params["name"]
    if not call.at_least(7):
        return await _rename_class(svc, call, name)
    Call.check(CLASS_NAME, {"name": name})
    new = await in_thread(svc.add_custom, RESOURCE_CLASS, name)
    return Uncached(status_code=201 if new else 204, headers=_class_location(call, name))


async def _rename_class(svc: CapacityService, call: Call, name: str) -> Response:
    """Before 1.7 a PUT with a body renames a custom class (its inventories and
    allocations follow); a standard class cannot be renamed."""
    new = (await call.body(CLASS_NAME))["name"]
    if not await in_thread(svc.has_resource_class, name):
        raise PlacementError(404, f"No such resource class {name}.")
    if not is_custom(name):
        raise bad(f"Cannot update standard resource class {name}")
    await in_thread(svc.store.rename_custom_class, name, new)
    return Uncached(
        json.dumps({"name": new, "links": [{"rel": "self", "href": f"/resource_classes/{new}"}]}),
        media_type="application/json",
    )


async def delete_class(svc: CapacityService, call: Call) -> Response:
    name = call.params["name"]
    if not is_custom(name) and await in_thread(svc.has_resource_class, name):
        raise bad(
            f"Cannot delete standard resource class {name}: Cannot delete standard resource class"
        )
    await in_thread(svc.store.delete_custom_name, RESOURCE_CLASS, name)
    return no_content()


async def list_traits(svc: CapacityService, call: Call) -> Response:
    q = call.query()
    check_params(q, {"name", "associated"})
    names = await in_thread(svc.traits)
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
        used = set().union(*(s.traits for s in await in_thread(svc.states)))
        value = q["associated"][-1].lower()
        if value not in ("true", "false"):
            raise bad('The query parameter "associated" only accepts "true" or "false"')
        want = value == "true"
        names = [n for n in names if (n in used) == want]
    return json_response({"traits": names})


async def get_trait(svc: CapacityService, call: Call) -> Response:
    name = call.params["name"]
    if name not in await in_thread(svc.traits):
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
    new = await in_thread(svc.add_custom, TRAIT, name)
    return Response(
        status_code=201 if new else 204,
        headers={"location": f"{call.request.scope.get('root_path', '')}/traits/{name}"},
    )


async def delete_trait(svc: CapacityService, call: Call) -> Response:
    name = call.params["name"]
    if not is_custom(name):
        raise bad(f"Cannot delete standard trait {name}.")
    await in_thread(svc.store.delete_custom_name, TRAIT, name)
    return no_content()
