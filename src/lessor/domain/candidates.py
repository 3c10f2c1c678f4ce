"""Allocation candidates: the sets of providers that can satisfy a request now.

The search is bounded and explainable, which Placement's is not: it stops
after `budget` combinations and says `truncated`, and every provider it
rejected comes back with why ("VCPU: 2 asked, 1 free", "lacks
HW_CPU_X86_AVX2", "reserved: draining").

A request's resources are taken from the providers of one provider tree
(a host and its NUMA nodes), or from providers that share theirs with it
through an aggregate (MISC_SHARES_VIA_AGGREGATE). Required traits must be
on some provider of a candidate, forbidden ones (`!T`) on none of them,
and each `in:A,B` any-of set on at least one; each `member_of` set names
aggregates of which every provider of a candidate (or its root) is in one.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from lessor.domain.capacity import MAX_INT, ProviderState

Allocation = dict[str, dict[str, int]]
"""Provider uuid → resource class → amount."""


class BadQuery(ValueError):
    """A candidate query that cannot be read: the message names the parameter."""


class Contradiction(BadQuery):
    """A well-formed query that cannot be answered: a trait both required and forbidden, a
    resource class asked twice."""


@dataclass(frozen=True)
class Request:
    """What a consumer asks for: amounts, traits, aggregates and how many candidates."""

    resources: Mapping[str, int]
    required: frozenset[str] = frozenset()
    forbidden: frozenset[str] = frozenset()
    any_of: tuple[frozenset[str], ...] = ()
    member_of: tuple[frozenset[str], ...] = ()
    not_member_of: frozenset[str] = frozenset()
    limit: int | None = None


@dataclass
class Candidates:
    """The answer to a request: allocation requests, the providers they name, and why not."""

    allocation_requests: list[Allocation] = field(default_factory=list)
    providers: set[str] = field(default_factory=set)
    """Every provider of the trees a candidate uses (Placement's provider_summaries)."""
    truncated: bool = False
    """The budget ran out: there may be more candidates than these."""
    rejected: dict[str, list[str]] = field(default_factory=dict)
    """Provider uuid → why it could not serve (only when explaining)."""


def parse_resources(text: str, name: str = "resources") -> dict[str, int]:
    """`VCPU:2,MEMORY_MB:4096` → {"VCPU": 2, "MEMORY_MB": 4096}."""
    out: dict[str, int] = {}
    for part in text.split(","):
        rc, sep, amount = part.strip().partition(":")
        if not sep or not rc:
            raise BadQuery(
                f"Badly formed {name} parameter. Expected {name} query string "
                f"parameter in form: ?{name}=VCPU:2,MEMORY_MB:1024. Got: {text}."
            )
        try:
            value = int(amount)
        except ValueError:
            raise BadQuery(
                f"Requested resource {rc} expected positive integer amount. Got: {amount}."
            ) from None
        if value < 1 or value > MAX_INT:
            raise BadQuery(f"Requested resource {rc} requires amount >= 1. Got: {value}.")
        if rc in out:
            raise Contradiction(f"Resource class {rc} is repeated in {name}.")
        out[rc] = value
    return out


def parse_traits(
    values: Iterable[str],
) -> tuple[frozenset[str], frozenset[str], tuple[frozenset[str], ...]]:
    """`required` values → (required, forbidden, any-of sets)."""
    required: set[str] = set()
    forbidden: set[str] = set()
    any_of: list[frozenset[str]] = []
    for value in values:
        if value.startswith("in:"):
            names = [n.strip() for n in value[3:].split(",") if n.strip()]
            if not names:
                raise BadQuery(
                    "Invalid query string parameters: Expected 'required' "
                    f"parameter value of the form: in:HW_CPU_X86_VMX,CUSTOM_MAGIC. Got: {value}"
                )
            any_of.append(frozenset(names))
            continue
        for name in (n.strip() for n in value.split(",")):
            if not name:
                raise BadQuery(
                    f"Invalid query string parameters: Expected 'required' parameter "
                    f"value of the form: HW_CPU_X86_VMX,CUSTOM_MAGIC. Got: {value}"
                )
            if name.startswith("!"):
                forbidden.add(name[1:])
            else:
                required.add(name)
    both = required & forbidden
    if both:
        raise Contradiction(
            f"Conflicting required and forbidden traits found in the following "
            f"traits keys: {', '.join(sorted(both))}"
        )
    return frozenset(required), frozenset(forbidden), tuple(any_of)


def parse_member_of(values: Iterable[str]) -> tuple[tuple[frozenset[str], ...], frozenset[str]]:
    """`member_of` values (`in:a,b`, `a`, `!a`, `!in:a,b`) → (any-of sets, forbidden)."""
    sets: list[frozenset[str]] = []
    forbidden: set[str] = set()
    for value in values:
        negated = value.startswith("!")
        text = value[1:] if negated else value
        text = text[3:] if text.startswith("in:") else text
        names = frozenset(n.strip() for n in text.split(",") if n.strip())
        if not names:
            raise BadQuery(f"Invalid member_of parameter: {value}")
        if negated:
            forbidden |= names
        else:
            sets.append(names)
    return tuple(sets), frozenset(forbidden)


def parse_request(query: Mapping[str, Sequence[str]]) -> Request:
    """A request from query parameters (each name → its values), as Placement spells them."""
    resources_text = query.get("resources", [])
    if not resources_text:
        raise BadQuery("'resources' is a required property")
    resources = parse_resources(resources_text[-1])
    required, forbidden, any_of = parse_traits(query.get("required", []))
    member_of, not_member_of = parse_member_of(query.get("member_of", []))
    limit = None
    if query.get("limit"):
        text = query["limit"][-1]
        if not text.isdigit() or int(text) < 1:
            raise BadQuery(
                f"Invalid query string parameters: limit: '{text}' does not match '^[1-9][0-9]*$'"
            )
        limit = int(text)
    return Request(resources, required, forbidden, any_of, member_of, not_member_of, limit)


def search(
    states: Iterable[ProviderState],
    request: Request,
    *,
    budget: int = 1_000_000,
    explain: bool = False,
) -> Candidates:
    """The candidates of `request` among `states`: at most `request.limit` of them, and at most
    `budget` combinations looked at."""
    by_uuid = {s.uuid: s for s in states}
    trees: dict[str, list[ProviderState]] = {}
    for s in by_uuid.values():
        trees.setdefault(s.root, []).append(s)
    sharing = [s for s in by_uuid.values() if s.shares]
    out = Candidates()
    seen: set[tuple[tuple[str, str, int], ...]] = set()
    steps = 0

    def member(s: ProviderState) -> bool:
        root_aggs = by_uuid[s.root].aggregates if s.root in by_uuid else frozenset()
        aggs = s.aggregates | root_aggs
        if aggs & request.not_member_of:
            return False
        return all(aggs & wanted for wanted in request.member_of)

    def reject(s: ProviderState, why: str) -> None:
        if explain:
            out.rejected.setdefault(s.uuid, []).append(why)

    for members in trees.values():
        tree_aggs: frozenset[str] = frozenset().union(*(s.aggregates for s in members))
        shared = [s for s in sharing if s.root != members[0].root and s.aggregates & tree_aggs]
        options: list[list[ProviderState]] = []
        for rc, amount in request.resources.items():
            fit = []
            for s in [*members, *shared]:
                refused = s.refusal(rc, amount)
                if refused is not None:
                    if rc in s.inventories or s.reason is not None:
                        reject(s, refused)
                    continue
                if not member(s):
                    reject(s, "not a member of the aggregates asked for")
                    continue
                if s.traits & request.forbidden:
                    reject(s, f"has {', '.join(sorted(s.traits & request.forbidden))}")
                    continue
                fit.append(s)
            if not fit:
                for s in members:
                    if rc not in s.inventories and len(members) == 1:
                        reject(s, f"{rc}: no inventory")
                break
            options.append(fit)
        else:
            for combo in itertools.product(*options):
                steps += 1
                if steps > budget:
                    out.truncated = True
                    return out
                used = {s.uuid: s for s in combo}
                traits = frozenset().union(*(s.traits for s in used.values()))
                if root := by_uuid.get(members[0].root):
                    traits |= root.traits
                missing = request.required - traits
                if missing:
                    for s in used.values():
                        reject(s, f"lacks {', '.join(sorted(missing))}")
                    continue
                if traits & request.forbidden:
                    continue
                if not all(traits & wanted for wanted in request.any_of):
                    for s in used.values():
                        reject(
                            s,
                            "has none of "
                            + "; ".join(
                                ", ".join(sorted(w)) for w in request.any_of if not traits & w
                            ),
                        )
                    continue
                allocation: Allocation = {}
                for (rc, amount), s in zip(request.resources.items(), combo, strict=True):
                    allocation.setdefault(s.uuid, {})[rc] = amount
                key = tuple(
                    sorted((p, rc, a) for p, rcs in allocation.items() for rc, a in rcs.items())
                )
                if key in seen:
                    continue
                seen.add(key)
                out.allocation_requests.append(allocation)
                for s in used.values():
                    out.providers.update(t.uuid for t in trees.get(s.root, [s]))
                if request.limit is not None and len(out.allocation_requests) >= request.limit:
                    return out
    return out
