"""Plate solving with astrometry.net's ``solve-field`` on september's own star list.

Why this way: handing ``solve-field`` an xylist (positions and fluxes from
:mod:`september.stars`) skips its slow image reading and source extraction; a pixel-scale range
from the header (focal length, pixel size, binning) and the header pointing (``--ra --dec
--radius``) shrink the search to a few index healpixes, so most frames solve in about a second.
When the hinted search fails (the header pointing is wrong, e.g. a mount that was never synced),
one blind search over the whole sky follows. Both are bounded by ``--cpulimit``. A solution is
only returned after it verifies: enough catalogue stars matched, small residuals, and a pixel
scale inside the hinted range.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning
from astropy.wcs.utils import fit_wcs_from_points

from september.errors import SolveError, ToolMissingError
from september.image.headers import FrameMeta

__all__ = ["Solution", "SolveHints", "hints_from_meta", "solution_from_wcs", "solve_stars"]

SOLVE_FIELD = "solve-field"
MIN_STARS = 8  # fewer detections cannot make enough quads to solve
MIN_MATCHES = 6  # catalogue stars that must match for a solution to count as verified
SIP_MIN_MATCHES = 20  # fewer matches: a plain TAN is refitted instead of solve-field's SIP
MAX_RMS_PX = 3.0  # px, largest acceptable rms of matched star residuals
SCALE_MARGIN = 0.10  # +-10 % around the scale computed from the header
HINTED_SHARE = 3  # the hinted run gets 1/3 of the CPU limit when a blind run may follow
SCALE_SLACK = 0.02  # tolerance when checking the solved scale against the hinted range
DEFAULT_RADIUS = 5.0  # deg, search radius around the header pointing when the field is unknown
ARCSEC_PER_RADIAN_PER_MM = 206.265  # arcsec/px = 206.265 * pixel (um) / focal length (mm)


@dataclass(frozen=True)
class SolveHints:
    """What is known before solving: header pointing and a pixel-scale range."""

    ra: float | None = None  # degrees
    dec: float | None = None
    radius: float = DEFAULT_RADIUS  # degrees around (ra, dec) to search
    scale_low: float | None = None  # arcsec/px
    scale_high: float | None = None

    @property
    def has_position(self) -> bool:
        return self.ra is not None and self.dec is not None

    @property
    def has_scale(self) -> bool:
        return self.scale_low is not None and self.scale_high is not None


@dataclass(frozen=True)
class Solution:
    """A verified plate solution of a frame of ``width`` x ``height`` pixels."""

    wcs_header: str  # FITS header cards separated by newlines (TAN-SIP as solve-field wrote it)
    ra: float  # degrees, centre of the frame
    dec: float
    pixel_scale: float  # arcsec/px
    rotation: float  # degrees East of North of the image's +y axis, 0..360
    parity: str  # 'normal' (sky as seen) | 'flipped' (mirrored)
    width_deg: float
    height_deg: float
    corners: tuple[tuple[float, float], ...]  # (ra, dec) of pixel corners (0,0),(W,0),(W,H),(0,H)
    radius: float  # degrees, centre to the farthest corner
    width: int
    height: int
    matched: int = 0  # catalogue stars matched
    rms_px: float | None = None  # rms residual of the matched stars, px
    blind: bool = False  # solved by the blind fallback (the header pointing was not used)
    seconds: float = 0.0  # wall time spent in solve-field
    extras: dict[str, Any] = field(default_factory=dict)

    def wcs(self) -> WCS:
        """The solution as an astropy WCS (with SIP distortion when present)."""
        return _read_wcs(fits.Header.fromstring(self.wcs_header, sep="\n"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (corners as lists)."""
        return {
            "wcs_header": self.wcs_header,
            "ra": self.ra,
            "dec": self.dec,
            "pixel_scale": self.pixel_scale,
            "rotation": self.rotation,
            "parity": self.parity,
            "width_deg": self.width_deg,
            "height_deg": self.height_deg,
            "corners": [list(corner) for corner in self.corners],
            "radius": self.radius,
            "width": self.width,
            "height": self.height,
            "matched": self.matched,
            "rms_px": self.rms_px,
            "blind": self.blind,
            "seconds": self.seconds,
        }


