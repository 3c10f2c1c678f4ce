"""The native launcher against the Python side on random machines, busy sets and command lines.

The launcher applies the plans Python writes; here both answer the same
questions and must agree: whether the launcher may run the request itself
(the options it reads, a plan for them, nobody queued, enough free now), and
when it does, the same units, the same environment for the command, the same
reservation record and usage lines. Command lines include non-ASCII text,
bytes that are not UTF-8, and arguments longer than a record keeps.

`lessor-python` beside the launcher is a stub here: a hand-over is its exit
code, not a Python run, so hundreds of cases take seconds.
"""

from __future__ import annotations

import fcntl
import os
import random
import subprocess
import time
from pathlib import Path

import pytest

from lessor.hw import cache, protocol
from lessor.hw.fit import environment, fit, possible
from lessor.hw.rules import Plan, RequestError, plan, resolve
from lessor.hw.state import State, command_bytes
from lessor.hw.topology import GPU_VENDORS
from tests.hw.fake_sysfs import pci_device
from tests.hw.native import build

HANDED_OVER = 99
SEEDS = range(12)
REQUESTS = 24
OUTCOMES: dict[str, int] = {"ran": 0, "handed over": 0}
"""Across the seeds; the last test checks that both were reached."""

ARGS: list[str | bytes] = [
    "plain",
    "é ü 😀 中文",
    b"\xff\xfe not UTF-8 \xc3",
    "tab\tnew\nline",
    'quote " backslash \\',
    "",
    "x" * 3000,
]


@pytest.fixture(scope="module")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    bin_dir = tmp_path_factory.mktemp("bin")
    stub = bin_dir / protocol.PYTHON_CLI
    stub.write_text(f"#!/bin/sh\nexit {HANDED_OVER}\n")
    stub.chmod(0o755)
    return build(bin_dir / "lessor")


def random_machine(root: Path, rng: random.Random) -> dict[str, list[str]]:
    """A fake sysfs of 1-3 nodes, SMT or not, NICs and GPUs of random vendors on some nodes."""
    nodes = rng.randint(1, 3)
    per_node = [rng.randint(1, 5) for _ in range(nodes)]
    smt = rng.random() < 0.5
    total = sum(per_node)
    cpu_dir = root / "devices/system/cpu"
    cpu_dir.mkdir(parents=True)
    threads = total * (2 if smt else 1)
    (cpu_dir / "online").write_text(f"0-{threads - 1}\n")
    first = 0
    names: dict[str, list[str]] = {"nics": [], "gpus": []}
    for node, n in enumerate(per_node):
        cores = list(range(first, first + n))
        cpus = cores + ([c + total for c in cores] if smt else [])
        d = root / f"devices/system/node/node{node}"
        d.mkdir(parents=True)
        (d / "cpulist").write_text(",".join(map(str, cpus)) + "\n")
        for core in cores:
            for cpu in [core, core + total] if smt else [core]:
                t = cpu_dir / f"cpu{cpu}/topology"
                t.mkdir(parents=True)
                siblings = f"{core},{core + total}" if smt else str(core)
                (t / "thread_siblings_list").write_text(siblings + "\n")
        first += n
    bus = 0
    for node in range(nodes):
        for _ in range(rng.randint(0, 2)):
            bus += 1
            address = f"0000:{bus:02x}:00.0"
            dev = pci_device(root, address, "0x020000", "0x8086", "0x1572", node)
            name = f"eth{bus}"
            (root / f"class/net/{name}").mkdir(parents=True)
            (root / f"class/net/{name}/device").symlink_to(dev)
            names["nics"].append(name)
        for _ in range(rng.randint(0, 3)):
            bus += 1
            vendor = rng.choice(sorted(GPU_VENDORS))
            address = f"0000:{bus:02x}:00.0"
            pci_device(root, address, rng.choice(["0x030000", "0x030200"]), vendor, "0x1", node)
            names["gpus"].append(address)
    (root / "class/net").mkdir(parents=True, exist_ok=True)
    names["cores"] = [str(c) for c in range(total)]
    return names


def random_config(rng: random.Random, names: dict[str, list[str]]) -> str:
    lines = []
    if rng.random() < 0.6:
        cores = rng.sample(names["cores"], rng.randint(1, len(names["cores"])))
        lines.append(f"cores: {','.join(cores)}")
    for kind in ("nics", "gpus"):
        if names[kind] and rng.random() < 0.4:
            chosen = rng.sample(names[kind], rng.randint(0, len(names[kind])))
            lines.append(f"{kind}: [{', '.join(repr(x) for x in chosen)}]")
    lines.append("profiles:")
    for name in ("ci", "big.2", "two words", "é"):
        amounts = {k: rng.randint(0, 2) for k in ("cores", "nics", "gpus")}
        lines.append(f"  {name!r}: {{{', '.join(f'{k}: {v}' for k, v in amounts.items())}}}")
    return "\n".join(lines) + "\n"


