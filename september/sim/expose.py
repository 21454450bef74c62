"""Turns a planned light or calibration frame into 16-bit pixels and writes it as FITS, the way
the camera and capture software would."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from astropy.io import fits

from september.sim.calibration import FLAT_LEVEL_ADU
from september.sim.headers import build_header
from september.sim.optics import response_map
from september.sim.render import Scene, make_wcs, render_scene, sensor_readout
from september.sim.rig import FILTERS, Rig
from september.sim.scenarios import Shot, stable_seed
from september.sim.sky import NEBULAE, stars_in_cone
from september.sim.truth import FrameTruth

MARGIN_PX = 30  # stars this far outside the frame still spill light into it


@functools.lru_cache(maxsize=16)
def _field_stars(ra: float, dec: float, radius: float, epoch: float) -> np.ndarray:
    return stars_in_cone(ra, dec, radius, epoch)


def _epoch(date_obs: str) -> float:
    return 2000.0 + (np.datetime64(date_obs[:19]) - np.datetime64("2000-01-01T12:00:00")).astype(
        "timedelta64[s]"
    ).astype(float) / (365.25 * 86400)


def light_pixels(shot: Shot, rig: Rig) -> np.ndarray:
    """Render a light frame (uint16)."""
    t = shot.truth
    assert t.ra is not None and t.dec is not None and t.rotation is not None
    h, w = rig.shape
    wcs = make_wcs(t.ra, t.dec, t.rotation, rig.pixel_scale, (h, w))
    radius = 0.5 * np.hypot(w, h) * rig.pixel_scale / 3600.0 + 0.05
    # fields are cached on a coarse grid so dithered frames reuse the same star list
    key_ra, key_dec = round(t.ra * 4) / 4, round(t.dec * 4) / 4
    stars = _field_stars(key_ra, key_dec, radius + 0.4, round(_epoch(t.date_obs), 1))
    x, y = wcs.wcs_world2pix(stars["ra"], stars["dec"], 0)
    inside = (x > -MARGIN_PX) & (x < w + MARGIN_PX) & (y > -MARGIN_PX) & (y < h + MARGIN_PX)
    f = FILTERS[t.filter or "L"]
    mags = stars["mag"][inside] + f.colour_term * (stars["colour"][inside] - 0.8)
    flux = shot.star_scale * 10 ** (-0.4 * mags.astype(np.float64))
    nebula = NEBULAE.get(t.object_true or "")
    continuum = f.zero_point_e / FILTERS["L"].zero_point_e
    neb_factor = nebula.filter_factor(f.emission, continuum) if nebula else 0.0
    scene = Scene(
        shape=(h, w),
        exposure=t.exposure,
        x=x[inside],
        y=y[inside],
        flux_e=flux,
        fwhm_px=float(t.seeing_fwhm_px or 2.0),
        sky_e=shot.sky_e,
        gradient=shot.gradient,
        trail_px=tuple(t.trail_px) if t.trail_px else None,  # type: ignore[arg-type]
        response=response_map(rig, shot.night.index, t.filter or "L"),
        nebula=nebula,
        nebula_scale=shot.star_scale / f.zero_point_e * rig.pixel_scale**2 * neb_factor,
        wcs=wcs,
        segments=shot.segments,
    )
    rng = np.random.default_rng(stable_seed(t.scenario, t.seed, *shot.key, "noise"))
    electrons = render_scene(scene, rng)
    cam = rig.camera
    return sensor_readout(
        electrons, cam, t.exposure, t.gain, t.offset, t.ccd_temp, rng, shot.cosmic_rays
    )


def calibration_pixels(frame: FrameTruth, rig: Rig, night_index: int, key: tuple) -> np.ndarray:
    """Render a bias, dark, flat or flat-dark (uint16)."""
    cam = rig.camera
    rng = np.random.default_rng(stable_seed(frame.scenario, frame.seed, *key, "calibration"))
    h, w = frame.height, frame.width
    if frame.frame_type == "flat":
        level_e = FLAT_LEVEL_ADU * cam.egain(frame.gain)
        electrons = response_map(rig, night_index, frame.filter or "L") * np.float32(level_e)
    else:
        electrons = np.zeros((h, w), np.float32)
    rays = []
    if frame.exposure >= 1.0:
        from september.sim.events import cosmic_rays

        sensor_cm2 = cam.width * cam.height * (cam.pixel_um * 1e-4) ** 2
        rays = cosmic_rays(rng, (h, w), sensor_cm2, frame.exposure)
        frame.cosmic_rays = [[x, y] for x, y, _ in rays]
    return sensor_readout(
        electrons, cam, frame.exposure, frame.gain, frame.offset, frame.ccd_temp, rng, rays
    )


def write_fits(path: Path, data: np.ndarray, header: fits.Header, compress: bool) -> None:
    """Write 16-bit unsigned data (BZERO = 32768), optionally tile-compressed (.fits.fz)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        hdu = fits.CompImageHDU(data=data, header=header, compression_type="RICE_1")
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)
    else:
        fits.PrimaryHDU(data=data, header=header).writeto(path, overwrite=True)


def write_frame(
    out_dir: Path, frame: FrameTruth, rig: Rig, data: np.ndarray, compress: bool
) -> None:
    write_fits(out_dir / frame.path, data, build_header(frame, rig), compress)
