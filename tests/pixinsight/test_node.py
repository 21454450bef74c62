"""The Node.js tests of the PixInsight script (pixinsight/test/) pass on simulated packages."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def test_node_tests_of_the_pixinsight_script_pass(
    pixinsight_packages: tuple[Path, list[Any]],
) -> None:
    root, packages = pixinsight_packages
    assert {p["source"] for p in packages} == {"simulated"}
    node = shutil.which("node")
    assert node, "Node.js is missing: deploy/install.sh installs it (apt package nodejs)"
    env = {**os.environ, "SEPTEMBER_TEST_PACKAGES": str(root), "SEPTEMBER_PYTHON": sys.executable}
    # the test files by name (not the folder): newer Node versions read arguments as globs
    files = sorted(
        str(p.relative_to(REPO)) for p in (REPO / "pixinsight" / "test").glob("*.test.js")
    )
    assert len(files) >= 2
    proc = subprocess.run(
        [node, "--test", "--test-reporter=tap", *files],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = proc.stdout[-6000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, report
    assert re.search(r"^# fail 0$", proc.stdout, re.MULTILINE), report
    passed = int(re.search(r"^# pass (\d+)$", proc.stdout, re.MULTILINE).group(1))
    assert passed >= 17, report
