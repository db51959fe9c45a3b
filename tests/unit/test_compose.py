"""docker-compose.yml describes the system users run with Docker; keep it runnable."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from gati.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]


def test_compose_parses_and_has_every_process() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"kafka", "postgres", "migrate", "gateway", "worker", "recorder"} <= set(services)
    kafka_env = services["kafka"]["environment"]
    assert kafka_env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper


def test_compose_commands_are_real_gati_commands() -> None:
    # The image's entrypoint is gati; each service's command is a gati subcommand.
    assert 'ENTRYPOINT ["gati"]' in (ROOT / "Dockerfile").read_text()
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    runner = CliRunner()
    for name in ("migrate", "gateway", "worker", "recorder"):
        command = compose["services"][name]["command"]
        words = command.split() if isinstance(command, str) else list(command)
        result = runner.invoke(cli, [words[0], "--help"])
        assert result.exit_code == 0, (name, result.output)
