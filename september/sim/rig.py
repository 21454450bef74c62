"""The simulated imaging rig: camera, telescope, filters, mount and site, with documented
defaults modelled on a 530 mm f/5 refractor and a 16 MP IMX571-like camera."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace

import numpy as np

ARCSEC_PER_RAD = 206264.806


@dataclass(frozen=True)
class Camera:
    """A cooled CMOS camera. Gain/offset are the driver's settings; ``egain`` is e-/ADU."""

    name: str = "ZWO ASI2600MM Pro"
    width: int = 4656
    height: int = 3520
    pixel_um: float = 3.8
    unity_gain: int = 100  # gain setting with egain_at_unity e-/ADU
    egain_at_unity: float = 0.8  # e-/ADU at the unity setting; x10^(-dG/200) otherwise (0.1 dB)
    read_noise_e: float = 1.5  # e- rms at the unity setting
    read_noise_low_gain_e: float = 3.3  # e- rms at gain setting 0
    bias_per_offset: float = 10.0  # ADU of bias level per OFFSET step
    dark_current_e: float = 0.002  # e-/s/px at dark_reference_c
    dark_reference_c: float = -10.0
    dark_doubling_c: float = 6.0  # dark current doubles every this many degC
    full_well_e: float = 50000.0
    hot_fraction: float = 2e-4  # fraction of pixels that are hot
    cold_fraction: float = 5e-5  # fraction of pixels with low response
    defect_seed: int = 2600  # fixed: the same camera always has the same bad pixels
    amp_glow_e: float = 0.0  # e-/s at the glowing corner (0: none)

    def egain(self, gain: int) -> float:
        """Electrons per ADU at a gain setting."""
        return self.egain_at_unity * 10 ** (-(gain - self.unity_gain) / 200.0)

    def read_noise(self, gain: int) -> float:
        """Read noise (e- rms) at a gain setting: interpolated between 0 and unity."""
        frac = float(np.clip(gain / self.unity_gain, 0.0, 1.0))
        return self.read_noise_low_gain_e + (self.read_noise_e - self.read_noise_low_gain_e) * frac

    def bias_level(self, offset: int) -> float:
        """Mean bias level (ADU) at an offset setting."""
        return self.bias_per_offset * offset

    def dark_current(self, temperature_c: float) -> float:
        """Mean dark current (e-/s/px) at a sensor temperature."""
        doublings = (temperature_c - self.dark_reference_c) / self.dark_doubling_c
        return self.dark_current_e * 2.0**doublings

    def saturation_e(self, gain: int) -> float:
        """Electrons at which the pixel or the 16-bit ADC clips."""
        return min(self.full_well_e, 65535 * self.egain(gain))


@dataclass(frozen=True)
class Telescope:
    name: str = "William Optics RedCat-like 106/530"
    focal_length_mm: float = 530.0
    aperture_mm: float = 106.0
    vignetting: float = 0.25  # fractional illumination loss at the sensor corner
    optics_blur_arcsec: float = 1.2  # optics + focus contribution to the PSF FWHM


@dataclass(frozen=True)
class Filter:
    name: str
    zero_point_e: float  # e-/s from a G = 0 star through the filter (before extinction)
    sky_mag: float  # dark-site sky brightness, mag / arcsec^2
    extinction: float  # mag per airmass
    colour_term: float  # filter mag = G + colour_term * (BP-RP - 0.8)
    emission: float  # relative throughput for line emission (nebula)


# Zero points: ~1000 photons/s/cm^2/A at mag 0, 88 cm^2 aperture, bandwidth and QE per filter.
FILTERS: dict[str, Filter] = {
    f.name: f
    for f in (
        Filter("L", 1.6e8, 20.6, 0.16, 0.0, 1.0),
        Filter("R", 5.5e7, 20.4, 0.10, -0.35, 0.9),
        Filter("G", 5.0e7, 21.0, 0.16, 0.05, 0.5),
        Filter("B", 4.5e7, 21.5, 0.25, 0.55, 0.3),
        Filter("Ha", 1.6e6, 22.5, 0.08, -0.40, 2.5),
        Filter("OIII", 1.8e6, 23.0, 0.18, 0.30, 1.6),
        Filter("SII", 1.6e6, 22.8, 0.08, -0.45, 1.0),
    )
}


