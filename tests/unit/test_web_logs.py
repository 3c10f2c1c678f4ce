"""Hook logs as the UI serves them: a secret pool's data never shows, however the log is cut."""

from __future__ import annotations

from pathlib import Path

from lessor.web import logs

RUN = (
    "\n=== 2024-05-01 10:00:00 $ new-vm\n"
    "booting {n}\n"
    "--- stdout:\n"
    "token-{n}-SECRET\n"
    "=== exit 0 after 1.00s\n"
)


def write(tmp_path: Path, runs: int, padding: int = 0) -> Path:
    path = logs.log_path(tmp_path, 42, "alloc")
    path.parent.mkdir(parents=True)
    path.write_text("".join(RUN.format(n=n) + "x" * padding + "\n" for n in range(runs)))
    return path


def test_a_secret_pools_log_keeps_stderr_and_exit_codes_but_not_stdout(tmp_path: Path) -> None:
    path = write(tmp_path, runs=3)
    shown = logs.read_log(path, secret=True)
    assert "SECRET" not in shown
    assert shown.count("[secret data, not shown]") == 3
    assert "booting 2" in shown and shown.count("=== exit 0") == 3
    assert "token-1-SECRET" in logs.read_log(path, secret=False)


def test_a_long_log_shows_its_end_and_a_cut_never_reveals_half_a_secret(tmp_path: Path) -> None:
    # Runs of ~2 KiB each: the cut at MAX_BYTES from the end falls anywhere in one.
    path = write(tmp_path, runs=200, padding=2000)
    for secret in (True, False):
        shown = logs.read_log(path, secret=secret)
        assert shown.startswith("[... first ")
        assert "booting 199" in shown and "booting 0\n" not in shown
        assert len(shown) <= logs.MAX_BYTES + 100
    assert "SECRET" not in logs.read_log(path, secret=True)


def test_the_logs_of_a_resource_are_listed_in_the_order_hooks_run(tmp_path: Path) -> None:
    for suffix in ("terminate", "alloc"):
        p = logs.log_path(tmp_path, 7, suffix)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
    assert [(log.suffix, log.hook) for log in logs.hook_logs(tmp_path, 7)] == [
        ("alloc", "cmd_new"),
        ("terminate", "cmd_delete"),
    ]
    assert logs.hook_logs(tmp_path, 8) == []
