"""What NVIDIA's management library knows of the GPUs sysfs found: index, UUID, name, memory, MIG.

Optional in every way: without the `nvidia-ml-py` package (`pip install
lessor[gpu]`), without a driver, or with any call failing, the GPUs stay as
sysfs described them and `CUDA_VISIBLE_DEVICES` lists indexes instead of
UUIDs. Nothing here may fail a reservation.
"""

from __future__ import annotations

import contextlib
from types import ModuleType
from typing import Any


def facts(library: ModuleType | None = None) -> dict[str, dict[str, Any]]:
    """PCI address -> index, uuid, name, memory_mb, mig of each GPU NVML sees; {} without it."""
    nv: Any = library
    if nv is None:
        try:
            import pynvml as nv  # type: ignore[import-not-found,no-redef,unused-ignore]
        except ImportError:
            return {}
    try:
        nv.nvmlInit()
    except Exception:  # no driver, no libnvidia-ml.so, a driver/library mismatch: sysfs only
        return {}
    try:
        known = _devices(nv)
    finally:
        with contextlib.suppress(Exception):  # the shutdown of a library that may be half there
            nv.nvmlShutdown()
    return known


def _devices(nv: Any) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    try:
        count = int(nv.nvmlDeviceGetCount())
    except Exception:
        return found
    for index in range(count):
        try:
            handle = nv.nvmlDeviceGetHandleByIndex(index)
            pci = _pci(nv.nvmlDeviceGetPciInfo(handle).busId)
        except Exception:
            continue
        facts: dict[str, Any] = {"index": index}
        facts["uuid"] = _text(_call(nv.nvmlDeviceGetUUID, handle))
        facts["name"] = _text(_call(nv.nvmlDeviceGetName, handle))
        memory = _call(nv.nvmlDeviceGetMemoryInfo, handle)
        facts["memory_mb"] = int(memory.total) // (1024 * 1024) if memory is not None else None
        mig = _call(nv.nvmlDeviceGetMigMode, handle)  # (current, pending); not on every GPU
        facts["mig"] = bool(mig[0]) if mig is not None else None
        found[pci] = facts
    return found


def _call(fn: Any, handle: Any) -> Any:
    try:
        return fn(handle)
    except Exception:
        return None


def _pci(bus_id: bytes | str) -> str:
    """NVML's '00000000:3B:00.0' as sysfs names it: '0000:3b:00.0'."""
    text = bus_id.decode() if isinstance(bus_id, bytes) else str(bus_id)
    return text.lower()[-12:]


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
