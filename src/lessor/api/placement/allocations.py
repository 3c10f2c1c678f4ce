"""Allocations (per consumer, with consumer generations, on several providers) and usages."""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

from starlette.responses import Response

from lessor.api.placement.handler import UUID, in_thread
from lessor.api.placement.http import Call, PlacementError, bad, json_response, no_content
from lessor.domain.capacity import MAX_INT, ConsumerWrite, Missing, NoProvider
from lessor.service.capacity import CapacityService


async def provider_allocations(svc: CapacityService, call: Call) -> Response:
    p = await in_thread(svc.provider, call.params["uuid"])
    allocs = await in_thread(svc.store.provider_allocations, p.uuid)
    return json_response(
        {
            "resource_provider_generation": p.generation,
            "allocations": {c: {"resources": a} for c, a in allocs.items()},
        }
    )


async def get_allocations(svc: CapacityService, call: Call) -> Response:
    consumer, allocs = await in_thread(svc.store.consumer, call.params["consumer"])
    gens = {p: (await in_thread(svc.store.provider, p)) for p in allocs}
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
    writes = [_write(call, consumer, data)]
    return await _write_all(svc, writes, f"Unable to allocate inventory for consumer {consumer}")


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
    writes = [_write(call, c, d) for c, d in data.items()]
    return await _write_all(svc, writes, "Unable to allocate inventory")


async def _write_all(svc: CapacityService, writes: list[ConsumerWrite], unable: str) -> Response:
    """Write the consumers' allocations at once; what names nothing is Placement's 400."""
    try:
        await in_thread(svc.write_allocations, writes)
    except NoProvider as e:
        raise bad(str(e)) from None
    except Missing as e:
        raise bad(f"{unable}: {e}") from None
    return no_content()


async def delete_allocations(svc: CapacityService, call: Call) -> Response:
    _, allocs = await in_thread(svc.store.consumer, call.params["consumer"])
    if not allocs:
        raise PlacementError(404, f"No allocations for consumer '{call.params['consumer']}'")
    await in_thread(
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
        {"usages": await in_thread(svc.store.project_usages, q["project_id"], q.get("user_id"))}
    )
