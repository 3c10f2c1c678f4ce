"""JSON for the state directory's files, written without importing `json` on the run path.

`json` imports `re`, ~8 ms of start-up here; the run path only ever writes
flat records (strings, numbers, lists of them), so it writes them itself.
Reading — `status`, and a waiter naming who holds the hardware — is rarer
and uses `json`. What this writes, `json.loads` reads back exactly.
"""

from __future__ import annotations

_ESCAPES = {c: f"\\u{c:04x}" for c in (*range(0x20), 0x7F)} | {0x22: '\\"', 0x5C: "\\\\"}


def dumps(value: object) -> str:
    """Compact JSON of None, bools, ints, floats, strings, and lists, tuples and dicts of them."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_string(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _string(s: str) -> str:
    """Control characters, quotes, backslashes and lone surrogates escaped; the rest as is."""
    out = s.translate(_ESCAPES)
    try:
        out.encode()
    except UnicodeEncodeError:  # lone surrogates: undecodable bytes in a command line
        out = "".join(f"\\u{ord(c):04x}" if 0xD800 <= ord(c) < 0xE000 else c for c in out)
    return '"' + out + '"'


def loads(raw: bytes | str) -> dict[str, object] | None:
    """A JSON object, or None when the text is not one (a file caught mid-write)."""
    import json

    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
