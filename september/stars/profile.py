"""Star profiles: one Moffat fit of many stars at once, for a FWHM true to any PSF shape.

Each star's cutout is fitted with ``c + A (1 + u q)^(-1/u)``, ``q = r^2 / w^2``: a Moffat profile
with ``beta = 1/u`` that becomes a Gaussian as ``u -> 0``, so one model serves seeing-limited
(Moffat-like) and Gaussian stars. All stars are fitted together by a batched Levenberg-Marquardt
loop in numpy. Pixel values are integrals over the pixel, which broadens a star by a box of one
pixel; the fitted FWHM is corrected by that box's variance (exact for Gaussians).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ProfileFit", "cutouts", "fit_profiles", "windowed_shape"]

ITERATIONS = 25
U_RANGE = (1e-3, 1.0)  # 1/beta: beta from 1 (very wide wings) to 1000 (a Gaussian)
PIXEL_BOX_VARIANCE = 8 * np.log(2) / 12  # px^2 added to FWHM^2 by integrating over a pixel


@dataclass(frozen=True)
class ProfileFit:
    """Per-star fit results (arrays of length N); ``ok`` is False where the fit failed."""

    x: np.ndarray  # refined centre, 0-based px
    y: np.ndarray
    amplitude: np.ndarray  # ADU above background
    fwhm: np.ndarray  # px, corrected for pixel integration
    beta: np.ndarray  # Moffat beta (large: Gaussian)
    ok: np.ndarray


def cutouts(image: np.ndarray, x: np.ndarray, y: np.ndarray, radius: int) -> tuple[np.ndarray, ...]:
    """Square cutouts (N, P) around rounded centres, with pixel offsets dx, dy (P,) from them."""
    offsets = np.arange(-radius, radius + 1)
    dy, dx = (axis.ravel() for axis in np.meshgrid(offsets, offsets, indexing="ij"))
    cx, cy = np.rint(x).astype(np.intp), np.rint(y).astype(np.intp)
    pixels = image[cy[:, None] + dy[None, :], cx[:, None] + dx[None, :]].astype(np.float64)
    return pixels, dx.astype(np.float64), dy.astype(np.float64), cx, cy


def _model(params: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Model values (N, P) and Jacobian (N, P, 6) for params [A, x0, y0, log w, u, c]."""
    amp, x0, y0, logw, u, c = (params[:, i : i + 1] for i in range(6))
    w2 = np.exp(2 * logw)
    ddx, ddy = dx[None, :] - x0, dy[None, :] - y0
    q = (ddx * ddx + ddy * ddy) / w2
    log_term = np.log1p(u * q)
    shape = np.exp(-log_term / u)
    model = c + amp * shape
    dmdq = -amp * shape / (1 + u * q)
    jac = np.empty((*model.shape, 6))
    jac[..., 0] = shape
    jac[..., 1] = dmdq * (-2 * ddx / w2)
    jac[..., 2] = dmdq * (-2 * ddy / w2)
    jac[..., 3] = dmdq * (-2 * q)
    jac[..., 4] = amp * shape * (log_term / (u * u) - q / (u * (1 + u * q)))
    jac[..., 5] = 1.0
    return model, jac


