"""The hook contract as plain functions: each kind's variables, resalloc's trimming of data."""

from __future__ import annotations

import pytest

from lessor.domain.hooks import Hook
from lessor.domain.model import Resource
from lessor.domain.states import ResourceState as R
from lessor.runner.env import base_env, hook_env, untracked_env
from lessor.runner.output import DATA_LIMIT, TRIMMED, resource_data

VM = Resource(4, "p", "p_4", R.UP, data=b"10.0.0.4\n", id_in_pool=1, counters=(("slot", 2),))


def resalloc_vars(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith("RESALLOC_")}


def test_each_hook_kind_names_its_pools_key_and_its_resalloc_log() -> None:
    assert [(h.key, h.log_suffix) for h in Hook] == [
        ("cmd_new", "alloc"),
        ("cmd_livecheck", "watch"),
        ("cmd_release", "release"),
        ("cmd_delete", "terminate"),
        ("cmd_list", "list"),
        ("cmd_extend", "extend"),
    ]
    assert Hook.from_log_suffix("terminate") is Hook.DELETE


def test_a_credentials_lease_end_is_iso_8601_utc_rounded_up_to_the_second() -> None:
    # 2026-12-03 10:00:00.25 UTC: a credential told 10:00:00 would die before its lease
    env = hook_env(VM, Hook.NEW, expires_at=1796292000.25)
    assert env["LESSOR_EXPIRES_AT"] == "2026-12-03T10:00:01Z"
    assert "LESSOR_EXPIRES_AT" not in hook_env(VM, Hook.NEW)  # no lease: no end to tell


def test_cmd_new_gets_resallocs_variables_and_no_data_variable() -> None:
    assert resalloc_vars(hook_env(VM, Hook.NEW)) == {
        "RESALLOC_ID": "4",
        "RESALLOC_NAME": "p_4",
        "RESALLOC_POOL_ID": "p",
        "RESALLOC_ID_IN_POOL": "1",
        "RESALLOC_NAMED_COUNTER_slot": "2",
    }
    assert not any("DATA" in k for k in hook_env(VM, Hook.NEW))


@pytest.mark.parametrize("hook", [Hook.LIVECHECK, Hook.RELEASE, Hook.DELETE])
def test_the_hooks_after_cmd_new_get_its_data(hook: Hook) -> None:
    env = hook_env(VM, hook)
    assert env["RESALLOC_RESOURCE_DATA"] == "MTAuMC4wLjQK" == env["LESSOR_RESOURCE_DATA_B64"]
    assert env["LESSOR_RESOURCE_DATA"] == "10.0.0.4\n" and env["LESSOR_HOOK"] == hook.key
    # A resource whose cmd_new never ended has no data: no variable, as in resalloc.
    assert "RESALLOC_RESOURCE_DATA" not in hook_env(VM.evolve(data=None), hook)


def test_cmd_list_and_the_cleanup_of_what_it_found_get_id_0_and_none() -> None:
    assert resalloc_vars(untracked_env(Hook.LIST, "p", None)) == {
        "RESALLOC_ID": "0",
        "RESALLOC_NAME": "None",
        "RESALLOC_POOL_ID": "p",
        "RESALLOC_ID_IN_POOL": "None",
    }
    assert resalloc_vars(untracked_env(Hook.DELETE, "p", "p_9")) == {
        "RESALLOC_ID": "0",
        "RESALLOC_NAME": "p_9",
        "RESALLOC_POOL_ID": "p",
        "RESALLOC_ID_IN_POOL": "None",
    }


def test_only_the_allow_list_and_the_names_the_admin_lists_pass_from_the_server() -> None:
    server = {
        "PATH": "/usr/bin",
        "HOME": "/home/l",
        "LC_ALL": "C.UTF-8",
        "LESSOR_SERVER_ADMIN_TOKEN": "t",
        "LESSOR_DB": "postgresql://u:pw@h/db",
        "PGPASSWORD": "pw",
        "OS_CLOUD": "c",
        "OS_REGION_NAME": "r",
        "AWS_PROFILE": "a",
    }
    assert base_env(environ=server) == {"PATH": "/usr/bin", "HOME": "/home/l", "LC_ALL": "C.UTF-8"}
    passed = base_env(["OS_*", "AWS_PROFILE", "LESSOR_*", "LESSOR_DB"], environ=server)
    assert set(passed) == {"PATH", "HOME", "LC_ALL", "OS_CLOUD", "OS_REGION_NAME", "AWS_PROFILE"}


def test_data_is_what_fits_in_512_bytes_of_whole_lines_then_resallocs_mark() -> None:
    short = b"10.0.0.4\n"
    assert resource_data(short) == short
    exact = b"x" * (DATA_LIMIT - 1) + b"\n"
    assert resource_data(exact) == exact
    lines = b"".join(b"line %03d\n" % i for i in range(100))  # 9 bytes a line
    assert resource_data(lines) == lines[: 9 * (DATA_LIMIT // 9)] + TRIMMED
    # a first line longer than the limit keeps its first 512 bytes
    assert resource_data(b"y" * 1000 + b"\nz\n") == b"y" * DATA_LIMIT + TRIMMED
