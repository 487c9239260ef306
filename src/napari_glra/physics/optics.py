"""Physical microscope PSFs: the scalar Born–Wolf widefield PSF with defocus.

:func:`defocus_psf` is the ``"defocus"`` family of
:func:`napari_glra.physics.kernels.make_kernel`.  Everything is in micrometres.

Model
-----
The scalar-diffraction (Born & Wolf) intensity PSF of an aberration-free,
circular-pupil objective, at a distance ``z`` (the defocus) from the focal
plane::

    h(r, z) ∝ | ∫₀¹ J₀(k · NA · r · ρ) · exp(i φ(ρ)) ρ dρ |²,      k = 2π / λ

    φ(ρ) = k z (√(n² − NA² ρ²) − n)        (default: exact defocus phase)
    φ(ρ) = −k z NA² ρ² / (2 n)             (paraxial=True: the textbook Born–Wolf form)

with ``λ`` the emission wavelength in vacuum, ``n`` the refractive index of
the immersion medium and ``ρ`` the normalised pupil radius.  The two phases
agree at low NA; at NA 1.4 in oil the paraxial one underestimates the blur
of a given defocus (geometric blur radius ``z · NA / n`` instead of
``z · tan θ``, 2.6x smaller; 1.5x in the half-energy radius at 0.75 µm
defocus), so the exact phase is the
default (it is the scalar Gibson–Lanni model without index mismatch:
``psfmodels.make_psf(model="scalar")`` agrees with it, see the tests).  The
integral is a Gauss–Legendre quadrature over ``ρ`` whose order grows with the
largest radius and the steepest pupil phase so every oscillation is
resolved, evaluated once per distinct radius of an oversampled grid and
averaged over each pixel (the camera integrates the PSF over its pixels).
At focus this is the Airy pattern, whose first zero lies at ``0.61 λ / NA``;
away from focus the PSF spreads towards the geometric blur spot of radius
``|z| · tan θ`` (``sin θ = NA / n``), with diffraction rings.  Either sign of
``z`` gives the same PSF in this aberration-free model.

For refractive-index mismatch (e.g. an oil objective imaging into water at a
depth), :func:`gibson_lanni_psf` wraps the optional ``psfmodels`` package
(scalar Gibson–Lanni or vectorial model) with the same sizing, checks and
normalisation.

Limits (what the checks enforce)
--------------------------------
- Sampling: the widefield OTF is band-limited at ``2 NA / λ``, so Nyquist
  sampling is a pixel size of at most ``λ / (4 NA)``.  Up to twice that the PSF
  is made with a :class:`UndersampledPSFWarning`; coarser pixels raise a
  ``ValueError`` (pass ``allow_undersampled=True`` to get the warning only:
  the pixel-integrated kernel is still the right blur model for the camera,
  but the image aliases fine detail and no deconvolution can restore it).
- Size: the default side is the smallest odd square holding 99 % of the PSF's
  energy (the total is known exactly from Parseval's theorem, ``π / (k NA)²``
  in µm²), capped at :data:`napari_glra.physics.psf.MAX_KERNEL_SIZE` (the limit of the
  shipped basis).  If the capped square holds less than
  :data:`MIN_CAPTURED_ENERGY` of the energy (strong defocus, very fine pixels)
  a ``ValueError`` says how large the PSF would be and what to do (bin the
  image, i.e. coarser pixels, or less defocus).  An explicit ``size`` larger
  than ``max_size`` raises too; an explicit smaller ``size`` truncates the
  PSF as asked.
- ``0 < NA < n_immersion``; wavelength, pixel size and ``n_immersion``
  positive (a wavelength above 5 µm is taken for nanometres and refused).

The kernel is float64, odd-sized, square, non-negative, symmetric under flips
and transposition, centred on its centre pixel and sums to one, like every
other family of :func:`~napari_glra.physics.kernels.make_kernel`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.special import j0, roots_legendre

from napari_glra._checks import positive
from napari_glra.physics.psf import ABSOLUTE_MAX_SIZE, MAX_KERNEL_SIZE

__all__ = [
    "MIN_CAPTURED_ENERGY",
    "UndersampledPSFWarning",
    "airy_first_zero",
    "defocus_psf",
    "gibson_lanni_psf",
    "encircled_energy",
    "nyquist_pixel_size",
    "radial_profile",
]

#: Fraction of the PSF's energy the default size holds (when the size cap allows it).
DEFAULT_ENERGY = 0.99
#: Least fraction of the energy the capped default-size kernel must hold, else ``ValueError``.
MIN_CAPTURED_ENERGY = 0.95
#: Pixel sizes up to this multiple of the Nyquist limit are allowed with a warning.
UNDERSAMPLING_TOLERANCE = 2.0
#: Wavelengths above this (µm) are taken for nanometres and refused.
MAX_WAVELENGTH_UM = 5.0
# ABSOLUTE_MAX_SIZE (imported from napari_glra.physics.psf, 1001): hard cap on the side of a
# PSF made with ``max_size=None`` (memory).
#: Largest ``oversample`` (sub-samples per pixel and axis) of :func:`defocus_psf`.
MAX_OVERSAMPLE = 16
#: Most Gauss-Legendre nodes of the radial integral; a PSF needing more (a huge defocus or
#: radius) cannot be computed accurately and is refused.
MAX_QUADRATURE_ORDER = 8000
#: Bessel zero j₀,₁ / (2π): the Airy first zero is ``AIRY_ZERO * λ / NA``.
AIRY_ZERO = 3.8317059702075125 / (2 * np.pi)  # 0.6098...


class UndersampledPSFWarning(UserWarning):
    """The pixel size is coarser than the Nyquist limit ``λ / (4 NA)`` of the widefield PSF."""


def nyquist_pixel_size(na: float, wavelength: float) -> float:
    """Largest pixel size (µm) that samples a widefield PSF at Nyquist: ``λ / (4 NA)``.

    Parameters
    ----------
    na : float
        Numerical aperture.
    wavelength : float
        Emission wavelength in vacuum (µm).

    Returns
    -------
    float
        The Nyquist pixel size in µm.
    """
    return float(wavelength) / (4.0 * float(na))


def airy_first_zero(na: float, wavelength: float) -> float:
    """Radius (µm) of the first dark ring of the in-focus Airy pattern, ``0.61 λ / NA``."""
    return AIRY_ZERO * float(wavelength) / float(na)


# --------------------------------------------------------------------------- numerics


@dataclass(frozen=True)
class _Defocus:
    """Pupil phase of a defocus ``z``: ``k z (√(n² − NA² ρ²) − n)``, or its paraxial ``−k z NA² ρ² / 2n``."""

    kz: float
    na: float
    n: float
    paraxial: bool = False

    def __call__(self, rho: np.ndarray) -> np.ndarray:
        if self.paraxial:
            return -self.kz * self.na**2 * rho**2 / (2 * self.n)
        return self.kz * (np.sqrt(self.n**2 - (self.na * rho) ** 2) - self.n)

    @property
    def max_slope(self) -> float:
        """Largest ``|dφ/dρ|`` on [0, 1] (the fastest oscillation of the pupil phase)."""
        denom = self.n if self.paraxial else np.sqrt(self.n**2 - self.na**2)
        return abs(self.kz) * self.na**2 / denom

    @property
    def tan_theta(self) -> float:
        """Slope of the marginal ray: the geometric blur radius is ``|z| · tan_theta``."""
        return self.na / (self.n if self.paraxial else np.sqrt(self.n**2 - self.na**2))


def _gl_order(v_max: float, phase: _Defocus) -> int:
    """Gauss–Legendre order resolving J₀(v ρ) and the pupil phase on [0, 1] (+ margin).

    A ``ValueError`` if that is more than :data:`MAX_QUADRATURE_ORDER` (the integral
    would not be resolved: a silently wrong PSF).
    """
    need = 48 + np.ceil(0.75 * (abs(v_max) + phase.max_slope))
    if not need <= MAX_QUADRATURE_ORDER:
        raise ValueError(
            f"the PSF oscillates too fast to be computed accurately (defocus phase slope "
            f"{phase.max_slope:.3g} rad, radius {abs(v_max):.3g} optical units: {need:.3g} quadrature "
            f"nodes, at most {MAX_QUADRATURE_ORDER}); use a smaller defocus or smaller radii"
        )
    return int(need)


@lru_cache(maxsize=8)
def _gauss_legendre(order: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights on [-1, 1] (SciPy's: O(n²), unlike NumPy's O(n³))."""
    x, w = roots_legendre(order)
    x.flags.writeable = False
    w.flags.writeable = False
    return x, w


