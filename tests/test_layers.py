"""The dependency rule: science code never imports the catalogue, the services or the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "september"
SCIENCE = ["image", "stars", "astrometry", "sky", "sim", "engine", "lucky", "package", "ekos"]
FORBIDDEN_FOR_SCIENCE = (
    "september.catalogue",
    "september.services",
    "september.cli",
    "september.report",
)
FORBIDDEN_FOR_CATALOGUE = (
    "september.services",
    "september.cli",
    "september.report",
    *(f"september.{name}" for name in ["stars", "astrometry", "engine", "lucky", "sim"]),
)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _violations(folders: list[str], forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for folder in folders:
        for path in (PACKAGE / folder).rglob("*.py"):
            for name in _imports(path):
                if name.startswith(forbidden):
                    found.append(f"{path.relative_to(PACKAGE)} imports {name}")
    return found


def test_science_does_not_import_catalogue_services_or_cli() -> None:
    assert _violations(SCIENCE, FORBIDDEN_FOR_SCIENCE) == []


def test_catalogue_does_not_import_image_maths_or_upper_layers() -> None:
    assert _violations(["catalogue"], FORBIDDEN_FOR_CATALOGUE) == []


def test_services_do_not_import_interfaces() -> None:
    interfaces = ("september.cli", "september.daemon", "september.report", "september.demo")
    assert _violations(["services"], interfaces) == []
