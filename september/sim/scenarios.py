"""Named, seed-reproducible observing programmes (crab, mosaic, cloudy-night,
calibration-library): which frames are shot, when, where, and what happens to each."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np

from september.errors import SimulationError
from september.sim import events
from september.sim.calibration import FLAT_EXPOSURE, CalibrationRequest
from september.sim.night import (
    NightPlan,
    airmass,
    altitude_deg,
    dither_offsets,
    hour_angle_deg,
    offset_position,
    pier_side,
    seeing_arcsec,
    transit_time,
)
from september.sim.render import Segment
from september.sim.rig import FILTERS, Rig
from september.sim.sky import sky_rate
from september.sim.truth import FrameTruth


@dataclass(frozen=True)
class Scenario:
    """An observing programme; counts are per night at full size, limited by the options."""

    name: str
    target: str
    ra: float
    dec: float
    dates: tuple[str, ...]
    filters: tuple[str, ...]
    exposure: dict[str, float]
    frames_per_night: int
    software: str = "ekos"
    cloudiness: tuple[float, ...] = (0.0,)  # per night (cycled)
    panels: tuple[tuple[str, float, float], ...] = ()  # (id, east arcmin, north arcmin)
    satellite_probability: float = 0.06
    trail_probability: float = 0.02  # guiding lost or a wind gust
    centre_on_meridian: bool = False  # start so that the session straddles the meridian (flip)
    camera_angle: float | None = None  # fixed camera rotation (deg E of N), e.g. for a mosaic
    off_target_probability: float = 0.01
    wrong_object_probability: float = 0.02
    empty_object_probability: float = 0.01
    calibration_count: int = 15
    decoys: bool = False
    gain: int = 100
    offset: int = 50
    temperature: float = -10.0


MOSAIC_PA = 35.0  # M31's major axis; the mosaic's rows run along it


def _mosaic_panels() -> tuple[tuple[str, float, float], ...]:
    """2 x 3 panels of the ~115' x 87' field with ~15% overlap, the camera's y axis along M31's
    major axis (PA 35 deg): (id, east arcmin, north arcmin) of each panel centre."""
    step_x, step_y = 115.0 * 0.85, 87.0 * 0.85
    panels = []
    pa = math.radians(MOSAIC_PA)
    for row in range(3):
        for col in range(2):
            u, v = (col - 0.5) * step_x, (row - 1) * step_y  # u across, v along the major axis
            east = u * math.cos(pa) + v * math.sin(pa)
            north = -u * math.sin(pa) + v * math.cos(pa)
            panels.append((f"P{row + 1}-{col + 1}", east, north))
    return tuple(panels)


LRGB_EXPOSURE = {
    "L": 120.0,
    "R": 120.0,
    "G": 120.0,
    "B": 120.0,
    "Ha": 300.0,
    "OIII": 300.0,
    "SII": 300.0,
}

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "crab",
            "M1",
            83.6331,
            22.0145,
            ("2026-12-12", "2026-12-14", "2026-12-19"),
            ("L", "R", "G", "B"),
            LRGB_EXPOSURE,
            150,
            cloudiness=(0.0, 0.1, 0.0),
        ),
        Scenario(
            "mosaic",
            "M31",
            10.6847,
            41.2690,
            ("2026-10-09", "2026-10-10"),
            ("L",),
            LRGB_EXPOSURE,
            120,
            software="nina",
            panels=_mosaic_panels(),
            centre_on_meridian=True,
            camera_angle=MOSAIC_PA,
        ),
        Scenario(
            "cloudy-night",
            "M1",
            83.6331,
            22.0145,
            ("2026-12-16",),
            ("L",),
            LRGB_EXPOSURE,
            120,
            cloudiness=(0.8,),
            satellite_probability=0.1,
        ),
        Scenario(
            "calibration-library",
            "M1",
            83.6331,
            22.0145,
            ("2026-12-12", "2026-12-14"),
            ("L", "R"),
            {**LRGB_EXPOSURE, "R": 180.0},  # two light exposures: two sets of right darks
            20,
            decoys=True,
            off_target_probability=0.0,
            wrong_object_probability=0.0,
            empty_object_probability=0.0,
        ),
    )
}
OTHER_TARGETS = ("M42", "NGC 2244", "M45", "IC 434")


def stable_seed(*parts: object) -> int:
    """A 64-bit seed from any parts (stable across runs and Python versions)."""
    text = ":".join(map(str, parts)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


@dataclass
class Shot:
    """A planned light frame: its truth plus what the renderer needs beyond the truth."""

    truth: FrameTruth
    night: NightPlan
    sky_e: float
    gradient: tuple[float, float]
    star_scale: float  # e- per (zero-point e-/s at G=0, mag) ... multiplies 10^(-0.4 m)
    segments: list[Segment] = field(default_factory=list)
    cosmic_rays: list[tuple[float, float, float]] = field(default_factory=list)
    key: tuple[object, ...] = ()


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError as err:
        raise SimulationError(
            f"unknown scenario {name!r}; choose one of: {', '.join(SCENARIOS)}"
        ) from err


def plan_lights(
    scenario: Scenario,
    rig: Rig,
    night: NightPlan,
    n_frames: int,
    filters: tuple[str, ...],
    seed: int,
) -> list[Shot]:
    """Light frames of one night, in capture order."""
    cam = rig.camera
    h, w = rig.shape
    scale = rig.pixel_scale
    base = np.random.default_rng(stable_seed(scenario.name, seed, night.index, "night"))
    session_h = n_frames * (np.mean([scenario.exposure[f] for f in filters]) + 12.0) / 3600.0
    banks = events.cloud_banks(
        base, session_h, scenario.cloudiness[night.index % len(scenario.cloudiness)]
    )
    panels = scenario.panels or (("", 0.0, 0.0),)
    per_panel = [n_frames // len(panels) + (i < n_frames % len(panels)) for i in range(len(panels))]
    dithers = dither_offsets(rig, n_frames, base)
    goto = {}
    shots: list[Shot] = []
    clock = night.start
    if scenario.centre_on_meridian:
        transit = transit_time(scenario.ra, rig.site.longitude, night.start)
        clock = transit - timedelta(hours=session_h / 2)
    i = 0
    sensor_cm2 = cam.width * cam.height * (cam.pixel_um * 1e-4) ** 2
    for (panel, east, north), count in zip(panels, per_panel, strict=True):
        centre = offset_position(scenario.ra, scenario.dec, east * 60.0, north * 60.0)
        for j in range(count):
            flt = filters[(j // 5) % len(filters)]
            exposure = scenario.exposure[flt]
            rng = np.random.default_rng(stable_seed(scenario.name, seed, night.index, "light", i))
            hours = (clock - night.start).total_seconds() / 3600.0
            ha = hour_angle_deg(clock, rig.site.longitude, centre[0])
            side = pier_side(ha)
            if (panel, side) not in goto:  # a slew (or a meridian flip) brings a new go-to error
                err = base.normal(0, rig.mount.pointing_error_arcmin * 60.0 / 3, 2)
                goto[(panel, side)] = (float(err[0]), float(err[1]))
            ge, gn = goto[(panel, side)]
            de, dn = dithers[i]
            header_pos = offset_position(*centre, de, dn)
            true_pos = offset_position(*header_pos, ge, gn)
            off_target = bool(rng.uniform() < scenario.off_target_probability)
            if off_target:
                angle = rng.uniform(0, 2 * np.pi)
                dist = rng.uniform(3.0, 6.0) * 3600.0
                true_pos = offset_position(
                    *true_pos, dist * math.sin(angle), dist * math.cos(angle)
                )
            alt = altitude_deg(ha, centre[1], rig.site.latitude)
            air = airmass(alt)
            f = FILTERS[flt]
            seeing = seeing_arcsec(night, hours, air)
            fwhm_arcsec = math.sqrt(
                seeing**2
                + rig.telescope.optics_blur_arcsec**2
                + (2.355 * rig.mount.guiding_rms_arcsec) ** 2 / 4
            )
            fwhm_px = rig.fwhm_px(fwhm_arcsec)
            trans = events.transparency(banks, hours + exposure / 7200.0)
            extinction = 10 ** (-0.4 * f.extinction * air)
            sky_e = sky_rate(f.sky_mag, f.zero_point_e, scale**2) * exposure
            sky_e *= (1.0 + 0.25 * (air - 1.0)) * (1.0 + 0.6 * (1.0 - trans))
            lp = rig.site.light_pollution * min(air - 1.0 + 0.2, 1.5)
            rotation = (night.rotation + (180.0 if side == "east" else 0.0)) % 360.0
            lp_angle = math.radians(200.0 - rotation)  # light dome to the south-south-west
            gradient = (lp * math.sin(lp_angle), lp * math.cos(lp_angle))
            trailed = bool(rng.uniform() < scenario.trail_probability)
            trail = events.trail_vector(rng, fwhm_px) if trailed else None
            segments, seg_truth = [], []
            satellite = bool(rng.uniform() < scenario.satellite_probability)
            if satellite:
                # e- per pixel of streak: magnitude 3.5-6.5 crossing at ~0.33 deg/s, behind
                # the same clouds as the stars
                bright = f.zero_point_e * 10 ** (-0.4 * rng.uniform(3.5, 6.5)) * scale / 1200.0
                bright *= extinction * trans
                seg, coords = events.satellite(rng, (h, w), fwhm_px, bright)
                segments.append(seg)
                seg_truth.append(coords)
            rays = events.cosmic_rays(rng, (h, w), sensor_cm2, exposure)
            roll = rng.uniform()
            obj_true = scenario.target
            if roll < scenario.wrong_object_probability:
                obj_header = str(rng.choice(OTHER_TARGETS))
            elif roll < scenario.wrong_object_probability + scenario.empty_object_probability:
                obj_header = ""
            else:
                obj_header = f"{scenario.target} Panel {panel[1:]}" if panel else scenario.target
            temp = scenario.temperature + float(rng.normal(0, 0.1))
            truth = FrameTruth(
                path="",
                frame_type="light",
                night=night.date,
                filter=flt,
                exposure=exposure,
                gain=scenario.gain,
                offset=scenario.offset,
                binning=rig.binning,
                ccd_temp=round(temp, 2),
                date_obs=clock.isoformat(timespec="milliseconds").replace("+00:00", ""),
                width=w,
                height=h,
                egain=cam.egain(scenario.gain),
                read_noise_e=cam.read_noise(scenario.gain),
                dark_current_e=cam.dark_current(temp),
                ra=true_pos[0],
                dec=true_pos[1],
                rotation=rotation,
                pixel_scale=scale,
                header_ra=header_pos[0],
                header_dec=header_pos[1],
                seeing_fwhm_px=fwhm_px,
                seeing_fwhm_arcsec=fwhm_px * scale,
                psf_fwhm_sky_arcsec=fwhm_arcsec,
                airmass=air,
                transparency=trans,
                sky_level_e=sky_e,
                cloudy=trans < events.CLOUDY_BELOW,
                trailed=trailed,
                trail_px=list(trail) if trail else None,
                off_target=off_target,
                satellite=satellite,
                cosmic_rays=[[x, y] for x, y, _ in rays],
                trail_segments=seg_truth,
                panel=panel or None,
                object_header=obj_header,
                object_true=obj_true,
                pier_side=side,
                software=scenario.software,
                scenario=scenario.name,
                seed=seed,
            )
            star_scale = f.zero_point_e * exposure * extinction * trans
            shots.append(
                Shot(truth, night, sky_e, gradient, star_scale, segments, rays, (night.index, i))
            )
            i += 1
            clock += timedelta(
                seconds=exposure + 6.0 + (20.0 if i % rig.mount.dither_every == 0 else 0)
            )
            if side == "west" and hour_angle_deg(clock, rig.site.longitude, centre[0]) >= 0:
                clock += timedelta(minutes=4)  # meridian flip
        clock += timedelta(minutes=2)  # slew to the next panel
    return shots


def plan_calibration(
    scenario: Scenario, night: NightPlan, filters: tuple[str, ...], count: int, library: bool
) -> list[CalibrationRequest]:
    """Calibration sets: flats and flat-darks every night; a bias/dark library with the first
    night; decoys that fit nothing when the scenario asks for them."""
    g, o, t = scenario.gain, scenario.offset, scenario.temperature
    requests = []
    for flt in filters:
        requests.append(
            CalibrationRequest("flat", count, FLAT_EXPOSURE[flt], g, o, t, flt, night.index)
        )
    for exp in sorted({FLAT_EXPOSURE[flt] for flt in filters}):
        flt = next(f for f in filters if FLAT_EXPOSURE[f] == exp)
        requests.append(CalibrationRequest("dark-flat", count, exp, g, o, t, flt, night.index))
    if library:
        requests.append(CalibrationRequest("bias", count, 0.0, g, o, t, None, night.index))
        for exp in sorted({scenario.exposure[flt] for flt in filters}):
            requests.append(CalibrationRequest("dark", count, exp, g, o, t, None, night.index))
    if scenario.decoys and library:
        n = max(2, count // 2)
        exp = scenario.exposure[filters[0]]
        requests += [
            CalibrationRequest(
                "dark", n, exp, g, o, t + 10.0, None, night.index, "dark 10 degC too warm"
            ),
            CalibrationRequest("dark", n, exp, 0, o, t, None, night.index, "dark at another gain"),
            CalibrationRequest(
                "dark", n, exp * 2.5, g, o, t, None, night.index, "dark of another exposure"
            ),
            CalibrationRequest(
                "bias", n, 0.0, g, 30, t, None, night.index, "bias at another offset"
            ),
            CalibrationRequest(
                "flat",
                n,
                FLAT_EXPOSURE["SII"],
                g,
                o,
                t,
                "SII",
                night.index,
                "flat of an unused filter",
            ),
        ]
    return requests
