"""`september pixinsight run` against stand-ins for PixInsight's command line.

The success stand-in runs the real September.js under Node.js with recording stand-ins for the
PixInsight processes (pixinsight/test/fake-pixinsight.js), so the whole path -- job file, command
line, script, result JSON read back -- is exercised; others hang, or exit without a result.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from september.cli import cli
from september.config import config_from_mapping
from september.errors import ToolFailedError, ToolMissingError
from september.package.manifest import ManifestError
from september.services import pixinsight as service

REPO = Path(__file__).resolve().parents[2]
CONFIG = config_from_mapping({})


def _executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.fixture
def fake_pixinsight(tmp_path: Path) -> Path:
    node = shutil.which("node")
    assert node, "Node.js is missing: deploy/install.sh installs it"
    script = REPO / "pixinsight" / "test" / "fake-pixinsight.js"
    return _executable(tmp_path / "PixInsight.sh", f'#!/bin/sh\nexec {node} {script} "$@"\n')


def _package(packages: tuple[Path, list[Any]], scenario: str) -> Path:
    return Path(next(p["path"] for p in packages[1] if p["scenario"] == scenario))


def _lights(package: Path) -> list[dict[str, Any]]:
    manifest = json.loads((package / "september.json").read_text())
    return [f for f in manifest["frames"] if f["frame_type"] == "light"]


def test_a_run_writes_the_job_runs_the_script_and_reads_the_result(
    pixinsight_packages: tuple[Path, list[Any]], fake_pixinsight: Path, tmp_path: Path
) -> None:
    package = _package(pixinsight_packages, "crab")
    out = tmp_path / "out"
    run = service.run_pixinsight(package, CONFIG, executable=fake_pixinsight, output_dir=out)
    assert run.succeeded, run.error
    job = json.loads(run.job_path.read_text())
    assert job["package_dir"] == str(package.resolve())
    assert job["result_path"] == str(run.result_path)
    assert job["steps"] == list(service.STEPS)
    lights = _lights(package)
    # crab: 5 frames in each of L, R, G, B -> four integrations and an LRGB image
    assert sorted(run.integrated_frames) == sorted(f["path"] for f in lights)
    assert [i["filter"] for i in run.result["integrations"]] == ["L", "R", "G", "B"]
    assert run.result["combination"]["kind"] == "LRGB"
    for output in [*(m["path"] for m in run.masters), run.result["combination"]["path"]]:
        assert Path(output).is_file(), output
        assert Path(output).is_relative_to(out)
    assert "integrating 5 L frames" in run.log_path.read_text()


def test_a_failure_inside_pixinsight_comes_back_as_a_failed_result(
    pixinsight_packages: tuple[Path, list[Any]],
    fake_pixinsight: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_PIXINSIGHT_FAIL", "StarAlignment")
    package = _package(pixinsight_packages, "crab")
    run = service.run_pixinsight(
        package, CONFIG, executable=fake_pixinsight, output_dir=tmp_path / "out"
    )
    assert not run.succeeded
    assert "StarAlignment of L failed" in run.error
    assert run.integrated_frames == []
    result = CliRunner().invoke(
        cli,
        [
            *("pixinsight", "run", str(package), "--executable", str(fake_pixinsight)),
            *("--output", str(tmp_path / "cli"), "--no-record"),
        ],
    )
    assert result.exit_code == 2, result.output
    assert "the September script failed in PixInsight: StarAlignment of L failed" in result.output


def test_pixinsight_exiting_without_a_result_is_an_error_with_its_output(
    pixinsight_packages: tuple[Path, list[Any]], tmp_path: Path
) -> None:
    broken = _executable(
        tmp_path / "PixInsight.sh", "#!/bin/sh\necho 'cannot connect to X server :0'\nexit 3\n"
    )
    package = _package(pixinsight_packages, "crab")
    with pytest.raises(ToolFailedError, match=r"status 3\) without writing") as err:
        service.run_pixinsight(package, CONFIG, executable=broken, output_dir=tmp_path / "out")
    assert "cannot connect to X server" in str(err.value)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead, awaiting its reaper


def test_a_run_past_its_timeout_is_stopped_with_every_process_it_started(
    pixinsight_packages: tuple[Path, list[Any]], tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    hanging = _executable(
        tmp_path / "PixInsight.sh",
        f"""#!{sys.executable}
import os, signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
open({str(pids)!r}, "w").write(f"{{os.getpid()}} {{child.pid}}")
time.sleep(600)
""",
    )
    package = _package(pixinsight_packages, "crab")
    started = time.monotonic()
    with pytest.raises(ToolFailedError, match="did not finish within 3 s"):
        service.run_pixinsight(
            package, CONFIG, executable=hanging, timeout=3, output_dir=tmp_path / "out"
        )
    assert time.monotonic() - started < 60
    launcher, child = (int(p) for p in pids.read_text().split())
    deadline = time.monotonic() + 10
    while (_alive(launcher) or _alive(child)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(launcher), "the PixInsight stand-in survived"
    assert not _alive(child), "a process it started (ignoring SIGTERM) survived"


def test_without_pixinsight_the_command_says_so_and_fails(
    pixinsight_packages: tuple[Path, list[Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(service, "STANDARD_LOCATIONS", (tmp_path / "none" / "PixInsight.sh",))
    package = _package(pixinsight_packages, "crab")
    with pytest.raises(ToolMissingError, match="PixInsight is not installed"):
        service.run_pixinsight(package, CONFIG, output_dir=tmp_path / "out")
    with pytest.raises(ToolMissingError, match="not found at"):
        service.find_pixinsight(CONFIG, tmp_path / "nowhere" / "PixInsight.sh")
    result = CliRunner().invoke(
        cli, ["pixinsight", "run", str(package), "--output", str(tmp_path / "cli")]
    )
    assert result.exit_code == 2
    assert "Error: PixInsight is not installed" in result.output


def test_a_folder_without_a_manifest_is_refused_before_pixinsight_starts(
    tmp_path: Path, fake_pixinsight: Path
) -> None:
    with pytest.raises(ManifestError, match="september export"):
        service.run_pixinsight(tmp_path, CONFIG, executable=fake_pixinsight)
    assert not (tmp_path / "pixinsight").exists()


def test_unknown_steps_are_refused(
    pixinsight_packages: tuple[Path, list[Any]], fake_pixinsight: Path
) -> None:
    package = _package(pixinsight_packages, "crab")
    result = CliRunner().invoke(
        cli, ["pixinsight", "run", str(package), "--steps", "calibrate,stack", "--no-record"]
    )
    assert result.exit_code == 2
    assert "unknown step(s) stack" in result.output
    assert os.environ.get("FAKE_PIXINSIGHT_FAIL") is None
