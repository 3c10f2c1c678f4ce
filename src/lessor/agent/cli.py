"""`lessor agent`: register this host as a provider and keep it there (docs/agents.md)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click


def _state_default() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local/state")
    return Path(base) / "lessor-agent"


@click.command("agent")
@click.option(
    "--server",
    "server",
    default=None,
    help="the lessor server: HOST[:PORT] or a URL (default: LESSOR_SERVER, else localhost)",
)
@click.option("--name", default=None, help="the provider's name (default: the host name)")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="agent.yaml: reserves, disk_path, custom traits",
)
@click.option(
    "--token",
    default=None,
    help="the agent token (prefer LESSOR_AGENT_TOKEN or --token-file: argv is public)",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="a file holding the agent token",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="where the host's provider uuid is kept (default: $XDG_STATE_HOME/lessor-agent)",
)
def agent(
    server: str | None,
    name: str | None,
    config_path: Path | None,
    token: str | None,
    token_file: Path | None,
    state_dir: Path | None,
) -> None:
    """Register this host (and its NUMA nodes) as providers; on SIGTERM reserve them and exit."""
    from lessor.agent.config import AgentConfig, AgentConfigError, load_agent_config
    from lessor.agent.run import Agent, AgentError, serve, token_from_env
    from lessor.client.http import BadServerAddress, server_url

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if token_file is not None:
        token = token_file.read_text().strip()
    secret = token_from_env(token)
    if not secret:
        raise click.UsageError("no agent token: set LESSOR_AGENT_TOKEN, --token-file or --token")
    try:
        url = server_url(server)
    except BadServerAddress as e:
        raise click.BadParameter(str(e), param_hint="--server") from None
    try:
        cfg = load_agent_config(config_path) if config_path else AgentConfig()
        serve(Agent(url, secret, name, cfg, state_dir or _state_default()))
    except (AgentConfigError, AgentError) as e:
        click.echo(f"lessor agent: {e}", err=True)
        sys.exit(2)