def hints_from_meta(meta: FrameMeta, *, margin: float = SCALE_MARGIN) -> SolveHints | None:
    """Hints from a header: pointing, and the scale ``206.265 * pixel * binning / focal`` +-10 %.

    Capture programs disagree on whether the pixel size in the header is already binned, so with
    binning > 1 the range spans both readings. Returns None when the header gives nothing.
    """
    scale_low = scale_high = None
    if meta.pixel_size and meta.focal_length and meta.pixel_size > 0 and meta.focal_length > 0:
        unbinned = ARCSEC_PER_RADIAN_PER_MM * meta.pixel_size / meta.focal_length
        scale_low = unbinned * (1 - margin)
        scale_high = unbinned * meta.binning * (1 + margin)
    has_position = meta.ra is not None and meta.dec is not None
    if not has_position and scale_low is None:
        return None
    radius = DEFAULT_RADIUS
    if scale_high and meta.width and meta.height:
        diagonal = math.hypot(meta.width, meta.height) * scale_high / 3600
        radius = max(2.0, 1.5 * diagonal)  # header pointing is often off by a field or so
    return SolveHints(
        ra=meta.ra if has_position else None,
        dec=meta.dec if has_position else None,
        radius=radius,
        scale_low=scale_low,
        scale_high=scale_high,
    )


def solve_stars(
    x: np.ndarray,
    y: np.ndarray,
    flux: np.ndarray,
    width: int,
    height: int,
    hints: SolveHints | None,
    cpulimit: float = 30.0,
    index_dir: str | Path | None = None,
    *,
    max_stars: int = 300,
    blind_fallback: bool = True,
) -> Solution:
    """Solve a frame from its star list (x, y 0-based px, flux); see the module docstring.

    ``cpulimit`` (CPU seconds) bounds the whole solve: the hinted run gets a third of it (a
    right pointing solves in seconds; a wrong one should not eat the budget), the blind fallback
    what the hinted run left, at least a third. Raises :class:`SolveError` with reason
    'too-few-stars', 'unsolved', 'unverified' or 'solver-failed', and
    :class:`ToolMissingError` when solve-field is not installed.
    """
    program = shutil.which(SOLVE_FIELD)
    if program is None:
        raise ToolMissingError(
            "solve-field (astrometry.net) is not installed; install the Debian packages "
            "'astrometry.net' and 'astrometry-data-tycho2-10-19' (or set the index directory)."
        )
    x, y, flux = (np.asarray(values, dtype=np.float64) for values in (x, y, flux))
    good = np.isfinite(x) & np.isfinite(y) & np.isfinite(flux)
    x, y, flux = x[good], y[good], flux[good]
    if len(x) < MIN_STARS:
        raise SolveError(f"only {len(x)} stars to solve with (need {MIN_STARS}).", "too-few-stars")
    order = np.argsort(flux)[::-1][:max_stars]
    hints = hints or SolveHints()
    with tempfile.TemporaryDirectory(prefix="september-solve-") as tmp:
        work = Path(tmp)
        xylist = work / "stars.xy.fits"
        _write_xylist(xylist, x[order], y[order], flux[order])
        config = _write_config(work, index_dir, cpulimit) if index_dir else None
        attempts = [hints] if hints.has_position else []
        if blind_fallback or not attempts:
            attempts.append(SolveHints(scale_low=hints.scale_low, scale_high=hints.scale_high))
        started = time.monotonic()
        last_error: SolveError | None = None
        for number, attempt in enumerate(attempts):
            spent = time.monotonic() - started
            if number == 0:  # a right pointing solves in seconds: keep most for the blind run
                limit = cpulimit / HINTED_SHARE if len(attempts) > 1 else cpulimit
            else:
                limit = max(cpulimit - spent, cpulimit / 3)
            base = work / f"try{number}"
            try:
                solution = _run(program, xylist, base, width, height, attempt, limit, config)
            except SolveError as err:
                last_error = err
                continue
            _verify_scale(solution, hints)
            return _with(solution, blind=not attempt.has_position and hints.has_position,
                         seconds=time.monotonic() - started)  # fmt: skip
    assert last_error is not None
    raise last_error


