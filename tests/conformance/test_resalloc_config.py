"""Rows K2-K9, X3's reload and P24 of docs/resalloc.md: resalloc's configuration, as it is read.

A resalloc operator's server.yaml and pools.yaml in a CONFIG_DIR: TLS keys,
where logs go when the file does not say, and pools.yaml edits that apply
without any command, as resalloc rereads the file at every pass.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conformance.site import Site, SiteFactory, server_log
from tests.conftest import free_port, wait_until

from lessor.config.pools import load_pools
from lessor.config.server import RESALLOC_LOGDIR, config_from_dir
from lessor.config.startup import ServerOptions, resolve
from lessor.config.yamlfile import ConfigError

# ---- K3/K4: where the logs go ------------------------------------------------------------


def resalloc_dir(tmp_path: Path, server_yaml: str) -> Path:
    etc = tmp_path / "etc"
    etc.mkdir(parents=True)
    (etc / "server.yaml").write_text(server_yaml)
    (etc / "pools.yaml").write_text("p:\n  tags: [p]\n  cmd_new: 'true'\n  cmd_delete: 'true'\n")
    return etc


def test_k3_k4_in_resallocs_layout_logs_default_to_var_log_resallocserver(tmp_path: Path) -> None:
    etc = resalloc_dir(tmp_path, "db_url: 'postgresql://resalloc@/resalloc'\n")
    started = resolve(ServerOptions(config_dir=etc)).checked()
    assert started.config.resolved_logdir() == RESALLOC_LOGDIR == Path("/var/log/resallocserver")
    assert started.config.main_logfile == RESALLOC_LOGDIR / "main.log"
    maint = config_from_dir(etc)  # what `lessor maint resource-logs` follows
    assert (maint.resolved_logdir(), maint.main_logfile) == (
        RESALLOC_LOGDIR,
        RESALLOC_LOGDIR / "main.log",
    )


def test_k3_the_files_logdir_and_lessors_data_dir_still_win(tmp_path: Path) -> None:
    etc = resalloc_dir(tmp_path, f"logdir: {tmp_path / 'logs'}\n")
    cfg = resolve(ServerOptions(config_dir=etc)).checked().config
    assert (cfg.logdir, cfg.main_logfile) == (tmp_path / "logs", tmp_path / "logs" / "main.log")
    (etc / "server.yaml").write_text("sleeptime: 5\n")
    cfg = resolve(ServerOptions(config_dir=etc, data_dir=tmp_path / "d")).checked().config
    assert (cfg.logdir, cfg.main_logfile) == (tmp_path / "d" / "logs", tmp_path / "d/logs/main.log")
    lessor_own = resolve(ServerOptions(pools=etc / "pools.yaml", data_dir=tmp_path / "d"))
    assert lessor_own.checked().config.main_logfile is None  # no server.yaml: lessor's layout


# ---- K2: TLS -----------------------------------------------------------------------------


def openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=30)


def new_key(path: Path) -> list[str | Path]:
    return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", path]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed server certificate for 127.0.0.1, and a CA that signed a client's."""
    d = tmp_path_factory.mktemp("certs")
    day = ["-days", "1", "-sha256"]
    openssl("req", "-x509", *new_key(d / "server.key"), "-out", d / "server.crt", *day,
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1")  # fmt: skip
    openssl("req", "-x509", *new_key(d / "ca.key"), "-out", d / "ca.crt", *day,
            "-subj", "/CN=clients")  # fmt: skip
    openssl("req", *new_key(d / "client.key"), "-out", d / "client.csr", "-subj", "/CN=copr")
    openssl("x509", "-req", "-in", d / "client.csr", "-CA", d / "ca.crt", "-CAkey", d / "ca.key",
            "-CAcreateserial", "-out", d / "client.crt", *day)  # fmt: skip
    return d


def client_context(certs: Path, with_certificate: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=certs / "server.crt")
    if with_certificate:
        context.load_cert_chain(certs / "client.crt", certs / "client.key")
    return context


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[object]:
    """Starts `lessor server --config-dir` with this server.yaml; answers its https URL."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(server_yaml: str, context: ssl.SSLContext) -> str:
        etc = resalloc_dir(
            tmp_path / f"s{len(procs)}",
            f"db_url: 'sqlite:///{tmp_path}/{len(procs)}.sqlite'\nlogdir: {tmp_path / 'logs'}\n"
            + server_yaml,
        )
        (etc / "pools.yaml").write_text(
            "p:\n  max: 1\n  max_prealloc: 1\n  tags: [p]\n  cmd_new: echo secure\n"
            "  cmd_delete: 'true'\n"
        )
        port = free_port()
        log = (tmp_path / "server.log").open("ab")
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "lessor.cli",
                    "server",
                    "--config-dir",
                    str(etc),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                stdout=log,
                stderr=log,
                env={k: v for k, v in os.environ.items() if k != "CONFIG_DIR"},
            )
        )
        url = f"https://127.0.0.1:{port}"

        def answers() -> bool:
            assert procs[-1].poll() is None, (tmp_path / "server.log").read_text()
            try:
                xmlrpc.client.ServerProxy(url, context=context).system.listMethods()
            except (OSError, xmlrpc.client.ProtocolError):
                return False
            return True

        wait_until(answers, timeout=30, message="the server over TLS")
        return url

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(15)


def test_k2_ssl_certfile_and_keyfile_serve_the_port_over_tls(
    tls_server: object, certs: Path
) -> None:
    context = client_context(certs, with_certificate=False)
    url = tls_server(  # type: ignore[operator]
        f"ssl_certfile: {certs / 'server.crt'}\nssl_keyfile: {certs / 'server.key'}\n", context
    )
    conn = xmlrpc.client.ServerProxy(url, context=context)
    tid = conn.takeTicket(["p"])
    assert conn.waitTicket(str(tid)).data == b"secure\n"
    plain = xmlrpc.client.ServerProxy(url.replace("https", "http"))
    with pytest.raises((OSError, xmlrpc.client.ProtocolError)):  # the port speaks TLS only
        plain.collectTicket(str(tid))


def test_k2_ssl_clients_requires_a_certificate_its_cas_signed(
    tls_server: object, certs: Path
) -> None:
    trusted = client_context(certs, with_certificate=True)
    url = tls_server(  # type: ignore[operator]
        f"ssl_certfile: {certs / 'server.crt'}\nssl_keyfile: {certs / 'server.key'}\n"
        f"ssl_clients: {certs / 'ca.crt'}\n",
        trusted,
    )
    assert "takeTicket" in xmlrpc.client.ServerProxy(url, context=trusted).system.listMethods()
    anonymous = xmlrpc.client.ServerProxy(url, context=client_context(certs, False))
    with pytest.raises((ssl.SSLError, OSError, xmlrpc.client.ProtocolError)):
        anonymous.collectTicket("1")


def test_k2_a_bad_tls_setting_is_one_line_naming_the_key(tmp_path: Path, certs: Path) -> None:
    etc = resalloc_dir(tmp_path, f"logdir: {tmp_path}\nssl_certfile: {certs / 'ca.key'}\n")
    (error,) = resolve(ServerOptions(config_dir=etc)).errors
    assert error.startswith(f"{etc / 'server.yaml'}:2: ssl_certfile {certs / 'ca.key'}: not a ")
    (etc / "server.yaml").write_text(f"ssl_certfile: {tmp_path / 'missing.pem'}\n")
    (error,) = resolve(ServerOptions(config_dir=etc)).errors
    assert error.endswith("missing.pem: cannot read: No such file or directory")
    (etc / "server.yaml").write_text(f"ssl_clients: {certs / 'ca.crt'}\n")
    started = resolve(ServerOptions(config_dir=etc))
    assert started.errors == ()
    assert started.warnings == (
        f"{etc / 'server.yaml'}:1: ssl_clients: ssl_certfile is not set, so the server speaks "
        "plain HTTP and this is not used",
    )


# ---- K6-K9: pools.yaml as read ------------------------------------------------------------


def pools_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pools.yaml"
    path.write_text(text)
    return path


def test_k6_an_unknown_pool_key_is_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = pools_file(tmp_path, "p:\n  tags: [a]\n  flavour: big\n  cmd_new: x\n  cmd_delete: y\n")
    (pool,) = load_pools(path)
    assert pool.name == "p"
    assert any(
        f"{path}:3" in r.getMessage() and "'flavour'" in r.getMessage() for r in caplog.records
    )


def test_k7_defaults_are_resallocs(tmp_path: Path) -> None:
    (pool,) = load_pools(pools_file(tmp_path, "p:\n  cmd_new: x\n  cmd_delete: y\n"))
    assert (pool.max, pool.max_starting, pool.max_prealloc, pool.start_delay) == (4, 1, 2, 0)
    assert (pool.livecheck_period, pool.livecheck_attempts) == (600, 3)
    assert (pool.reuse_opportunity_time, pool.reuse_max_count, pool.reuse_max_time) == (0, 0, 3600)
    assert pool.named_counters == () and pool.tags == ()
    assert pool.name_pattern == "{pool_name}_{id:08d}_{datetime}"


def test_k8_cmd_new_and_cmd_delete_are_required(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as missing:
        load_pools(pools_file(tmp_path, "p:\n  tags: [a]\n  cmd_delete: y\n"))
    assert f"{tmp_path / 'pools.yaml'}:1: pool 'p'" in str(missing.value)
    assert "cmd_new" in str(missing.value)


def test_k9_a_tag_both_normal_and_on_demand_is_an_error(tmp_path: Path) -> None:
    text = (
        "a:\n  tags: [gpu]\n  cmd_new: x\n  cmd_delete: y\n"
        "b:\n  tags_on_demand: [gpu]\n  cmd_new: x\n  cmd_delete: y\n"
    )
    with pytest.raises(ConfigError) as both:
        load_pools(pools_file(tmp_path, text))
    assert f"{tmp_path / 'pools.yaml'}:2" in str(both.value) and "gpu" in str(both.value)


# ---- K5: pools.yaml edits apply by themselves ----------------------------------------------

POOL_A = "a:\n  max: 3\n  max_prealloc: {spares}\n  tags: [a]\n  cmd_new: echo a-$RESALLOC_ID\n"
POOL_C = "c:\n  max: 1\n  max_prealloc: 1\n  tags: [C]\n  cmd_new: echo c-$RESALLOC_ID\n"
DELETE = "  cmd_delete: 'true'\n"


@pytest.fixture(scope="module")
def site(sites: SiteFactory, site_db: str) -> Site:
    s = sites(site_db, POOL_A.format(spares=1) + DELETE)
    s.wait_for("a", "UP")
    return s


def edit(site: Site, text: str) -> None:
    """What an operator's editor does: the new text replaces the old file."""
    tmp = site.etc / ".pools.yaml.swp"
    tmp.write_text(text)
    tmp.replace(site.etc / "pools.yaml")


def test_k5_x3_a_ticket_for_a_missing_tag_is_served_once_pools_yaml_adds_it(site: Site) -> None:
    conn = site.rpc()
    tid = conn.takeTicket(["C"])
    assert site.ticket(tid)["waiting_reason"] == "no pool provides tag 'C'"
    edit(site, POOL_A.format(spares=1) + DELETE + POOL_C + DELETE)  # no reload command
    assert conn.waitTicket(str(tid)).data == b"c-%d\n" % site.ticket(tid)["resource_id"]
    conn.closeTicket(str(tid))


def test_k5_max_prealloc_changes_apply_within_a_pass(site: Site) -> None:
    edit(site, POOL_A.format(spares=2) + DELETE + POOL_C + DELETE)
    site.wait_for("a", "UP", 2)


def test_k5_a_broken_edit_is_logged_once_with_its_line_and_the_pools_stay(site: Site) -> None:
    edit(site, POOL_A.format(spares="[") + DELETE)
    said = f"{site.etc / 'pools.yaml'}:"
    wait_until(lambda: "pools not reloaded" in server_log(site), message="the error")
    conn = site.rpc()
    for _ in range(2):  # the pools in use still serve, and passes go on meanwhile
        tid = conn.takeTicket(["C"])
        assert conn.waitTicket(str(tid)).data.startswith(b"c-")
        conn.closeTicket(str(tid))
    errors = [line for line in server_log(site).splitlines() if "pools not reloaded" in line]
    assert len(errors) == 1 and said in errors[0]


def test_p24_a_ticket_whose_pool_is_removed_waits_and_says_why(site: Site) -> None:
    edit(site, POOL_A.format(spares=1) + DELETE + POOL_C + DELETE)
    conn = site.rpc()
    holder = conn.takeTicket(["C"])
    conn.waitTicket(str(holder))
    waiting = conn.takeTicket(["C"])  # c is at its max
    edit(site, POOL_A.format(spares=1) + DELETE)

    def reason() -> str:
        return str(site.ticket(waiting)["waiting_reason"])

    wait_until(lambda: "removed from pools.yaml" in reason(), message="the removal")
    conn.closeTicket(str(holder))  # the removed pool's last resource goes
    wait_until(lambda: reason() == "no pool provides tag 'C'", message="the pool gone")
    assert conn.collectTicket(str(waiting)) == {
        "ready": False,
        "output": None,
        "closed": False,
        "failed": False,
    }
    conn.closeTicket(str(waiting))
