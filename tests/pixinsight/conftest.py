"""Export packages built once per session from simulated frames, for the PixInsight tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.pixinsight.packages import build_packages


@pytest.fixture(scope="session")
def pixinsight_packages(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Any]]:
    """(folder, packages): the folder holds packages.json, as the Node tests read it."""
    root = tmp_path_factory.mktemp("pixinsight-packages")
    packages = build_packages(root)
    (root / "packages.json").write_text(json.dumps(packages))
    return root, packages
