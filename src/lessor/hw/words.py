"""How `lessor hw` says amounts of hardware: "1 core", "2 cores", "1 NIC and 2 GPUs"."""

from __future__ import annotations

NOUNS = {"cores": ("core", "cores"), "nics": ("NIC", "NICs"), "gpus": ("GPU", "GPUs")}


def amount(n: int, kind: str) -> str:
    """`kind` is cores, nics or gpus, or any English noun (an s makes its plural)."""
    one, many = NOUNS.get(kind, (kind, kind + "s"))
    return f"{n} {one if n == 1 else many}"


def listing(parts: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]
