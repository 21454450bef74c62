"""Running the PixInsight companion script headless on an export package, so everything up to
the first human review happens without anyone at the PixInsight window."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from september.config import Config
from september.errors import ToolFailedError, ToolMissingError
from september.package.manifest import Manifest, load_manifest

SCRIPT_NAME = "September.js"
EXECUTABLE_NAMES = ("PixInsight.sh", "PixInsight")
STANDARD_LOCATIONS = (
    Path("/opt/PixInsight/bin/PixInsight.sh"),
    Path("/opt/PixInsight/bin/PixInsight"),
    Path("/Applications/PixInsight/PixInsight.app/Contents/MacOS/PixInsight"),
)
STEPS = ("masters", "calibrate", "cosmetic", "measure", "register", "integrate", "combine")
JOB_NAME = "september-job.json"
RESULT_NAME = "september-result.json"
LOG_NAME = "pixinsight.log"
_SOURCE_TREE = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class PixInsightRun:
    """One headless run: where its files are and the result the script wrote."""

    manifest: Manifest
    job_path: Path
    result_path: Path
    log_path: Path
    returncode: int | None
    result: dict[str, Any]

    @property
    def succeeded(self) -> bool:
        return self.result.get("status") == "success"

    @property
    def error(self) -> str | None:
        return self.result.get("error")

    @property
    def integrated_frames(self) -> list[str]:
        """Package paths of the lights that went into an integration."""
        return [light["path"] for light in self.result.get("lights", []) if light.get("integrated")]

    @property
    def masters(self) -> list[dict[str, Any]]:
        return [m for m in self.result.get("masters", []) if m.get("path")]


def find_pixinsight(config: Config, executable: str | Path | None = None) -> Path:
    """The PixInsight launcher: the argument, the configuration, PATH, then the usual places."""
    for candidate in (executable, config.pixinsight.executable):
        if candidate:
            path = Path(candidate).expanduser()
            found = shutil.which(str(path))
            if found is None:
                raise ToolMissingError(
                    f"PixInsight was not found at {path}: give the path of PixInsight.sh with "
                    "--executable or [pixinsight] executable in the configuration."
                )
            return Path(found)
    for name in EXECUTABLE_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    for path in STANDARD_LOCATIONS:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise ToolMissingError(
        "PixInsight is not installed (no PixInsight.sh on PATH or in /opt/PixInsight/bin). "
        "Install PixInsight, or point at it with --executable or [pixinsight] executable; "
        "without PixInsight, process the package with `september stack` instead."
    )


def find_script(config: Config) -> Path:
    """September.js: the configured copy, else the one in september's source tree."""
    script = config.pixinsight.script or _SOURCE_TREE / "pixinsight" / SCRIPT_NAME
    script = Path(script).expanduser().resolve()
    if not script.is_file() or not (script.parent / "september-lib.js").is_file():
        raise ToolMissingError(
            f"the PixInsight script {script} (with september-lib.js beside it) was not found; "
            "set [pixinsight] script to the September.js of a september source tree."
        )
    return script


def write_job(
    package_dir: Path,
    output_dir: Path,
    steps: Sequence[str] = STEPS,
    combine: bool = True,
) -> tuple[Path, dict[str, Any]]:
    """Write the job file the script reads (absolute paths) and return it with its content."""
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise ValueError(f"unknown step(s) {unknown}; steps are {', '.join(STEPS)}")
    output_dir.mkdir(parents=True, exist_ok=True)
    job = {
        "schema": "september.pixinsight-job",
        "package_dir": str(package_dir.resolve()),
        "output_dir": str(output_dir.resolve()),
        "result_path": str((output_dir / RESULT_NAME).resolve()),
        "steps": list(steps),
        "combine": combine,
    }
    job_path = output_dir / JOB_NAME
    job_path.write_text(json.dumps(job, indent=2) + "\n")
    return job_path.resolve(), job


def pixinsight_command(executable: Path, script: Path, job_path: Path) -> list[str]:
    """PixInsight's headless invocation: new instance, automation mode, run, exit."""
    return [
        str(executable),
        "-n",
        "--automation-mode",
        f"--run={script},{job_path}",
        "--force-exit",
    ]


def _kill_group(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Stop the process and everything it started (its own session's process group)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        # the leader is gone; make sure no child of the group survives it
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        return


def run_command(command: list[str], timeout: float, log_path: Path) -> int:
    """Run ``command`` in its own session with output to ``log_path``; kill its tree on expiry."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired as err:
            _kill_group(process)
            raise ToolFailedError(
                f"PixInsight did not finish within {timeout:g} s and was stopped with every "
                f"process it started. Its output is in {log_path}; raise --timeout for large "
                "packages."
            ) from err
        except BaseException:
            _kill_group(process)
            raise


def _log_tail(log_path: Path, lines: int = 15) -> str:
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return "(no output)"
    tail = text.strip().splitlines()[-lines:]
    return "\n  ".join(tail) if tail else "(no output)"


def read_result(result_path: Path) -> dict[str, Any]:
    """The result JSON the script wrote."""
    try:
        result = json.loads(result_path.read_text())
    except json.JSONDecodeError as err:
        raise ToolFailedError(
            f"the PixInsight result {result_path} is not valid JSON: {err}"
        ) from err
    if result.get("schema") != "september.pixinsight-result" or "status" not in result:
        raise ToolFailedError(f"{result_path} is not a September result file")
    return result


def run_pixinsight(
    package_dir: str | Path,
    config: Config,
    *,
    executable: str | Path | None = None,
    timeout: float | None = None,
    steps: Sequence[str] = STEPS,
    output_dir: str | Path | None = None,
    combine: bool = True,
) -> PixInsightRun:
    """Process an export package headless in PixInsight and read back the script's result.

    Returns the run whether the script succeeded or reported a failure (``run.succeeded``);
    raises ToolMissingError without PixInsight and ToolFailedError when it times out or exits
    without writing a result.
    """
    package = Path(package_dir).resolve()
    manifest = load_manifest(package)
    launcher = find_pixinsight(config, executable)
    script = find_script(config)
    out = Path(output_dir).resolve() if output_dir else package / "pixinsight"
    job_path, job = write_job(package, out, steps, combine)
    result_path = Path(job["result_path"])
    fallback = job_path.with_name(job_path.stem + "-result.json")
    for stale in (result_path, fallback):
        stale.unlink(missing_ok=True)
    log_path = out / LOG_NAME
    log_path.write_text(f"# {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(job['steps'])}\n")
    returncode = run_command(
        pixinsight_command(launcher, script, job_path),
        timeout if timeout is not None else config.pixinsight.timeout,
        log_path,
    )
    written = result_path if result_path.is_file() else fallback
    if not written.is_file():
        raise ToolFailedError(
            f"PixInsight exited (status {returncode}) without writing {result_path}: the script "
            f"did not run. Last output:\n  {_log_tail(log_path)}"
        )
    return PixInsightRun(
        manifest=manifest,
        job_path=job_path,
        result_path=written,
        log_path=log_path,
        returncode=returncode,
        result=read_result(written),
    )


def record_run(config: Config, run: PixInsightRun) -> int:
    """Record a run in the catalogue (frames integrated, masters and images produced)."""
    from september.catalogue.database import connect_engine
    from september.catalogue.processing import record_run as store

    engine = connect_engine(config)
    with engine.begin() as connection:
        return store(
            connection,
            run.manifest.data,
            str(run.manifest.root),
            run.result,
            str(run.result_path),
        )