def _field_intensity(v: np.ndarray, phase: _Defocus, order: int) -> np.ndarray:
    """``|∫₀¹ J₀(v ρ) exp(i φ(ρ)) ρ dρ|²`` for an array of ``v`` (vectorised, chunked)."""
    x, w = _gauss_legendre(order)
    rho = 0.5 * (x + 1.0)
    w = 0.5 * w * rho
    phi = phase(rho)
    wc = w * np.cos(phi)
    ws = w * np.sin(phi)
    v = np.asarray(v, dtype=np.float64).ravel()
    out = np.empty(v.size)
    chunk = max(1, 2**21 // order)
    for s in range(0, v.size, chunk):
        J = j0(v[s : s + chunk, None] * rho[None, :])
        out[s : s + chunk] = (J @ wc) ** 2 + (J @ ws) ** 2
    return out


def _optical_units(
    na: float, wavelength: float, defocus: float, n_immersion: float, paraxial: bool = False
) -> tuple[float, _Defocus]:
    """``(k·NA, phase)``: the µm → v scale and the defocus pupil phase."""
    k = 2.0 * np.pi / wavelength
    return k * na, _Defocus(k * defocus, na, n_immersion, paraxial)


def radial_profile(
    r: np.ndarray,
    na: float,
    wavelength: float,
    defocus: float = 0.0,
    n_immersion: float = 1.518,
    paraxial: bool = False,
) -> np.ndarray:
    """Scalar PSF intensity at radii ``r`` (µm), normalised to 1 at the in-focus peak.

    Point values (no pixel integration); useful to compare with the kernel or
    to plot the PSF's rings.

    Parameters
    ----------
    r : array_like
        Radial distances from the optical axis (µm).
    na, wavelength, defocus, n_immersion, paraxial
        As in :func:`defocus_psf`.

    Returns
    -------
    numpy.ndarray
        ``h(r, defocus) / h(0, 0)``, same shape as ``r``.
    """
    _check_optics(na, wavelength, n_immersion, defocus)
    r = np.abs(np.asarray(r, dtype=np.float64))
    kna, phase = _optical_units(na, wavelength, defocus, n_immersion, paraxial)
    v = kna * r
    vmax = float(v.max()) if v.size else 0.0
    return (_field_intensity(v, phase, _gl_order(vmax, phase)) / 0.25).reshape(r.shape)


def encircled_energy(
    radius: np.ndarray,
    na: float,
    wavelength: float,
    defocus: float = 0.0,
    n_immersion: float = 1.518,
    paraxial: bool = False,
) -> np.ndarray:
    """Fraction of the PSF's energy inside circles of the given radii (µm).

    Uses the exact total ``π / (k NA)²`` (Parseval), so the values tend to 1.

    Parameters
    ----------
    radius : array_like
        Radii (µm), >= 0.
    na, wavelength, defocus, n_immersion, paraxial
        As in :func:`defocus_psf`.

    Returns
    -------
    numpy.ndarray
        Encircled-energy fractions, same shape as ``radius``.
    """
    _check_optics(na, wavelength, n_immersion, defocus)
    radius = np.asarray(radius, dtype=np.float64)
    kna, phase = _optical_units(na, wavelength, defocus, n_immersion, paraxial)
    V = kna * radius
    vmax = float(np.max(V)) if V.size else 0.0
    return _encircled(vmax, phase)(V)


def _encircled(vmax: float, phase: _Defocus, dv: float = 0.02):
    """Interpolator of the encircled energy ``2 ∫₀^V |F(v)|² v dv`` for ``V <= vmax``."""
    n = max(2, int(np.ceil(vmax / dv)) + 1)
    v = np.linspace(0.0, max(vmax, dv), n)
    f = _field_intensity(v, phase, _gl_order(v[-1], phase)) * v
    ee = np.concatenate([[0.0], np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(v))]) * 2.0
    return lambda V: np.interp(V, v, ee)


