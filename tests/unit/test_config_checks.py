"""Mistakes in pools.yaml and server.yaml, found when they are read: file, line, what to do."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from lessor.cli import main
from lessor.config.database import sqlite_problem, url_problem
from lessor.config.pools import read_pools
from lessor.config.server import read_server_config
from lessor.config.startup import ServerOptions, resolve
from lessor.config.yamlfile import load_yaml
from lessor.sim.workload import mismatches, parse_workload


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def program(path: Path, mode: int = 0o755) -> Path:
    path.write_text("#!/bin/sh\necho 10.0.0.1\n")
    path.chmod(mode)
    return path


def test_a_pool_without_cmd_new_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "pools.yaml", "ok:\n  tags: [a]\n  cmd_new: x\nvm:\n  tags: [b]\n")
    read = read_pools(path)
    assert read.errors == (
        f"{path}:4: pool 'vm': no cmd_new: a pool needs the command that makes its resources",
    )


def test_a_misspelt_key_says_which_key_was_meant(tmp_path: Path) -> None:
    path = write(tmp_path / "pools.yaml", "vm:\n  tags: [a]\n  cmd-new: x\n  max_prealoc: 1\n")
    read = read_pools(path)
    assert read.warnings == (
        f"{path}:3: pool 'vm': unknown key 'cmd-new' ignored (did you mean cmd_new?)",
        f"{path}:4: pool 'vm': unknown key 'max_prealoc' ignored (did you mean max_prealloc?)",
    )
    (error,) = read.errors
    assert error.startswith(f"{path}:1: pool 'vm': no cmd_new")
    assert error.endswith("(is 'cmd-new' meant to be cmd_new?)")


def test_a_key_far_from_any_known_one_suggests_nothing(tmp_path: Path) -> None:
    path = write(tmp_path / "pools.yaml", "vm:\n  tags: [a]\n  cmd_new: x\n  colour: red\n")
    assert read_pools(path).warnings == (f"{path}:4: pool 'vm': unknown key 'colour' ignored",)


def test_the_same_pool_twice_is_an_error_with_both_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path / "pools.yaml",
        "vm:\n  tags: [a]\n  cmd_new: x\nother:\n  tags: [b]\n  cmd_new: y\n"
        "vm:\n  tags: [c]\n  cmd_new: z\n",
    )
    assert read_pools(path).errors == (
        f"{path}:7: pool 'vm' is defined twice, at lines 1 and 7: rename one or merge them",
    )


def test_a_key_twice_in_a_pool_is_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path / "pools.yaml", "vm:\n  max: 2\n  tags: [a]\n  cmd_new: x\n  max: 9\n")
    read = read_pools(path)
    assert read.errors == () and read.pools[0].max == 9
    assert read.warnings == (
        f"{path}:5: pool 'vm': max is given twice, at lines 2 and 5: the last one counts",
    )


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "{}\n"])
def test_an_empty_file_is_a_warning(tmp_path: Path, text: str) -> None:
    path = write(tmp_path / "pools.yaml", text)
    read = read_pools(path)
    assert (read.pools, read.errors) == ((), ())
    assert read.warnings == (f"{path}: no pools defined: no ticket can be served",)


def test_a_pool_no_ticket_can_reach_is_a_warning(tmp_path: Path) -> None:
    path = write(
        tmp_path / "pools.yaml",
        "lost:\n  cmd_new: x\nfound:\n  tags_on_demand: [big]\n  cmd_new: x\n",
    )
    assert read_pools(path).warnings == (
        f"{path}:1: pool 'lost' has no tags and no tags_on_demand: "
        "no ticket can ask for its resources",
    )


def test_every_error_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path / "pools.yaml", "a:\n  max: lots\n  tags: [a]\nb:\n  tags: [b]\n")
    errors = read_pools(path).errors
    assert [e.split(": ")[0] for e in errors] == [f"{path}:2", f"{path}:4"]


def test_hook_programs_are_checked_and_relative_ones_are_next_to_the_pools_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hooks = tmp_path / "etc" / "hooks"
    hooks.mkdir(parents=True)
    program(hooks / "new")
    program(hooks / "delete", mode=0o644)
    path = write(
        tmp_path / "etc" / "pools.yaml",
        "vm:\n  tags: [a]\n"
        "  cmd_new: LANG=C hooks/new --fast\n"  # an assignment before the program
        "  cmd_delete: hooks/delete\n"
        "  cmd_livecheck: ./hooks/check $RESALLOC_NAME\n"
        "  cmd_release: 'test -e /tmp'\n"  # a builtin: looked up when it runs
        '  cmd_list: "$HOME/list"\n',  # depends on the environment: not checked
    )
    monkeypatch.chdir(tmp_path)  # the server's directory does not matter
    read = read_pools(path)
    assert read.errors == (
        f"{path}:4: pool 'vm': cmd_delete: {hooks}/delete is not executable "
        "(mode 0644: chmod +x it)",
        f"{path}:5: pool 'vm': cmd_livecheck: {hooks}/check does not exist",
    )
    assert read.pools[0].hook_dir == str(tmp_path / "etc")


def test_a_hook_the_shell_cannot_split_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "pools.yaml", 'vm:\n  tags: [a]\n  cmd_new: "echo \'oops"\n')
    (error,) = read_pools(path).errors
    assert error.startswith(f"{path}:3: pool 'vm': cmd_new: cannot be split into words")


def test_the_simulator_needs_no_hooks(tmp_path: Path) -> None:
    path = write(tmp_path / "pools.yaml", "vm:\n  tags: [a]\n  cmd_delete: /no/such/hook\n")
    assert read_pools(path, runs_hooks=False).errors == ()


def test_an_unknown_key_in_server_yaml_is_a_warning_as_resalloc_ignores_it(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "server.yaml", "port: 49200\nhostnme: 0.0.0.0\nredis_url: x\n")
    read = read_server_config(path)
    assert read.errors == () and read.config.port == 49200
    assert read.warnings == (
        f"{path}:2: unknown key 'hostnme' ignored (did you mean hostname?)",
        f"{path}:3: unknown key 'redis_url' ignored",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("loglevel: loud\n", ":1: loglevel: expected one of debug, info, warning, error, critical"),
        ("port: 99999\n", ":1: port: Input should be less than or equal to 65535"),
        ("db_wait: -1\n", ":1: db_wait: Input should be greater than or equal to 0"),
    ],
)
def test_a_bad_value_in_server_yaml_names_line_and_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path / "server.yaml", text)
    (error,) = read_server_config(path).errors
    assert error.startswith(f"{path}{expected}")


def test_server_yaml_log_levels_are_case_insensitive(tmp_path: Path) -> None:
    assert read_server_config(write(tmp_path / "s.yaml", "loglevel: DEBUG\n")).config.loglevel == (
        "debug"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("notaurl", "'notaurl' is not a database URL; expected sqlite:///FILE or postgresql://"),
        ("mysql://u@h/d", "mysql://u@h/d: mysql is not supported; expected sqlite:///FILE"),
        ("postgres://u@h/d", "postgres://u@h/d: write postgresql://, not postgres://"),
        (
            "postgresql+psycopg2://h/d",
            "postgresql+psycopg2://h/d: the driver 'psycopg2' is not installed with lessor",
        ),
        ("sqlite://", "sqlite://: an in-memory database loses everything at a stop"),
        ("mysql://u:hunter2@h/d", "mysql://u:***@h/d: mysql is not supported"),
    ],
)
def test_database_urls_lessor_cannot_use_are_named(url: str, expected: str) -> None:
    problem = url_problem(url)
    assert problem is not None and problem.startswith(expected)


@pytest.mark.parametrize(
    "url", ["sqlite:///x.sqlite", "postgresql://u@h:5433/d", "postgresql+psycopg://h/d"]
)
def test_database_urls_lessor_can_use_pass(url: str) -> None:
    assert url_problem(url) is None


def test_sqlite_in_a_missing_directory_is_refused_and_the_directory_not_made(
    tmp_path: Path,
) -> None:
    problem = sqlite_problem(tmp_path / "no" / "such" / "x.sqlite")
    assert problem is not None and problem.startswith(f"the directory {tmp_path}/no/such does")
    assert not (tmp_path / "no").exists()
    (tmp_path / "notes.txt").write_text("my notes\n")
    assert (
        sqlite_problem(tmp_path / "notes.txt") == f"{tmp_path}/notes.txt is not an SQLite database"
    )
    assert sqlite_problem(tmp_path / "new.sqlite") is None


def test_secrets_on_the_command_line_are_refused(tmp_path: Path) -> None:
    pools = write(tmp_path / "pools.yaml", "vm:\n  tags: [a]\n  cmd_new: x\n")
    token = resolve(ServerOptions(pools=pools, admin_token="t", admin_token_source="--admin-token"))
    (error,) = token.errors
    assert error.startswith("--admin-token: a token on the command line is readable")
    assert "--admin-token-file FILE" in error and "LESSOR_SERVER_ADMIN_TOKEN" in error
    agent = ServerOptions(pools=pools, agent_token="t", agent_token_source="--agent-token")
    (error,) = resolve(agent).errors
    assert error.startswith("--agent-token: a token on the command line is readable")
    env = resolve(ServerOptions(pools=pools, agent_token="t"))
    assert env.errors == () and env.config.agent_token == "t"
    url = "postgresql://u:pw@h/d"
    (error,) = resolve(ServerOptions(pools=pools, db_url=url)).errors
    assert error.startswith("--db: the URL holds a password") and "LESSOR_DB=URL" in error
    assert ".pgpass" in error and "pw" not in error
    from_env = resolve(ServerOptions(pools=pools, db_url=url, db_url_source="LESSOR_DB"))
    assert from_env.errors == () and from_env.config.db_url == url


def test_the_admin_token_comes_from_a_file(tmp_path: Path) -> None:
    pools = write(tmp_path / "pools.yaml", "vm:\n  tags: [a]\n  cmd_new: x\n")
    secret = write(tmp_path / "token", "s3cret\n")
    secret.chmod(0o600)
    got = resolve(ServerOptions(pools=pools, admin_token_file=secret))
    assert (got.errors, got.warnings, got.config.admin_token) == ((), (), "s3cret")
    # ... or from server.yaml's admin_token_file, relative to server.yaml
    server_yaml = write(tmp_path / "server.yaml", f"pools: {pools}\nadmin_token_file: token\n")
    assert resolve(ServerOptions(config_file=server_yaml)).config.admin_token == "s3cret"
    # ... and a file others can read works, with a warning
    secret.chmod(0o644)
    loose = resolve(ServerOptions(pools=pools, admin_token_file=secret))
    assert loose.config.admin_token == "s3cret"
    assert loose.warnings == (
        f"--admin-token-file {secret}: readable by other users (mode 0644); chmod 600 {secret}",
    )
    both = resolve(ServerOptions(pools=pools, admin_token="x", admin_token_file=secret))
    assert both.errors == (
        "both LESSOR_SERVER_ADMIN_TOKEN and --admin-token-file are given; give one of them",
    )
    missing = resolve(ServerOptions(pools=pools, admin_token_file=tmp_path / "nope"))
    assert missing.errors == (
        f"--admin-token-file {tmp_path}/nope: cannot read: No such file or directory",
    )
    write(secret, "\n")
    (empty,) = resolve(ServerOptions(pools=pools, admin_token_file=secret)).errors
    assert empty.endswith("expected the token alone on one line")


def test_check_config_summarises_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    ok = CliRunner().invoke(main, ["check-config", "--pools", "examples/pools.yaml"])
    assert (ok.exit_code, ok.output) == (0, "examples/pools.yaml: 2 pools, OK\n")

    bad = write(tmp_path / "pools.yaml", "vm:\n  tags: [a]\n  cmd-new: x\n")
    done = CliRunner().invoke(main, ["check-config", "--pools", str(bad)])
    assert done.exit_code == 2
    assert done.stdout == f"{bad}: 1 error, 1 warning\n"
    assert done.stderr.splitlines() == [
        f"lessor: {bad}:1: pool 'vm': no cmd_new: a pool needs the command that makes its "
        "resources (is 'cmd-new' meant to be cmd_new?)",
        f"lessor: warning: {bad}:3: pool 'vm': unknown key 'cmd-new' ignored "
        "(did you mean cmd_new?)",
    ]


def test_check_config_reads_a_resalloc_config_dir(tmp_path: Path) -> None:
    write(tmp_path / "server.yaml", "port: 49100\nsleeptime: 1\n")
    write(tmp_path / "pools.yaml", "vm:\n  tags: [a]\n  cmd_new: /bin/true\n")
    done = CliRunner().invoke(main, ["check-config", "--config-dir", str(tmp_path)])
    assert (done.exit_code, done.stdout) == (
        0,
        f"{tmp_path}/server.yaml and {tmp_path}/pools.yaml: 1 pool, OK\n",
    )


def test_check_config_touches_no_database(tmp_path: Path) -> None:
    db = tmp_path / "lessor.sqlite"
    write(tmp_path / "server.yaml", f"db_url: sqlite:///{db}\npools: pools.yaml\n")
    write(tmp_path / "pools.yaml", "vm:\n  tags: [a]\n  cmd_new: /bin/true\n")
    done = CliRunner().invoke(main, ["check-config", "--config", str(tmp_path / "server.yaml")])
    assert done.exit_code == 0, done.output
    assert sorted(os.listdir(tmp_path)) == ["pools.yaml", "server.yaml"]


def test_simulate_warns_of_tags_no_pool_offers_and_durations_of_no_pool(tmp_path: Path) -> None:
    pools = write(tmp_path / "pools.yaml", "fake_arm:\n  tags: [fake, aarch64]\n")
    doc = load_yaml(
        write(
            tmp_path / "work.yaml",
            "hooks:\n  default: {new: 1}\n  fake_amr: {new: 3}\n"
            "tickets:\n  - {tags: [fake], hold: 1}\n  - {tags: [fake, arm64], hold: 1}\n",
        )
    )
    parse_workload(doc)
    assert mismatches(doc, read_pools(pools, runs_hooks=False).pools) == [
        f"{doc.path}:6: tickets.1: no pool offers arm64: these tickets fail",
        f"{doc.path}:3: hooks.fake_amr: no such pool, durations unused (did you mean fake_arm?)",
    ]
    done = CliRunner().invoke(
        main, ["simulate", "--pools", str(pools), "--workload", str(doc.path)]
    )
    assert done.exit_code == 0, done.output
    assert f"lessor: warning: {doc.path}:6: tickets.1: no pool offers arm64" in done.stderr
