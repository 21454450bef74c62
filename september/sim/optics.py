"""The flat-field response of the optical train (vignetting, dust donuts, pixel response), shared
by light frames and flats so that flats really calibrate the lights."""

from __future__ import annotations

import functools
import hashlib

import numpy as np

from september.sim.rig import Rig, defect_map


def _seed(*parts: object) -> int:
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def dust_donuts(rig: Rig, night_index: int, filter_name: str) -> list[tuple[float, float, float]]:
    """Dust shadows as (x, y, radius) in pixels: some on the sensor window (every night, every
    filter), some on the filter (move between nights)."""
    h, w = rig.shape
    full_radius = 90.0 / (rig.camera.pixel_um / 3.8)  # f/5 beam shadow of dust ~ 90 full px
    sensor = np.random.default_rng(_seed("sensor-dust", rig.camera.defect_seed))
    donuts = [
        (sensor.uniform(0.1, 0.9) * w, sensor.uniform(0.1, 0.9) * h, full_radius * 0.6)
        for _ in range(3)
    ]
    moving = np.random.default_rng(_seed("filter-dust", night_index, filter_name))
    donuts += [
        (moving.uniform(0.05, 0.95) * w, moving.uniform(0.05, 0.95) * h, full_radius)
        for _ in range(2)
    ]
    return donuts


@functools.lru_cache(maxsize=6)
def response_map(rig: Rig, night_index: int, filter_name: str) -> np.ndarray:
    """Relative response per pixel (mean ~1) for a night's optical train and filter."""
    h, w = rig.shape
    y = (np.arange(h, dtype=np.float32) - (h - 1) / 2) / (h / 2)
    x = (np.arange(w, dtype=np.float32) - (w - 1) / 2) / (w / 2)
    r2 = (x[None, :] ** 2 + y[:, None] ** 2) / 2.0  # 1 at the corners
    response = 1.0 - np.float32(rig.telescope.vignetting) * r2
    yy = np.arange(h, dtype=np.float32)[:, None]
    xx = np.arange(w, dtype=np.float32)[None, :]
    for cx, cy, radius in dust_donuts(rig, night_index, filter_name):
        r0, r1 = int(max(cy - radius - 2, 0)), int(min(cy + radius + 3, h))
        c0, c1 = int(max(cx - radius - 2, 0)), int(min(cx + radius + 3, w))
        if r0 >= r1 or c0 >= c1:
            continue
        d = np.sqrt((xx[:, c0:c1] - cx) ** 2 + (yy[r0:r1] - cy) ** 2) / radius
        ring = 0.06 * np.exp(-(((d - 0.75) / 0.18) ** 2)) + 0.03 * (d < 0.75)
        response[r0:r1, c0:c1] *= 1.0 - ring.astype(np.float32)
    prnu = np.random.default_rng(_seed("prnu", rig.camera.defect_seed, h, w))
    response *= prnu.normal(1.0, 0.006, (h, w)).astype(np.float32)
    _, _, cold = defect_map(rig.camera)
    response.reshape(-1)[cold] *= 0.3
    response.flags.writeable = False
    return response