def solution_from_wcs(
    wcs: WCS, width: int, height: int, header_text: str | None = None
) -> Solution:
    """Centre, scale, rotation, parity, size and corners of a frame with this WCS."""
    centre_x, centre_y = (width - 1) / 2, (height - 1) / 2
    centre = _sky(wcs, [centre_x], [centre_y])[0]
    # rotation: position angle (N through E) of the image's +y direction at the centre
    up = _sky(wcs, [centre_x], [centre_y + 10.0])[0]
    right = _sky(wcs, [centre_x + 10.0], [centre_y])[0]
    rotation = float(centre.position_angle(up).deg) % 360.0
    east_of_up = (float(centre.position_angle(right).deg) - rotation) % 360.0
    parity = "normal" if east_of_up > 180.0 else "flipped"  # +x points West on a normal view
    corners_sky = _sky(
        wcs, [-0.5, width - 0.5, width - 0.5, -0.5], [-0.5, -0.5, height - 0.5, height - 0.5]
    )
    edges = _sky(
        wcs, [-0.5, width - 0.5, centre_x, centre_x], [centre_y, centre_y, -0.5, height - 0.5]
    )
    scale = 3600.0 * math.sqrt(abs(np.linalg.det(wcs.pixel_scale_matrix)))
    text = header_text if header_text is not None else wcs.to_header(relax=True).tostring(sep="\n")
    return Solution(
        wcs_header=text,
        ra=float(centre.ra.deg),
        dec=float(centre.dec.deg),
        pixel_scale=scale,
        rotation=rotation,
        parity=parity,
        width_deg=float(edges[0].separation(edges[1]).deg),
        height_deg=float(edges[2].separation(edges[3]).deg),
        corners=tuple((float(c.ra.deg), float(c.dec.deg)) for c in corners_sky),
        radius=float(max(centre.separation(corners_sky).deg)),
        width=width,
        height=height,
    )


# --- solve-field ---------------------------------------------------------------------------


def _write_xylist(path: Path, x: np.ndarray, y: np.ndarray, flux: np.ndarray) -> None:
    """FITS table of X, Y (1-based, FITS convention solve-field expects) and FLUX."""
    columns = [
        fits.Column(name="X", format="D", array=x + 1.0),
        fits.Column(name="Y", format="D", array=y + 1.0),
        fits.Column(name="FLUX", format="D", array=flux),
    ]
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(columns)]).writeto(path)


def _write_config(work: Path, index_dir: str | Path, cpulimit: float) -> Path:
    """An astrometry-engine config whose only index path is ``index_dir``."""
    index_dir = Path(index_dir).expanduser()
    if not index_dir.is_dir() or not any(index_dir.glob("*.fits")):
        raise SolveError(
            f"index directory {index_dir} has no astrometry.net index files (*.fits).",
            "no-index",
        )
    path = work / "backend.cfg"
    path.write_text(f"inparallel\ncpulimit {cpulimit:.0f}\nadd_path {index_dir}\nautoindex\n")
    return path


