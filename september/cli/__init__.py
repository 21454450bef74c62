"""The ``september`` command line.

Each command lives in its own module of this package, named after the command
(``db.py`` gives ``september db``, ``pixinsight.py`` gives ``september pixinsight``) and exposing a
click command or group called ``command``. Modules are imported only when their command runs, so
``september --help`` stays fast and a command's heavy science imports stay inside it.
"""

from __future__ import annotations

import importlib
import pkgutil

import click

from september import __version__
from september.errors import SeptemberError


class _LazyGroup(click.Group):
    """A group whose sub-commands are the modules of this package."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = [
            info.name.replace("_", "-")
            for info in pkgutil.iter_modules(__path__)
            if not info.name.startswith("_")
        ]
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.list_commands(ctx):
            return None
        module = importlib.import_module(f"{__name__}.{cmd_name.replace('-', '_')}")
        return module.command

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except SeptemberError as err:
            raise UserError(str(err)) from err


class UserError(click.ClickException):
    """A september error shown to the user as ``Error: ...`` with exit status 2."""

    exit_code = 2


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="september")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="SEPTEMBER_CONFIG",
    help="TOML configuration file (default: ~/.config/september/september.toml).",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """september: from telescope frames to a searchable sky catalogue and finished images.

    Start with `september demo`, or `september simulate crab --out DIR` to make a night of frames.
    """
    from september.config import load_config

    ctx.obj = load_config(config_path)


def main() -> None:
    """Console entry point."""
    cli(prog_name="september")
