"""Allocation candidates: the sets of providers that can satisfy a request now, with summaries."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from lessor.api.placement.handler import in_thread
from lessor.api.placement.http import Call, PlacementError, bad, check_params, json_response
from lessor.domain import candidates as cands
from lessor.domain.capacity import Missing
from lessor.service.capacity import CapacityService


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
        found, states = await in_thread(svc.candidates, request)
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
