"""resalloc's pools.yaml and server.yaml, read unchanged."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from lessor.config.pools import load_pools
from lessor.config.server import config_from_dir, load_server_config
from lessor.config.yamlfile import ConfigError
from lessor.planner.upkeep import spares_kept

COPR_LIKE = """\
# as Fedora Copr writes them
copr_hv_x86_64_01_prod:
  max: 20
  max_starting: 4
  max_prealloc: 6
  start_delay: 30
  cmd_new: '/var/lib/resallocserver/resalloc_provision/vm-init'
  cmd_delete: '/var/lib/resallocserver/resalloc_provision/vm-delete'
  cmd_livecheck: 'resalloc-check-vm-ip'
  cmd_release: '/var/lib/resallocserver/resalloc_provision/vm-release'
  cmd_list: '/var/lib/resallocserver/resalloc_provision/vm-list'
  livecheck_period: 180
  livecheck_attempts: 5
  reuse_opportunity_time: 90
  reuse_max_count: 8
  reuse_max_time: 1800
  named_counters: [tap]
  name_pattern: "{pool_name}_{id}_{datetime}"
  description: Hypervisor 01
  tags:
    - copr_builder
    - name: arch_x86_64
      priority: 20
copr_ic_x86_64_huge:
  max: 4
  tags: [copr_builder, arch_x86_64]
  tags_on_demand:
    - name: on_demand_powerful
      priority: 5
  cmd_new: /bin/true
  cmd_delete: /bin/true
"""


def write(tmp_path: Path, text: str, name: str = "pools.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_every_resalloc_key_keeps_its_meaning(tmp_path: Path) -> None:
    # Copr's hook programs are not on this machine: their check is tested elsewhere.
    hv, huge = load_pools(write(tmp_path, COPR_LIKE), runs_hooks=False)
    assert (hv.max, hv.max_starting, hv.max_prealloc, hv.start_delay) == (20, 4, 6, 30)
    assert hv.cmd_list == "/var/lib/resallocserver/resalloc_provision/vm-list"
    assert (hv.livecheck_period, hv.livecheck_attempts) == (180, 5)
    assert (hv.reuse_opportunity_time, hv.reuse_max_count, hv.reuse_max_time) == (90, 8, 1800)
    assert hv.named_counters == ("tap",) and hv.description == "Hypervisor 01"
    assert [(t.name, t.priority) for t in hv.tags] == [("copr_builder", 0), ("arch_x86_64", 20)]
    assert [(t.name, t.priority) for t in huge.tags_on_demand] == [("on_demand_powerful", 5)]


def test_defaults_are_resallocs(tmp_path: Path) -> None:
    (p,) = load_pools(write(tmp_path, "p:\n  cmd_new: x\n  cmd_delete: y\n"))
    assert (p.max, p.max_starting, p.max_prealloc, p.start_delay) == (4, 1, 2, 0)
    assert (p.livecheck_period, p.livecheck_attempts) == (600, 3)
    assert (p.reuse_opportunity_time, p.reuse_max_count, p.reuse_max_time) == (0, 0, 3600)
    assert p.tags == () and p.tags_on_demand == () and p.named_counters == ()
    assert p.cmd_livecheck is None and p.cmd_release is None and p.cmd_list is None


def test_a_pool_with_on_demand_tags_keeps_no_spares(tmp_path: Path) -> None:
    _, huge = load_pools(write(tmp_path, COPR_LIKE), runs_hooks=False)
    assert spares_kept(huge) == 0  # resalloc: started only for tickets that ask


def test_a_tag_both_normal_and_on_demand_is_an_error_naming_file_and_line(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "a:\n  tags_on_demand: [gpu]\n"
        "b:\n  tags:\n    - fedora\n    - name: gpu\n      priority: 3\n",
        # no cmd_new: not what this test is about
    )
    with pytest.raises(ConfigError) as e:
        load_pools(path, runs_hooks=False)
    assert str(e.value).startswith(f"{path}:6: pool 'b': tag 'gpu'")
    assert "on-demand tag of pool 'a'" in str(e.value)


def test_an_unknown_key_is_a_warning_naming_pool_and_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, "vms:\n  max: 2\n  max_prealoc: 3\n  tags: [a]\n  cmd_new: x\n")
    with caplog.at_level(logging.WARNING):
        (pool,) = load_pools(path)
    assert pool.max_prealloc == 2
    (record,) = caplog.records
    assert f"{path}:3" in record.getMessage()
    assert "'vms'" in record.getMessage() and "'max_prealoc'" in record.getMessage()
    assert record.getMessage().endswith("(did you mean max_prealloc?)")


def test_a_wrong_type_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "vms:\n  tags: [a]\n  livecheck_period: often\n")
    with pytest.raises(ConfigError) as e:
        load_pools(path)
    assert str(e.value).startswith(f"{path}:3: pool 'vms': livecheck_period")


def test_resallocs_server_yaml_reads_unchanged(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "db_url: 'postgresql://resalloc@/resalloc'\n"
        "main_logfile: '/var/log/resallocserver/main.log'\n"
        "logdir: /var/log/resallocserver\n"
        "host: 0.0.0.0\nport: 49100\nloglevel: debug\nsleeptime: 1\n",
        "server.yaml",
    )
    cfg = load_server_config(path)
    assert cfg.resolved_db_url() == "postgresql://resalloc@/resalloc"
    assert cfg.hostname == "0.0.0.0"  # resalloc's older `host`
    assert (cfg.port, cfg.loglevel, cfg.sleeptime) == (49100, "debug", 1)
    assert str(cfg.resolved_logdir()) == "/var/log/resallocserver"
    assert config_from_dir(tmp_path) == cfg


def test_server_yaml_defaults_are_resallocs(tmp_path: Path) -> None:
    cfg = config_from_dir(tmp_path)  # no server.yaml there
    assert (cfg.hostname, cfg.port, cfg.loglevel, cfg.sleeptime) == ("localhost", 49100, "info", 20)