def _pixel_psf(n: int, pixel_size: float, kna: float, phase: _Defocus, oversample: int) -> np.ndarray:
    """``n × n`` PSF averaged over each pixel (``oversample²`` samples), in units of ``|F|²``.

    Sample positions are ``q / (2 s)`` pixels with integer ``q``, so distinct radii are
    found exactly with integers and the field is evaluated once per radius.
    """
    s = int(oversample)
    half = n // 2
    i = np.arange(-half, half + 1)
    j = np.arange(s)
    q = (2 * s * i[:, None] + 2 * j[None, :] - (s - 1)).ravel()  # fine coordinates x 2s
    qa = np.abs(q)
    r2 = qa[:, None] ** 2 + qa[None, :] ** 2
    uniq, inv = np.unique(r2, return_inverse=True)
    v = kna * pixel_size * np.sqrt(uniq) / (2 * s)
    vals = _field_intensity(v, phase, _gl_order(float(v.max()), phase))
    fine = vals[inv].reshape(q.size, q.size)
    return fine.reshape(n, s, n, s).mean(axis=(1, 3))


# --------------------------------------------------------------------------- checks


def _check_optics(na: object, wavelength: object, n_immersion: object, defocus: object) -> None:
    na = positive(na, "na (numerical aperture)")
    wl = positive(wavelength, "wavelength (µm)")
    n = positive(n_immersion, "n_immersion (refractive index)")
    if (
        isinstance(defocus, bool)
        or not isinstance(defocus, (int, float, np.integer, np.floating))
        or not np.isfinite(float(defocus))
    ):
        raise ValueError(f"defocus must be a finite number of µm, got {defocus!r}")
    if wl > MAX_WAVELENGTH_UM:
        raise ValueError(
            f"wavelength {wl:g} looks like nanometres; give the emission wavelength in µm "
            f"(e.g. {wl / 1000:g} for {wl:g} nm)"
        )
    if na >= n:
        raise ValueError(
            f"na {na:g} must be smaller than the immersion index n_immersion {n:g} "
            "(e.g. NA 1.4 with oil, n_immersion=1.518; NA <= 0.95 in air, n_immersion=1.0)"
        )


