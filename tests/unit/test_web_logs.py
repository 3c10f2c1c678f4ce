"""Hook logs as the UI serves them: plain files, their end when long, control characters shown."""

from __future__ import annotations

from pathlib import Path

from lessor.web import logs


def write(tmp_path: Path, content: bytes) -> Path:
    path = logs.log_path(tmp_path, 42, "alloc")
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    return path


def test_a_short_log_is_shown_as_it_is(tmp_path: Path) -> None:
    text = "booting\n=== not a header of ours, just what the hook printed\ndone\n"
    assert logs.read_tail(write(tmp_path, text.encode())) == text


def test_a_long_log_shows_its_end_from_the_start_of_a_line_and_says_what_is_left_out(
    tmp_path: Path,
) -> None:
    lines = [f"line {n:06d} " + "x" * 90 + "\n" for n in range(5000)]  # ~500 KiB
    content = "".join(lines).encode()
    shown = logs.read_tail(write(tmp_path, content))
    note, rest = shown.split("\n", 1)
    assert rest.startswith("line ") and rest.endswith(lines[-1])
    assert len(rest.encode()) <= logs.MAX_BYTES
    assert note == f"[... first {len(content) - len(rest.encode())} bytes not shown ...]"


def test_control_characters_and_bad_bytes_are_shown_not_acted_upon(tmp_path: Path) -> None:
    content = b"\x1b[31mred\x1b[0m\tcol\r\nnul\x00 bad \xff utf-8 \xc3\xa9\n"
    shown = logs.read_tail(write(tmp_path, content))
    assert shown == "\\x1b[31mred\\x1b[0m\tcol\r\nnul\\x00 bad \\xff utf-8 \u00e9\n"


def test_the_logs_of_a_resource_are_listed_in_the_order_hooks_run(tmp_path: Path) -> None:
    for suffix in ("terminate", "alloc"):
        p = logs.log_path(tmp_path, 7, suffix)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
    found = logs.hook_logs(tmp_path, 7)
    assert [(log.suffix, log.hook, log.name) for log in found] == [
        ("alloc", "cmd_new", "hooks/000007_alloc"),
        ("terminate", "cmd_delete", "hooks/000007_terminate"),
    ]
    assert logs.hook_logs(tmp_path, 8) == []
