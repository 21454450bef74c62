"""Every command is reachable and documented."""

from __future__ import annotations

from click.testing import CliRunner

from september.cli import cli


def test_every_command_has_help_with_an_example() -> None:
    runner = CliRunner()
    names = cli.list_commands(None)  # type: ignore[arg-type]
    assert "demo" in names
    for name in names:
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Example" in result.output or "Usage" in result.output, name
