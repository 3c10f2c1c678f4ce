"""agent.yaml: a wrong key or value is one line with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from lessor.agent.config import AgentConfigError, load_agent_config
from lessor.agent.inventory import Reserves


def test_a_good_file_gives_reserves_traits_and_the_disk(tmp_path: Path) -> None:
    f = tmp_path / "agent.yaml"
    f.write_text(f"disk_path: {tmp_path}\nreserved: {{vcpu: 2}}\ntraits: [CUSTOM_LAB]\n")
    cfg = load_agent_config(f)
    assert cfg.reserves == Reserves(vcpu=2) and cfg.traits == ("CUSTOM_LAB",)
    assert cfg.disk_path == tmp_path


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("name: h\nreserved:\n  vcpus: 2\n", 3, "unknown key 'vcpus'"),
        ("traits:\n  - CUSTOM_OK\n  - lab\n", 3, "'lab' is not CUSTOM_"),
        ("name: h\ndisk_path: /no/such/dir\n", 2, "disk_path: no such directory"),
        ("heartbeat: 0\n", 1, "heartbeat: expected seconds > 0"),
    ],
)
def test_a_bad_file_names_file_line_and_what(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    f = tmp_path / "agent.yaml"
    f.write_text(text)
    with pytest.raises(AgentConfigError) as e:
        load_agent_config(f)
    assert str(e.value).startswith(f"{f}:{line}: ") and words in str(e.value)
    assert "\n" not in str(e.value)


def test_a_bad_server_address_is_one_line_naming_the_option(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from lessor.agent.cli import agent

    got = CliRunner().invoke(
        agent,
        ["--server", "ftp://host/x", "--state-dir", str(tmp_path)],
        env={"LESSOR_AGENT_TOKEN": "t"},
    )
    assert got.exit_code == 2
    assert "--server" in got.output and "'ftp://host/x' is not a server address" in got.output
    assert "Traceback" not in got.output


def test_the_example_agent_yaml_loads() -> None:
    cfg = load_agent_config(Path(__file__).parents[2] / "examples/agent/agent.yaml")
    assert cfg.name == "example-host" and cfg.traits == ("CUSTOM_EXAMPLE",)
    assert cfg.reserves == Reserves(vcpu=1, memory_mb=1024, disk_gb=10)