def fit_profiles(
    pixels: np.ndarray,
    dx: np.ndarray,
    dy: np.ndarray,
    weights: np.ndarray,
    x0: np.ndarray,
    y0: np.ndarray,
    amplitude: np.ndarray,
    fwhm_guess: np.ndarray,
) -> ProfileFit:
    """Fit every cutout (rows of ``pixels``; offsets relative to the cutout centre).

    ``x0, y0`` are first guesses of the centre relative to the cutout centre; ``weights`` (N, P)
    are 0 for pixels to ignore (outside the fit radius).
    """
    n = pixels.shape[0]
    u0 = 0.25  # beta = 4, between typical seeing and a Gaussian
    w0 = np.maximum(fwhm_guess, 1.0) / 2 / np.sqrt((2**u0 - 1) / u0)
    params = np.column_stack(
        [np.maximum(amplitude, 1e-6), x0, y0, np.log(w0), np.full(n, u0), np.zeros(n)]
    )
    damping = np.full(n, 1e-2)
    model, jac = _model(params, dx, dy)
    chi2 = np.sum(weights * (pixels - model) ** 2, axis=1)
    eye = np.eye(6)
    for _ in range(ITERATIONS):
        residual = weights * (pixels - model)
        jw = jac * weights[..., None]
        normal = np.matmul(jw.transpose(0, 2, 1), jac)
        gradient = np.matmul(jac.transpose(0, 2, 1), residual[..., None])[..., 0]
        diagonal = np.einsum("nii->ni", normal)
        lhs = normal + damping[:, None, None] * (diagonal[:, :, None] * eye + 1e-12 * eye)
        try:
            step = np.linalg.solve(lhs, gradient[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = np.zeros_like(params)
        trial = params + step
        trial[:, 4] = np.clip(trial[:, 4], *U_RANGE)
        trial[:, 3] = np.clip(trial[:, 3], np.log(0.2), np.log(200.0))
        trial_model, trial_jac = _model(trial, dx, dy)
        trial_chi2 = np.sum(weights * (pixels - trial_model) ** 2, axis=1)
        better = np.isfinite(trial_chi2) & (trial_chi2 <= chi2)
        params[better] = trial[better]
        model[better], jac[better], chi2[better] = (
            trial_model[better],
            trial_jac[better],
            trial_chi2[better],
        )
        damping = np.where(better, damping / 3, damping * 4)
    amp, xc, yc, logw, u = params[:, 0], params[:, 1], params[:, 2], params[:, 3], params[:, 4]
    hwhm = np.exp(logw) * np.sqrt((2**u - 1) / u)
    fwhm2 = (2 * hwhm) ** 2 - PIXEL_BOX_VARIANCE
    fwhm = np.sqrt(np.clip(fwhm2, 0, None))
    ok = np.isfinite(fwhm) & (amp > 0) & (fwhm2 > 0) & (np.hypot(xc - x0, yc - y0) < 2)
    return ProfileFit(x=xc, y=yc, amplitude=amp, fwhm=fwhm, beta=1 / u, ok=ok)


def windowed_shape(
    pixels: np.ndarray, dx: np.ndarray, dy: np.ndarray, xc: np.ndarray, yc: np.ndarray,
    sigma: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Axis lengths a >= b (px, 1-sigma) and angle theta (rad) from Gaussian-windowed moments.

    The window (``sigma`` per star) shrinks the measured moments; it is divided out again
    (``C_star = (C_meas^-1 - 1/s^2)^-1``), which is exact for Gaussian stars.
    """
    window_sigma = 1.5 * sigma[:, None]
    ddx, ddy = dx[None, :] - xc[:, None], dy[None, :] - yc[:, None]
    weight = np.exp(-(ddx**2 + ddy**2) / (2 * window_sigma**2)) * np.clip(pixels, 0, None)
    total = np.sum(weight, axis=1)
    total = np.where(total > 0, total, np.nan)
    cxx = np.sum(weight * ddx * ddx, axis=1) / total
    cyy = np.sum(weight * ddy * ddy, axis=1) / total
    cxy = np.sum(weight * ddx * ddy, axis=1) / total
    # star covariance = (C_meas^-1 - 1/s^2)^-1, with 2x2 inverses written out (batch-safe)
    det = cxx * cyy - cxy**2
    inv_s2 = 1 / window_sigma[:, 0] ** 2
    pxx, pyy, pxy = cyy / det - inv_s2, cxx / det - inv_s2, -cxy / det
    pdet = pxx * pyy - pxy**2
    sxx, syy, sxy = pyy / pdet, pxx / pdet, -pxy / pdet
    half_trace, spread = (sxx + syy) / 2, np.hypot((sxx - syy) / 2, sxy)
    major, minor = half_trace + spread, half_trace - spread
    valid = (det > 0) & (pdet > 0) & (pxx > 0) & (minor > 0)
    a = np.where(valid, np.sqrt(np.abs(major)), np.nan)
    b = np.where(valid, np.sqrt(np.abs(minor)), np.nan)
    theta = 0.5 * np.arctan2(2 * sxy, sxx - syy)
    return a, b, theta
