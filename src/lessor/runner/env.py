"""The hook contract: what a hook learns about its resource, all through environment variables."""

from __future__ import annotations

import base64

from lessor.domain.model import Resource


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
    try:
        text = data.decode()
        if "\0" not in text:
            env["LESSOR_RESOURCE_DATA"] = text
    except UnicodeDecodeError:
        pass
    return env
