"""The hook contract: what a hook learns about its resource, all through environment variables."""

from __future__ import annotations

import base64

from lessor.domain.model import Resource

UNTRACKED_ID = 0
"""RESALLOC_ID given to hooks run for no resource of ours (cmd_list, deleting what it found).

resalloc uses 0 too, so their logs land in `hooks/000000_list` and
`hooks/000000_terminate`, where its operators look for them.
"""


def hook_env(resource: Resource) -> dict[str, str]:
    """resalloc's variables (for existing scripts) and their LESSOR_* equivalents.

    RESALLOC_RESOURCE_DATA is base64, as resalloc passes it; LESSOR_RESOURCE_DATA
    is the text itself when it is text an environment can hold.
    """
    data = resource.data or b""
    b64 = base64.b64encode(data).decode()
    env = {
        "RESALLOC_ID": str(resource.id),
        "RESALLOC_NAME": resource.name,
        "RESALLOC_POOL_ID": resource.pool,
        "RESALLOC_ID_IN_POOL": str(resource.id_in_pool),
        "RESALLOC_RESOURCE_DATA": b64,
        "LESSOR_RESOURCE_ID": str(resource.id),
        "LESSOR_RESOURCE_NAME": resource.name,
        "LESSOR_POOL": resource.pool,
        "LESSOR_ID_IN_POOL": str(resource.id_in_pool),
        "LESSOR_RESOURCE_DATA_B64": b64,
        "LESSOR_SANDBOX": resource.sandbox or "",
    }
    for name, value in resource.counters:
        env[f"RESALLOC_NAMED_COUNTER_{name}"] = str(value)
        env[f"LESSOR_NAMED_COUNTER_{name}"] = str(value)
    try:
        text = data.decode()
        if "\0" not in text:
            env["LESSOR_RESOURCE_DATA"] = text
    except UnicodeDecodeError:
        pass
    return env


def untracked_env(pool: str, name: str | None) -> dict[str, str]:
    """For cmd_list (no name) and for cmd_delete of an instance cmd_list found untracked.

    As resalloc: id 0, the listed name, no id in pool and no data.
    """
    env = {
        "RESALLOC_ID": str(UNTRACKED_ID),
        "RESALLOC_NAME": name if name is not None else "None",
        "RESALLOC_POOL_ID": pool,
        "RESALLOC_ID_IN_POOL": "None",
        "LESSOR_RESOURCE_ID": str(UNTRACKED_ID),
        "LESSOR_POOL": pool,
    }
    if name is not None:
        env["LESSOR_RESOURCE_NAME"] = name
    return env
