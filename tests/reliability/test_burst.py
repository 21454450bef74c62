"""A burst of 2,000 small frames arriving within a minute is fully ingested by a running
`september watch`, and the daemon's memory stays flat over the burst."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.reliability.conftest import (
    Catalogue,
    assert_catalogued_exactly_once,
    september_env,
    start_september,
    wait_for,
    write_tiny_frames,
)

pytestmark = [pytest.mark.db, pytest.mark.slow]

FILES = 2000
WAVES = 20  # the burst arrives in waves of FILES / WAVES files, WAVE_PAUSE apart
WAVE_PAUSE = 0.5
RSS_GROWTH_LIMIT_MB = 25.0  # the daemon may grow by less than this over the whole burst
WATCH = ["--settle", "1", "--interval", "0.5", "--observer", "polling", "-j", "2"]


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


class RssSampler(threading.Thread):
    """Samples the resident memory of a process and of the given children every ``period`` s."""

    def __init__(self, pids: list[int], period: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.pids, self.period = pids, period
        self.samples: dict[int, list[float]] = {pid: [] for pid in pids}  # MB
        self.times: list[float] = []  # time.monotonic() of each round of samples
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for pid in self.pids:
                rss = _rss_mb(pid)
                if rss is not None:
                    self.samples[pid].append(rss)
            self.times.append(time.monotonic())
            self.done.wait(self.period)


def test_burst_of_2000_files(tmp_path: Path, database_url: str, catalogue: Catalogue):
    share = tmp_path / "share"
    share.mkdir()
    data_dir = tmp_path / "data"
    env = september_env(database_url, tmp_path)
    log = tmp_path / "watch.log"
    watcher = start_september(["watch", str(share), *WATCH], env, log)
    try:
        heartbeat = data_dir / "state" / "watch.json"
        wait_for(lambda: heartbeat.exists() and "running" in heartbeat.read_text(), 60, "start")
        # Warm up: the first frames start the worker pool, so the baseline includes it.
        warm = write_tiny_frames(share / "warm-up", 40, start=100_000)
        wait_for(lambda: catalogue.frame_count() == len(warm), 60, "the warm-up frames")
        workers = _children(watcher.pid)
        assert len(workers) >= 2, "the ingest worker pool should be running"
        sampler = RssSampler([watcher.pid, *workers])
        sampler.start()
        time.sleep(1.0)
        baseline = {pid: max(samples) for pid, samples in sampler.samples.items() if samples}
        started = time.monotonic()
        paths = list(warm)
        per_wave = FILES // WAVES
        for wave in range(WAVES):
            folder = share / "2026-11-21" / f"wave{wave:02d}"
            paths += write_tiny_frames(folder, per_wave, start=wave * per_wave)
            time.sleep(WAVE_PAUSE)
        arrival = time.monotonic() - started
        assert arrival < 60.0, "the burst must arrive within a minute"
        wait_for(lambda: catalogue.frame_count() == len(paths), 300, "the burst", step=1.0)
        time.sleep(1.0)
    finally:
        if "sampler" in locals():
            sampler.done.set()
        watcher.send_signal(signal.SIGTERM)
        code = watcher.wait(60)
    assert code == 0, log.read_text()[-2000:]
    assert_catalogued_exactly_once(catalogue, paths)
    assert catalogue.failures() == {}
    counts = json.loads((data_dir / "state" / "watch.json").read_text())["counts"]
    assert counts.get("ingested") == len(paths) and "batch_errors" not in counts, counts
    for pid, start in baseline.items():
        peak = max(sampler.samples[pid])
        role = "daemon" if pid == watcher.pid else "worker"
        print(f"{role} {pid} RSS: {start:.1f} MB before the burst, peak {peak:.1f} MB")
        assert peak - start < RSS_GROWTH_LIMIT_MB, f"{role} RSS grew {peak - start:.1f} MB"
    # Sampled all through the burst: no gap longer than a few periods between samples.
    gaps = [b - a for a, b in zip(sampler.times, sampler.times[1:], strict=False)]
    assert len(sampler.samples[watcher.pid]) >= 10 and max(gaps) < 10 * sampler.period