def _run(
    program: str,
    xylist: Path,
    base: Path,
    width: int,
    height: int,
    hints: SolveHints,
    cpulimit: float,
    config: Path | None,
) -> Solution:
    command = [
        program, str(xylist), "--dir", str(base.parent), "--out", base.name,
        "--width", str(width), "--height", str(height),
        "--x-column", "X", "--y-column", "Y", "--sort-column", "FLUX",
        "--no-plots", "--overwrite", "--no-remove-lines", "--no-verify-uniformize",
        "--new-fits", "none", "--index-xyls", "none", "--rdls", "none", "--temp-axy",
        "--crpix-center", "--cpulimit", f"{max(cpulimit, 1.0):.0f}",
    ]  # fmt: skip
    if hints.has_scale:
        command += ["--scale-units", "arcsecperpix"]
        command += [
            "--scale-low",
            f"{hints.scale_low:.5f}",
            "--scale-high",
            f"{hints.scale_high:.5f}",
        ]
    if hints.has_position:
        command += ["--ra", f"{hints.ra:.6f}", "--dec", f"{hints.dec:.6f}"]
        command += ["--radius", f"{hints.radius:.3f}"]
    if config is not None:
        command += ["--config", str(config)]
    started = time.monotonic()
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=3 * cpulimit + 60, check=False
        )
    except subprocess.TimeoutExpired as err:
        raise SolveError(
            f"solve-field did not finish within {3 * cpulimit + 60:.0f} s.", "unsolved"
        ) from err
    seconds = time.monotonic() - started
    wcs_path, corr_path = base.with_suffix(".wcs"), base.with_suffix(".corr")
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise SolveError(
            f"solve-field failed (exit {result.returncode}): {' | '.join(tail)}", "solver-failed"
        )
    if not base.with_suffix(".solved").exists() or not wcs_path.exists():
        where = (
            f"within {hints.radius:.1f} deg of the header pointing"
            if hints.has_position
            else "blind"
        )
        raise SolveError(
            f"no solution found ({where}, cpulimit {cpulimit:.0f} s); check the focal length "
            "and pixel size in the header, or that index files cover this field size.",
            "unsolved",
        )
    header = fits.getheader(wcs_path)
    wcs, matched, rms = _read_wcs(header), *_matches(corr_path)
    text = header.tostring(sep="\n").strip()
    if MIN_MATCHES <= matched < SIP_MIN_MATCHES and wcs.sip is not None:
        wcs, rms = _refit_tan(corr_path)  # too few stars to pin down a distortion polynomial
        text = wcs.to_header(relax=True).tostring(sep="\n").strip()
    if matched < MIN_MATCHES or (rms is not None and rms > MAX_RMS_PX):
        raise SolveError(
            f"solution did not verify: {matched} matched stars (need {MIN_MATCHES}), "
            f"rms {rms if rms is None else round(rms, 2)} px (max {MAX_RMS_PX}).",
            "unverified",
        )
    solution = solution_from_wcs(wcs, width, height, text)
    return _with(solution, matched=matched, rms_px=rms, seconds=seconds)


def _correspondences(corr_path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Matched stars from the .corr file: field x, y (0-based px) and index (ra, dec) degrees."""
    if not corr_path.exists():
        return None
    with fits.open(corr_path) as hdus:
        table = hdus[1].data
        if table is None or len(table) == 0:
            return None
        xy = np.column_stack([table["field_x"], table["field_y"]]).astype(float) - 1.0
        radec = np.column_stack([table["index_ra"], table["index_dec"]]).astype(float)
        index_xy = np.column_stack([table["index_x"], table["index_y"]]).astype(float) - 1.0
    return xy, radec, index_xy


def _matches(corr_path: Path) -> tuple[int, float | None]:
    """Number of matched stars and rms field-index residual (px) from the .corr file."""
    pairs = _correspondences(corr_path)
    if pairs is None:
        return 0, None
    xy, _, index_xy = pairs
    return len(xy), float(np.sqrt(np.mean(np.sum((xy - index_xy) ** 2, axis=1))))


def _refit_tan(corr_path: Path) -> tuple[WCS, float]:
    """A plain TAN WCS least-squares fitted to the matched stars, and its rms residual (px)."""
    xy, radec, _ = _correspondences(corr_path)  # type: ignore[misc]
    sky = SkyCoord(radec[:, 0], radec[:, 1], unit="deg")
    wcs = fit_wcs_from_points((xy[:, 0], xy[:, 1]), sky, projection="TAN")
    fx, fy = wcs.all_world2pix(radec[:, 0], radec[:, 1], 0)
    return wcs, float(np.sqrt(np.mean((fx - xy[:, 0]) ** 2 + (fy - xy[:, 1]) ** 2)))


def _verify_scale(solution: Solution, hints: SolveHints) -> None:
    if not hints.has_scale:
        return
    low, high = hints.scale_low * (1 - SCALE_SLACK), hints.scale_high * (1 + SCALE_SLACK)
    if not low <= solution.pixel_scale <= high:
        raise SolveError(
            f'solved pixel scale {solution.pixel_scale:.3f}"/px is outside the expected '
            f'{hints.scale_low:.3f}-{hints.scale_high:.3f}"/px.',
            "unverified",
        )


def _with(solution: Solution, **changes: Any) -> Solution:
    return replace(solution, **changes)


def _read_wcs(header: fits.Header) -> WCS:
    """astropy WCS of a header without image axes (.wcs files), without the NAXIS warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        return WCS(header, relax=True)


def _sky(wcs: WCS, x: list[float], y: list[float]) -> SkyCoord:
    ra, dec = wcs.all_pix2world(np.asarray(x, float), np.asarray(y, float), 0)
    return SkyCoord(ra, dec, unit="deg", frame="icrs")