def random_options(rng: random.Random) -> list[str | bytes]:
    """Mostly what the launcher reads, sometimes what it must leave to Python."""
    pairs: list[list[str | bytes]] = []
    for name in rng.sample(
        ["cores", "cores", "nics", "gpus", "numa", "profile"], rng.randint(1, 3)
    ):
        if name == "numa":
            value: str | bytes = rng.choice(["same", "any", "any", "some"])
        elif name == "profile":
            value = rng.choice(["ci", "ci", "big.2", "big.2", "two words", "é", "nope", b"\xff"])
        else:
            value = rng.choice(["0", "1", "1", "1", "1", "2", "2", "3", "01", "-1", "x"])
        pairs.append([f"--{name}", value])
    if rng.random() < 0.1:
        pairs.append([rng.choice(["--smt", "--no-wait", "--cores=1"])])
    if rng.random() < 0.05:
        pairs.append(list(pairs[0]))  # an option twice
    return [w for pair in pairs for w in pair]


def text(word: str | bytes) -> str:
    return os.fsdecode(word)


class Busy:
    """Lock files held by this test process: busy for the launcher."""

    def __init__(self, state: str, names: list[str]) -> None:
        self.fds = []
        for name in names:
            fd = os.open(os.path.join(state, name), os.O_RDWR | os.O_CREAT)
            fcntl.flock(fd, fcntl.LOCK_EX)
            self.fds.append(fd)

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_launcher_decides_and_records_as_python_does(
    launcher: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    rng = random.Random(seed)
    names = random_machine(tmp_path / "sys", rng)
    cfg = tmp_path / "hw.yaml"
    cfg.write_text(random_config(rng, names))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LESSOR_")}
    env |= {
        "LESSOR_SYSFS_ROOT": str(tmp_path / "sys"),
        "LESSOR_HW_CONFIG": str(cfg),
        "LESSOR_HW_STATE_DIR": str(tmp_path / "state"),
        "LOGNAME": rng.choice(["alice", "bob é"]),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    state = State(env["LESSOR_HW_STATE_DIR"])
    topo, hw_cfg = cache.load(state, None, None)
    reservable = hw_cfg.reservable(topo)
    added: dict[str, Plan] = {}  # what the plan file has: every profile's, then what we add
    for name in hw_cfg.profiles:
        key = cache.request_key(["--profile", name])
        try:
            req = resolve(None, None, None, None, False, name, hw_cfg.profiles)
        except RequestError:
            continue  # a profile of nothing
        if key is not None and possible(plan(topo, reservable, req, name)):
            added[key] = plan(topo, reservable, req, name)
    for i in range(REQUESTS):
        options = random_options(rng)
        key = cache.request_key([text(w) for w in options])
        wanted = None
        if key is not None:
            o = dict(
                zip((text(w)[2:] for w in options[::2]), map(text, options[1::2]), strict=True)
            )
            try:
                counts = {k: int(o[k]) if k in o else None for k in ("cores", "nics", "gpus")}
                if o.get("numa", "same") not in ("same", "any"):
                    raise ValueError(o["numa"])
                req = resolve(
                    *counts.values(), o.get("numa"), False, o.get("profile"), hw_cfg.profiles
                )
                found = plan(topo, reservable, req, o.get("profile"))
                if possible(found) and (key in added or rng.random() < 0.85):
                    cache.add_request(state, key, found)  # else: a shape not seen yet
                    added[key] = found
                wanted = added.get(key)
            except (ValueError, RequestError):
                pass
        locks = [u.lock for u in wanted.units()] if wanted else []
        busy_names = [n for n in locks if rng.random() < 0.2]
        busy = Busy(state.path, busy_names)
        queued = None
        if rng.random() < 0.1:
            queued = Path(state.queue) / f"{i:012d}-{os.getpid()}"  # a live waiter: us
            queued.write_text("")
        elif rng.random() < 0.1:
            dead = Path(state.queue) / f"{i:012d}-999999999"  # a dead one: skipped
            dead.write_text("")
        args = rng.sample(ARGS, rng.randint(0, 3))
        out = tmp_path / f"out{i}"
        probe = 'env > "$0.env"; cat "$LESSOR_HW_STATE_DIR"/*.lock > "$0.rec" 2>/dev/null; exit 7'
        command: list[str | bytes] = ["sh", "-c", probe, str(out), *args]
        argv: list[str | bytes] = [str(launcher), "hw", *options, "--", *command]
        started = time.time_ns()
        proc = subprocess.Popen(argv, env={**env}, stderr=subprocess.PIPE)
        _, err = proc.communicate(timeout=30)
        busy.close()
        if queued is not None:
            queued.unlink()
        grant = fit(wanted, set(locks) - set(busy_names)) if wanted else None
        if wanted is None or grant is None or queued is not None or not key:
            assert proc.returncode == HANDED_OVER, (options, err)
            OUTCOMES["handed over"] += 1
            continue
        OUTCOMES["ran"] += 1
        assert proc.returncode == 7, (options, err)
        # the environment: the same variables, nothing more
        got = dict(
            line.split("=", 1)
            for line in Path(f"{out}.env").read_text("utf-8", "surrogateescape").splitlines()
            if "=" in line and line.split("=", 1)[0].isidentifier()
        )
        expected = environment(grant)
        assert {k: got.get(k) for k in expected} == expected, options
        extra = {k for k in got if k not in env and k not in expected} - {
            "PWD",
            "SHLVL",
            "_",
            "OLDPWD",
        }
        assert not extra, extra
        # the record in its lock files, and the usage lines
        record = protocol.parse(Path(f"{out}.rec").read_bytes().splitlines()[0])
        assert record is not None and record[0] == protocol.RESERVATION
        f = record[1]
        assert list(f) == ["token", "pid", "since", "user", "profile", "command", "units", "cpus"]
        want_command = command_bytes([text(w) for w in command])
        assert bytes.fromhex(f["command"]) == want_command, (args, f["command"])
        assert f["units"] == ",".join(u.lock.encode().hex() for u in grant.units)
        assert f["cpus"] == ",".join(map(str, grant.cpus))
        assert bytes.fromhex(f["profile"]).decode() == wanted.profile
        assert bytes.fromhex(f["user"]).decode() == env["LOGNAME"]
        assert int(f["pid"]) == proc.pid and started <= int(f["since"]) <= time.time_ns()
        assert len(f["token"]) == 32
        lines = [e for e in state.usage() if e[1].get("token") == f["token"]]
        assert [k for k, _ in lines] == [protocol.RESERVE, protocol.RELEASE]
        reserve = lines[0][1]
        assert list(reserve) == ["t", "token", "pid", "user", "profile", "units"]
        assert (reserve["units"], reserve["profile"], reserve["user"]) == (
            f["units"],
            f["profile"],
            f["user"],
        )
        assert not any(Path(state.path, u.lock).read_bytes() for u in grant.units)  # emptied


def test_the_random_cases_reached_both_outcomes() -> None:
    """Runs after the seeds: the launcher both ran requests itself and handed some over."""
    assert OUTCOMES["ran"] >= 20 and OUTCOMES["handed over"] >= 20, OUTCOMES


def test_a_stale_plan_sends_every_run_to_python(
    launcher: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(1)
    random_machine(tmp_path / "sys", rng)
    cfg = tmp_path / "hw.yaml"
    cfg.write_text("profiles:\n  ci: {cores: 1}\n")
    env = {
        **os.environ,
        "LESSOR_SYSFS_ROOT": str(tmp_path / "sys"),
        "LESSOR_HW_CONFIG": str(cfg),
        "LESSOR_HW_STATE_DIR": str(tmp_path / "state"),
    }
    env.pop("LESSOR_HW_SERVER", None)
    for k in ("LESSOR_SYSFS_ROOT", "LESSOR_HW_CONFIG", "LESSOR_HW_STATE_DIR"):
        monkeypatch.setenv(k, env[k])
    monkeypatch.delenv("LESSOR_HW_SERVER", raising=False)
    state = State(env["LESSOR_HW_STATE_DIR"])
    cache.load(state, None, None)

    def code(extra: dict[str, str]) -> int:
        argv = [str(launcher), "hw", "--profile", "ci", "--", "true"]
        return subprocess.run(argv, env={**env, **extra}, check=False).returncode

    assert code({}) == 0
    assert code({"LESSOR_HW_SERVER": "http://lab:49100"}) == HANDED_OVER
    assert code({"LESSOR_HW_CONFIG": str(tmp_path / "other.yaml")}) == HANDED_OVER
    assert cache.machine(state) is not None
    (tmp_path / "sys/class/net/eth9").mkdir()  # a NIC appeared
    assert code({}) == HANDED_OVER and cache.machine(state) is None
    (tmp_path / "sys/class/net/eth9").rmdir()
    assert code({}) == 0
    (tmp_path / "sys/devices/system/cpu/online").write_text("0\n")  # CPUs went offline
    assert code({}) == HANDED_OVER and cache.machine(state) is None
    cache.load(state, None, None)
    assert code({}) == 0
    cfg.write_text("profiles:\n  ci: {cores: 2}\n")  # hw.yaml edited
    assert code({}) == HANDED_OVER and cache.machine(state) is None
    cache.load(state, None, None)
    (Path(state.path) / "protocol").write_text("lessor-hw 1\n")  # another version's directory
    assert code({}) == HANDED_OVER
