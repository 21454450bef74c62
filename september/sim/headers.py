"""FITS headers and file names as real capture software writes them: KStars/Ekos, and a
N.I.N.A.-style variant with its own spellings and folder layout."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from astropy.coordinates import Angle
from astropy.io import fits

from september.sim.rig import Rig
from september.sim.truth import FrameTruth

SOFTWARES = ("ekos", "nina")
EKOS_FRAME = {"light": "Light", "bias": "Bias", "dark": "Dark", "flat": "Flat", "dark-flat": "Dark"}
NINA_FRAME = {
    "light": "LIGHT",
    "bias": "BIAS",
    "dark": "DARK",
    "flat": "FLAT",
    "dark-flat": "DARKFLAT",
}


def _sexagesimal(ra: float, dec: float) -> tuple[str, str]:
    ra_text = Angle(ra, "deg").to_string(unit="hourangle", sep=" ", precision=2, pad=True)
    dec_text = Angle(dec, "deg").to_string(
        unit="deg", sep=" ", precision=1, pad=True, alwayssign=True
    )
    return ra_text, dec_text


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9+\-]+", "_", name).strip("_") or "Unknown"


def _exp_text(exposure: float) -> str:
    return f"{exposure:g}"


def frame_path(frame: FrameTruth, number: int, target: str | None) -> str:
    """Relative path of a frame as the capture software would name it."""
    when = datetime.fromisoformat(frame.date_obs)
    stamp = when.strftime("%Y-%m-%dT%H-%M-%S")
    kind = frame.frame_type
    if frame.software == "nina":
        night = (when - timedelta(hours=12)).strftime("%Y-%m-%d")
        base = _safe(target) if kind == "light" and target else "Calibration"
        name = (
            f"{when.strftime('%Y-%m-%d_%H-%M-%S')}_{frame.filter or 'NoFilter'}_"
            f"{frame.ccd_temp:.2f}_{frame.exposure:.2f}s_{number:04d}.fits"
        )
        return f"{base}/{night}/{NINA_FRAME[kind]}/{name}"
    exp = _exp_text(frame.exposure)
    if kind == "light":
        t = _safe(target or "Unknown")
        name = f"{t}_Light_{frame.filter}_{exp}_secs_{stamp}_{number:04d}.fits"
        return f"{t}/Light/{frame.filter}/{name}"
    if kind == "flat":
        return f"Flat/{frame.filter}/Flat_{frame.filter}_{exp}_secs_{stamp}_{number:04d}.fits"
    if kind == "dark-flat":
        return f"DarkFlat/{frame.filter}/Dark_{exp}_secs_{stamp}_{number:04d}.fits"
    folder = "Bias" if kind == "bias" else "Dark"
    return f"Calibration/{folder}/{folder}_{exp}_secs_{stamp}_{number:04d}.fits"


def build_header(frame: FrameTruth, rig: Rig) -> fits.Header:
    """Header cards for a frame in its capture software's dialect (no WCS: frames are unsolved)."""
    cam, tel, site = rig.camera, rig.telescope, rig.site
    h = fits.Header()
    nina = frame.software == "nina"
    kind = frame.frame_type
    if nina:
        h["IMAGETYP"] = (NINA_FRAME[kind], "Type of exposure")
        h["EXPOSURE"] = (frame.exposure, "[s] Exposure duration")
        h["EXPTIME"] = (frame.exposure, "[s] Exposure duration")
    else:
        h["FRAME"] = (EKOS_FRAME[kind], "Frame Type")
        h["IMAGETYP"] = (f"{EKOS_FRAME[kind]} Frame", "Frame Type")
        h["EXPTIME"] = (frame.exposure, "[s] Total Exposure Time")
    h["DATE-OBS"] = (frame.date_obs[:23], "UTC start date of observation")
    h["XBINNING"] = (frame.binning, "Binning factor in width")
    h["YBINNING"] = (frame.binning, "Binning factor in height")
    pixel = cam.pixel_um * frame.binning
    if nina:
        h["XPIXSZ"] = (pixel, "[um] Pixel X axis size")
        h["YPIXSZ"] = (pixel, "[um] Pixel Y axis size")
        h["INSTRUME"] = (cam.name, "Imaging instrument name")
        h["CCD-TEMP"] = (round(frame.ccd_temp, 2), "[degC] Sensor temperature")
        h["SET-TEMP"] = (round(frame.ccd_temp), "[degC] CCD temperature setpoint")
        h["GAIN"] = (frame.gain, "Sensor gain")
        h["OFFSET"] = (frame.offset, "Sensor gain offset")
        h["EGAIN"] = (round(frame.egain, 4), "[e-/ADU] Electrons per A/D unit")
        h["SWCREATE"] = ("N.I.N.A. 3.1.2.9001 (x64)", "Software that created this file")
    else:
        h["INSTRUME"] = (cam.name, "CCD Name")
        h["CCD-TEMP"] = (round(frame.ccd_temp, 2), "CCD Temperature (Celsius)")
        h["PIXSIZE1"] = (pixel, "[um] Pixel Size 1")
        h["PIXSIZE2"] = (pixel, "[um] Pixel Size 2")
        h["XPIXSZ"] = (pixel, "[um] X binned pixel size")
        h["YPIXSZ"] = (pixel, "[um] Y binned pixel size")
        h["GAIN"] = (frame.gain, "Gain")
        h["OFFSET"] = (frame.offset, "Offset")
    h["TELESCOP"] = (tel.name, "Telescope name")
    h["FOCALLEN"] = (tel.focal_length_mm, "[mm] Focal length")
    h["APTDIA"] = (tel.aperture_mm, "[mm] Telescope aperture")
    if frame.filter and (kind in ("light", "flat") or (kind == "dark-flat" and nina)):
        h["FILTER"] = (frame.filter, "Filter")
    h["SITELAT"] = (site.latitude, "[deg] Observation site latitude")
    h["SITELONG"] = (site.longitude, "[deg] Observation site longitude")
    if kind == "light":
        h["OBJECT"] = (frame.object_header or "", "Object name")
        ra, dec = frame.header_ra, frame.header_dec
        assert ra is not None and dec is not None
        ra_text, dec_text = _sexagesimal(ra, dec)
        h["OBJCTRA"] = (ra_text, "Object J2000 RA in Hours")
        h["OBJCTDEC"] = (dec_text, "Object J2000 DEC in Degrees")
        h["RA"] = (round(ra, 6), "Object J2000 RA in Degrees")
        h["DEC"] = (round(dec, 6), "Object J2000 DEC in Degrees")
        h["EQUINOX"] = (2000, "Equinox")
        h["PIERSIDE"] = ((frame.pier_side or "").upper(), "Mount pier side")
        if frame.airmass is not None:
            h["AIRMASS"] = (round(frame.airmass, 4), "Airmass")
    h["SCALE"] = (round(frame.pixel_scale or rig.pixel_scale, 5), "arcsecs per pixel")
    return h
