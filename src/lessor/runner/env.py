"""The hook contract: what a hook learns, all through environment variables.

A hook's environment is built, never inherited: a short allow-list of the
server's own variables (what any program needs to run: PATH, HOME, the
locale...), the names the administrator chose to pass on (`pass_env`, e.g. a
cloud CLI's OS_CLOUD or AWS_PROFILE), and the hook's own variables. Nothing
else of the server's environment reaches a hook, so neither its admin token
nor a database password does.

The RESALLOC_* set of each hook kind is resalloc's own (manager.py's
command_env): RESALLOC_ID, RESALLOC_NAME, RESALLOC_POOL_ID and
RESALLOC_ID_IN_POOL always (the string "None" where there is no value),
RESALLOC_RESOURCE_DATA only where there is data to pass, so never for cmd_new
(nothing printed yet), cmd_list or the cleanup of untracked instances.
"""

from __future__ import annotations

import base64
import math
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from lessor.domain.hooks import Hook
from lessor.domain.model import Resource

UNTRACKED_ID = 0
"""RESALLOC_ID given to hooks run for no resource of ours (cmd_list, deleting what it found).

resalloc uses 0 too, so their logs land in `hooks/000000_list` and
`hooks/000000_terminate`, where its operators look for them.
"""

ALLOWED = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR")
"""The server's variables every hook gets (when the server has them), besides every LC_*."""

OWN_PREFIXES = ("LESSOR_", "RESALLOC_")
"""Names never passed on from the server: its own settings (an admin token, a database URL)
and the hook variables, which lessor sets itself."""


def base_env(
    pass_env: Iterable[str] = (), environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The part of a hook's environment taken from the server's (`environ`, os.environ).

    `pass_env` names further variables to pass on: a name, or a prefix ending
    in `*` (`OS_*`). Names starting with LESSOR_ or RESALLOC_ are never passed.
    """
    source = os.environ if environ is None else environ
    names = set(ALLOWED)
    prefixes = ["LC_"]
    for item in pass_env:
        if item.endswith("*"):
            prefixes.append(item[:-1])
        else:
            names.add(item)
    return {
        name: value
        for name, value in source.items()
        if (name in names or any(name.startswith(p) for p in prefixes))
        and not name.startswith(OWN_PREFIXES)
    }


def hook_env(resource: Resource, hook: Hook, expires_at: float | None = None) -> dict[str, str]:
    """The variables of a hook run for one of our resources: resalloc's and lessor's.

    RESALLOC_RESOURCE_DATA is base64, as resalloc passes it; LESSOR_RESOURCE_DATA
    is the text itself when it is text an environment can hold. `expires_at`: a
    credential's lease end (cmd_new, cmd_extend), as LESSOR_EXPIRES_AT.
    """
    env = {
        "RESALLOC_ID": str(resource.id),
        "RESALLOC_NAME": resource.name,
        "RESALLOC_POOL_ID": resource.pool,
        "RESALLOC_ID_IN_POOL": str(resource.id_in_pool),
        "LESSOR_HOOK": hook.key,
        "LESSOR_RESOURCE_ID": str(resource.id),
        "LESSOR_RESOURCE_NAME": resource.name,
        "LESSOR_POOL": resource.pool,
        "LESSOR_ID_IN_POOL": str(resource.id_in_pool),
        "LESSOR_SANDBOX": resource.sandbox or "",
    }
    for name, value in resource.counters:
        env[f"RESALLOC_NAMED_COUNTER_{name}"] = str(value)
        env[f"LESSOR_NAMED_COUNTER_{name}"] = str(value)
    if hook is not Hook.NEW and resource.data is not None:
        env.update(_data_env(resource.data))
    if expires_at is not None:
        env["LESSOR_EXPIRES_AT"] = iso_utc(expires_at)
    return env


def iso_utc(at: float) -> str:
    """ISO 8601 in UTC to the second, rounded up: a credential told this end never dies
    before its lease does (`2026-12-03T10:00:00Z`, which PostgreSQL's VALID UNTIL and
    `date -d` read)."""
    return datetime.fromtimestamp(math.ceil(at), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def untracked_env(hook: Hook, pool: str, name: str | None) -> dict[str, str]:
    """For cmd_list (no name) and for cmd_delete of an instance cmd_list found untracked.

    As resalloc: id 0, the listed name (or "None"), no id in pool and no data.
    """
    env = {
        "RESALLOC_ID": str(UNTRACKED_ID),
        "RESALLOC_NAME": name if name is not None else "None",
        "RESALLOC_POOL_ID": pool,
        "RESALLOC_ID_IN_POOL": "None",
        "LESSOR_HOOK": hook.key,
        "LESSOR_RESOURCE_ID": str(UNTRACKED_ID),
        "LESSOR_POOL": pool,
    }
    if name is not None:
        env["LESSOR_RESOURCE_NAME"] = name
    return env


def _data_env(data: bytes) -> dict[str, str]:
    b64 = base64.b64encode(data).decode()
    env = {"RESALLOC_RESOURCE_DATA": b64, "LESSOR_RESOURCE_DATA_B64": b64}
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return env
    if "\0" not in text:
        env["LESSOR_RESOURCE_DATA"] = text
    return env