@dataclass(frozen=True)
class Mount:
    name: str = "EQ6-R Pro"
    pointing_error_arcmin: float = 1.5  # rms of the go-to error
    dither_px: float = 12.0  # max dither offset, in full-scale pixels
    dither_every: int = 3  # frames between dithers
    guiding_rms_arcsec: float = 0.6


@dataclass(frozen=True)
class Site:
    name: str = "Observatory"
    latitude: float = 51.5
    longitude: float = -0.1
    elevation: float = 50.0
    light_pollution: float = 0.35  # gradient amplitude (fraction of sky level) at the horizon side


@dataclass(frozen=True)
class Rig:
    """Everything the simulated observatory is made of."""

    camera: Camera = field(default_factory=Camera)
    telescope: Telescope = field(default_factory=Telescope)
    mount: Mount = field(default_factory=Mount)
    site: Site = field(default_factory=Site)
    binning: int = 1
    scale_name: str = "full"
    psf_arcsec_per_px: float | None = None  # converts the PSF FWHM to pixels (None: pixel_scale)

    @property
    def pixel_scale(self) -> float:
        """Arcseconds per pixel."""
        um = self.camera.pixel_um * self.binning
        return ARCSEC_PER_RAD * um * 1e-3 / self.telescope.focal_length_mm

    def fwhm_px(self, fwhm_arcsec: float) -> float:
        """Rendered star FWHM in pixels for a PSF FWHM on the sky."""
        return fwhm_arcsec / (self.psf_arcsec_per_px or self.pixel_scale)

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of a frame in pixels."""
        return self.camera.height // self.binning, self.camera.width // self.binning


SMALL_FACTOR = 8


def make_rig(scale: str = "small") -> Rig:
    """The default rig at a scale: 'full' (4656x3520, 3.8 um) or 'small' (same field, 8x
    larger pixels as if binned 8x8 in hardware: 582x440, ~11.8"/px)."""
    if scale == "full":
        return Rig()
    if scale != "small":
        raise ValueError(f"unknown scale {scale!r}; use 'small' or 'full'")
    full = Camera()
    f = SMALL_FACTOR
    camera = replace(
        full,
        name="ZWO ASI2600MM Pro (8x8 binned model)",
        width=full.width // f,
        height=full.height // f,
        pixel_um=full.pixel_um * f,
        egain_at_unity=full.egain_at_unity * 8,
        read_noise_e=full.read_noise_e * 8,  # sum of 64 reads
        read_noise_low_gain_e=full.read_noise_low_gain_e * 8,
        dark_current_e=full.dark_current_e * f * f,
        full_well_e=full.full_well_e * f * f,
    )
    # Real 8x8 binning would squeeze stars into ~0.3 px; the small scale instead draws them as
    # if sampled at 2"/px (FWHM ~2-3 px), so star measurement and seeing changes stay visible.
    return Rig(camera=camera, scale_name="small", psf_arcsec_per_px=2.0)


@functools.cache
def defect_map(camera: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fixed bad pixels: (flat indices of hot pixels, their dark current multipliers at the
    reference temperature in e-/s, flat indices of cold pixels)."""
    rng = np.random.default_rng(camera.defect_seed)
    npix = camera.width * camera.height
    n_hot = max(1, int(npix * camera.hot_fraction))
    n_cold = max(1, int(npix * camera.cold_fraction))
    picks = rng.choice(npix, n_hot + n_cold, replace=False)
    hot_rate = rng.lognormal(np.log(0.5), 1.0, n_hot)  # e-/s at the reference temperature
    return picks[:n_hot], hot_rate, picks[n_hot:]