# --------------------------------------------------------------------------- public


def defocus_psf(
    na: float = 1.4,
    wavelength: float = 0.52,
    pixel_size: float = 0.065,
    defocus: float = 0.0,
    n_immersion: float = 1.518,
    size: int | None = None,
    oversample: int = 3,
    *,
    max_size: int | None = MAX_KERNEL_SIZE,
    energy: float = DEFAULT_ENERGY,
    allow_undersampled: bool = False,
    paraxial: bool = False,
) -> np.ndarray:
    """Widefield microscope PSF with defocus (scalar Born–Wolf model), as a 2D kernel.

    All lengths are in micrometres (µm).  The defaults (a 1.4-NA oil objective,
    GFP emission, 65 nm pixels) only give the napari kernel generator starting
    values: always pass your own optics and pixel size.

    Parameters
    ----------
    na : float
        Numerical aperture of the objective, ``0 < na < n_immersion``.
    wavelength : float
        Emission wavelength in vacuum, µm (e.g. 0.52 for GFP).  Values above
        5 are refused as nanometres.
    pixel_size : float
        Pixel size in the sample plane, µm (camera pixel / magnification).
        At most the Nyquist limit ``λ / (4 NA)`` (see :func:`nyquist_pixel_size`);
        up to twice that with an :class:`UndersampledPSFWarning`, beyond
        that a ``ValueError`` unless ``allow_undersampled=True``.
    defocus : float
        Distance between the object plane and the focal plane, µm (either
        sign gives the same PSF in this aberration-free model; 0 = in focus).
    n_immersion : float
        Refractive index of the immersion medium (1.518 oil, 1.333 water,
        1.0 air).
    size : int, optional
        Odd side of the kernel in pixels.  Default: the smallest odd square
        holding ``energy`` (99 %) of the PSF's energy, at most ``max_size``.
    oversample : int
        Sub-samples per pixel and axis averaged to integrate the PSF over
        each pixel (1 to :data:`MAX_OVERSAMPLE`; 3 is within about 1 % of the exact
        pixel average at Nyquist sampling).
    max_size : int or None
        Largest side allowed (default :data:`napari_glra.physics.psf.MAX_KERNEL_SIZE`,
        the limit of the shipped basis); ``None`` lifts it (up to
        :data:`napari_glra.physics.psf.ABSOLUTE_MAX_SIZE`, 1001).
    energy : float
        Energy fraction the default size must hold, in (0, 1).
    allow_undersampled : bool
        Make the PSF (with a warning) even when the pixel size is more than
        twice the Nyquist limit.
    paraxial : bool
        Use the paraxial defocus phase ``−k z NA² ρ² / 2n`` (the textbook
        Born–Wolf form) instead of the exact ``k z (√(n² − NA² ρ²) − n)``.
        Same PSF at focus; much less blur per µm of defocus at high NA.

    Returns
    -------
    numpy.ndarray
        ``(size, size)`` float64 kernel: non-negative, symmetric, centred on
        the centre pixel, summing to one.

    Raises
    ------
    ValueError
        Non-positive or non-finite NA, wavelength, pixel size or index; NA not
        below the immersion index; a wavelength given in nm; a pixel size over
        twice the Nyquist limit; a bad ``size``/``oversample``/``energy``; a
        ``size`` larger than ``max_size``; a default-size PSF whose
        ``max_size`` square would hold less than 95 % of its energy (checked before
        the 2D PSF is computed when the blur alone shows it); a geometric blur
        radius over :data:`napari_glra.physics.psf.ABSOLUTE_MAX_SIZE` px; or a PSF
        that needs more than :data:`MAX_QUADRATURE_ORDER` quadrature nodes.

    Warns
    -----
    UndersampledPSFWarning
        When the pixel size is above the Nyquist limit (up to twice it, or
        more with ``allow_undersampled=True``).

    Examples
    --------
    >>> k = defocus_psf(na=1.4, wavelength=0.52, pixel_size=0.08)
    >>> k.shape[0] % 2, round(float(k.sum()), 6)
    (1, 1.0)
    >>> defocus_psf(na=1.4, wavelength=0.52, pixel_size=0.08, defocus=1.0).shape[0] > k.shape[0]
    True
    """
    _check_optics(na, wavelength, n_immersion, defocus)
    px = positive(pixel_size, "pixel_size (µm)")
    na, wavelength, n_immersion, defocus = float(na), float(wavelength), float(n_immersion), float(defocus)
    if (
        isinstance(oversample, bool)
        or not isinstance(oversample, (int, float, np.integer, np.floating))
        or int(oversample) != oversample
        or not 1 <= oversample <= MAX_OVERSAMPLE
    ):
        raise ValueError(f"oversample must be an integer in [1, {MAX_OVERSAMPLE}], got {oversample!r}")
    oversample = int(oversample)
    if not (isinstance(energy, (int, float, np.floating)) and 0 < energy < 1):
        raise ValueError(f"energy must be a fraction in (0, 1), e.g. 0.99, got {energy!r}")
    if max_size is not None and (isinstance(max_size, bool) or int(max_size) != max_size or max_size < 1):
        raise ValueError(f"max_size must be a positive integer or None, got {max_size!r}")
    cap = ABSOLUTE_MAX_SIZE if max_size is None else int(max_size)
    cap = cap if cap % 2 else cap - 1
    if size is not None:
        if isinstance(size, bool) or int(size) != size or size < 1 or size % 2 == 0:
            raise ValueError(f"size must be a positive odd integer, got {size!r}")
        size = int(size)
        if size > cap:
            raise ValueError(
                f"size {size} px is larger than the {cap} px limit of the basis; use a smaller size "
                "(the PSF is then truncated) or a coarser pixel size (bin the image and give the binned "
                "pixel size)"
            )

    nyq = nyquist_pixel_size(na, wavelength)
    ratio = px / nyq
    if ratio > 1 + 1e-9:
        msg = (
            f"pixel size {px:g} µm undersamples the PSF: the Nyquist limit for NA {na:g} at "
            f"λ = {wavelength:g} µm is λ/(4 NA) = {nyq:.4g} µm ({ratio:.2g}x coarser)"
        )
        if ratio > UNDERSAMPLING_TOLERANCE and not allow_undersampled:
            raise ValueError(
                msg + f"; more than {UNDERSAMPLING_TOLERANCE:g}x is refused. Check the units (µm) and the "
                "pixel size (camera pixel / magnification); with a coarser sampling the blur is mostly the "
                "pixel itself and deconvolution cannot recover detail: image at a finer pixel size, or pass "
                "allow_undersampled=True to make the kernel anyway"
            )
        warnings.warn(
            msg + "; fine detail is aliased and the kernel only approximates the blur",
            UndersampledPSFWarning,
            stacklevel=2,
        )

    kna, phase = _optical_units(na, wavelength, defocus, n_immersion, paraxial)
    r_geo = abs(defocus) * phase.tan_theta  # geometric blur radius, µm

    def does_not_fit(held: str) -> ValueError:
        need = 2 * int(np.ceil((r_geo + 2 * wavelength / na) / px)) + 1
        return ValueError(
            f"the defocus PSF (NA {na:g}, λ {wavelength:g} µm, defocus {defocus:g} µm) does not fit the "
            f"{cap} px limit of the basis at {px:g} µm/px: {held} (its blur spans about {need} px). Bin the "
            f"image (e.g. 2x, pixel_size={2 * px:g}), use a smaller defocus, or pass size=<odd <= {cap}> "
            "to accept a truncated PSF"
        )

    # Fail fast (before any integral) when the blur alone is far too large.
    if r_geo / px > ABSOLUTE_MAX_SIZE:
        raise ValueError(
            f"defocus {defocus:g} µm blurs over a radius of about {r_geo / px:.3g} px at {px:g} µm/px, more "
            f"than the {ABSOLUTE_MAX_SIZE} px any kernel may have; check the units (µm) or use a smaller "
            "defocus"
        )
    # A geometric blur disk of radius 0.75 cap puts only ~57 % of its energy in the cap x cap
    # square (the 2D PSF below would be refused for holding less than 95 %).
    if size is None and r_geo / px > 0.75 * cap:
        raise does_not_fit(f"its geometric blur alone has a radius of {r_geo / px:.0f} px")
    if size is None:
        # Radius of the circle holding `energy` (a square of that half-side holds more).
        r_search = r_geo + 25.0 * wavelength / na
        half_cap_um = (cap // 2 + 1) * px * np.sqrt(2)
        vmax = kna * min(r_search, max(half_cap_um, 2 * AIRY_ZERO * wavelength / na))
        ee = _encircled(vmax, phase)
        grid = np.linspace(0.0, vmax, 4001)
        above = np.nonzero(ee(grid) >= energy)[0]
        r_need = grid[above[0]] / kna if above.size else r_search
        n0 = 2 * int(np.ceil(r_need / px + 0.5)) + 1
        n = min(n0, cap)
        # The circle of radius half_cap_um holds the pixel-integrated cap x cap square: if even it
        # holds too little, so does the square (no need to compute the 2D PSF).
        circle = float(ee(kna * half_cap_um))
        if n0 > cap and half_cap_um <= r_search and circle < MIN_CAPTURED_ENERGY:
            raise does_not_fit(f"a {cap} px square holds at most {100 * circle:.1f} % of its energy")
    else:
        n = size

    k = _pixel_psf(n, px, kna, phase, oversample)

    if size is None:
        # Parseval: ∫|F(v)|² v dv = 1/2, so ∫∫ |F(k NA r)|² dA = π / (k NA)² µm².
        c = n // 2
        cum = np.array([k[c - h : c + h + 1, c - h : c + h + 1].sum() for h in range(c + 1)])
        frac = cum * px * px * kna**2 / np.pi
        if frac[-1] < MIN_CAPTURED_ENERGY and n == cap:
            raise does_not_fit(f"a {cap} px square holds only {100 * frac[-1]:.0f} % of its energy")
        ok = np.nonzero(frac >= energy * (1 - 1e-9))[0]
        h = int(ok[0]) if ok.size else c
        k = k[c - h : c + h + 1, c - h : c + h + 1]

    # Exact symmetry (the grid is symmetric; this removes round-off differences).
    k = 0.25 * (k + k[::-1] + k[:, ::-1] + k[::-1, ::-1])
    k = 0.5 * (k + k.T)
    k = np.clip(k, 0.0, None)
    return k / k.sum()


def gibson_lanni_psf(
    na: float = 1.4,
    wavelength: float = 0.52,
    pixel_size: float = 0.065,
    defocus: float = 0.0,
    n_immersion: float = 1.518,
    size: int | None = None,
    oversample: int = 3,
    *,
    n_sample: float | None = None,
    depth: float = 0.0,
    model: str = "scalar",
    max_size: int | None = MAX_KERNEL_SIZE,
    energy: float = DEFAULT_ENERGY,
    allow_undersampled: bool = False,
) -> np.ndarray:
    """Gibson–Lanni (scalar) or vectorial widefield PSF with index mismatch, via ``psfmodels``.

    An optional extra: needs ``pip install psfmodels`` (Talley Lambert's
    maintained implementation of Gibson & Lanni 1991 and Aguet et al. 2009).
    Units, checks (sampling, size, NA) and the default size are those of
    :func:`defocus_psf` (the size is that of the matching aberration-free PSF),
    and the kernel is normalised, symmetrised and odd-sized the same way.
    Coverslip and design parameters are psfmodels' defaults (170 µm glass of
    index ``n_immersion``, design immersion index ``n_immersion``).

    Parameters
    ----------
    na, wavelength, pixel_size, defocus, n_immersion, size, oversample
        As in :func:`defocus_psf` (µm).
    n_sample : float, optional
        Refractive index of the sample (1.333 water, 1.45 glycerol-mounted
        tissue...); default ``n_immersion`` (no mismatch, then the scalar
        model equals :func:`defocus_psf`).
    depth : float
        Depth of the emitter above the coverslip (µm); with ``n_sample !=
        n_immersion`` the PSF gains spherical aberration growing with depth.
    model : {"scalar", "vectorial"}
        psfmodels' scalar Gibson–Lanni or vectorial (Aguet) model.
    max_size, energy, allow_undersampled
        As in :func:`defocus_psf`.

    Returns
    -------
    numpy.ndarray
        Odd, square, symmetric, non-negative float64 kernel summing to one.

    Raises
    ------
    ImportError
        If psfmodels is not installed (the message says how to install it).
    ValueError
        As :func:`defocus_psf`; also a bad ``model``, ``n_sample`` or ``depth``.
    """
    if model not in ("scalar", "vectorial"):
        raise ValueError(f"model must be 'scalar' or 'vectorial', got {model!r}")
    ns = n_immersion if n_sample is None else positive(n_sample, "n_sample (refractive index)")
    if isinstance(depth, bool) or not np.isfinite(float(depth)) or float(depth) < 0:
        raise ValueError(f"depth must be a finite number of µm >= 0, got {depth!r}")
    try:
        import psfmodels
    except ImportError:
        raise ImportError(
            "gibson_lanni_psf needs the optional package psfmodels: pip install psfmodels "
            "(or use defocus_psf, the built-in aberration-free scalar model)"
        ) from None
    ref = defocus_psf(
        na,
        wavelength,
        pixel_size,
        defocus,
        n_immersion,
        size,
        1,
        max_size=max_size,
        energy=energy,
        allow_undersampled=allow_undersampled,
    )
    n = ref.shape[0]
    ni = float(n_immersion)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        k = psfmodels.make_psf(
            [float(depth) + float(defocus)],
            nx=n,
            dxy=float(pixel_size),
            pz=float(depth),
            NA=float(na),
            wvl=float(wavelength),
            ns=float(ns),
            ni=ni,
            ni0=ni,
            ng=ni,
            ng0=ni,
            oversample_factor=int(oversample),
            normalize=False,
            model=model,
        )[0]
    k = np.asarray(k, dtype=np.float64)
    if not np.all(np.isfinite(k)) or k.sum() <= 0:
        raise ValueError("psfmodels returned an invalid PSF for these parameters")
    k = 0.25 * (k + k[::-1] + k[:, ::-1] + k[::-1, ::-1])
    k = np.clip(0.5 * (k + k.T), 0.0, None)
    return k / k.sum()
