"""The simulated camera obeys photon transfer: gain, read noise and dark current come back out
of its calibration frames as configured."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.stats import sigma_clipped_stats

from september.sim import SimulationResult, read_truth, simulate


def _data(root: Path, rel: str) -> np.ndarray:
    return fits.getdata(root / rel).astype(np.float64)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    out = tmp_path_factory.mktemp("calibration-library")
    return simulate("calibration-library", out, seed=5, nights=1, frames=2, calibration_frames=4)


def test_photon_transfer_recovers_gain_and_read_noise(crab_small: SimulationResult) -> None:
    root = crab_small.out_dir
    truth = read_truth(root)
    flats = truth.of_type("flat")[:2]
    biases = truth.of_type("bias")[:2]
    f1, f2 = (_data(root, f.path) for f in flats)
    b1, b2 = (_data(root, f.path) for f in biases)
    quantisation = 2 / 12.0  # variance of the rounding to whole ADU in a difference
    bias_var = np.var(b1 - b2) - quantisation
    signal = f1.mean() + f2.mean() - b1.mean() - b2.mean()
    gain = signal / (np.var(f1 - f2) - np.var(b1 - b2))
    read_noise = gain * np.sqrt(bias_var / 2)
    expected_gain, expected_rn = flats[0].egain, biases[0].read_noise_e
    print(f"gain {gain:.3f} vs {expected_gain:.3f} e-/ADU; read noise {read_noise:.2f} vs "
          f"{expected_rn:.2f} e-")  # fmt: skip
    assert abs(gain / expected_gain - 1) < 0.05
    assert abs(read_noise / expected_rn - 1) < 0.05


def _dark_current(root: Path, darks: list, bias: np.ndarray) -> float:
    """Mean dark signal (e-/s) of a set of darks, hot pixels and cosmic rays clipped."""
    stack = np.mean([_data(root, d.path) for d in darks], axis=0) - bias
    mean, _, _ = sigma_clipped_stats(stack, sigma=5, maxiters=3)
    return float(mean) * darks[0].egain / darks[0].exposure


def test_dark_current_scales_with_exposure_and_temperature(library: SimulationResult) -> None:
    root = library.out_dir
    truth = read_truth(root)
    bias_frames = [f for f in truth.of_type("bias") if not f.decoy]
    bias = np.mean([_data(root, b.path) for b in bias_frames], axis=0)
    darks = [f for f in truth.of_type("dark") if f.gain == bias_frames[0].gain]
    groups: dict[tuple[float, int], list] = {}
    for d in darks:
        groups.setdefault((d.exposure, round(d.ccd_temp)), []).append(d)
    assert len(groups) >= 3  # the right darks, a warmer set, a longer set
    for (exposure, temp), frames in sorted(groups.items()):
        measured = _dark_current(root, frames, bias)
        expected = float(np.mean([f.dark_current_e for f in frames]))
        print(f"dark {exposure:g} s at {temp} degC: {measured:.4f} vs {expected:.4f} e-/s")
        assert abs(measured / expected - 1) < 0.05
