"""Sample data for napari (``File > Open Sample > napari GLRA``); also usable without napari.

Each function returns a list of napari ``LayerData`` tuples ``(data, kwargs, "image")``:

- :func:`blurred_camera`: scikit-image's *camera* blurred by a camera-shake
  kernel with 1 % Gaussian noise, the kernel, and the sharp original;
- :func:`blurred_fluorescence`: a synthetic fluorescence-like image (filaments,
  membranes, blobs and puncta on a dark background, 160 nm pixels; see
  :mod:`napari_glra.physics.synthetic`) blurred by a widefield PSF
  1.5 µm out of focus (a Gaussian if the optics module is missing) with
  Poisson-Gaussian noise, the PSF and the ground truth.

The blur is computed on a reflect-padded copy of the sharp image and cropped
back (``degrade(..., mode="valid")``), so the three layers align pixel for
pixel and the borders carry no artificial dark frame.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_glra.physics.degrade import degrade
from napari_glra.physics.kernels import make_kernel
from napari_glra.physics.synthetic import fluorescence_image

__all__ = ["blurred_camera", "blurred_fluorescence", "synthetic_fluorescence"]

LayerData = tuple[np.ndarray, dict[str, Any], str]


def _degrade_same(x: np.ndarray, k: np.ndarray, **kwargs: Any) -> np.ndarray:
    """Blur + noise with output aligned to ``x`` (reflect padding, valid convolution)."""
    ph, pw = k.shape[0] // 2, k.shape[1] // 2
    padded = np.pad(x, ((ph, ph), (pw, pw)), mode="reflect")
    y, _ = degrade(padded, k, mode="valid", **kwargs)
    return y


def blurred_camera(length: float = 15.0, seed: int = 4, noise: float = 0.01) -> list[LayerData]:
    """Camera-man blurred by a motion kernel, with 1 % noise; plus the kernel and the sharp image.

    Parameters
    ----------
    length : float
        Extent of the motion kernel in pixels.
    seed : int
        Seed of the kernel's trajectory and of the noise.
    noise : float
        Noise standard deviation on the [0, 1] scale.

    Returns
    -------
    list of tuple
        Blurred image, kernel and sharp original as napari layer data.
    """
    from skimage import data

    sharp = data.camera().astype(np.float32) / 255.0
    k = make_kernel("motion", length=length, seed=seed)
    blurred = _degrade_same(sharp, k, noise=noise, saturation=None, seed=seed).astype(np.float32)
    meta = {"source": "napari-glra sample", "noise_level": noise}
    return [
        (
            sharp,
            {"name": "camera (sharp)", "visible": False, "contrast_limits": (0.0, 1.0), "metadata": meta},
            "image",
        ),
        (
            k.astype(np.float32),
            {
                "name": f"kernel motion L={length:g} seed={seed}",
                "colormap": "magma",
                "metadata": {
                    "source": "napari-glra sample",
                    "kernel": {"family": "motion", "length": length, "seed": seed},
                },
            },
            "image",
        ),
        (blurred, {"name": "camera (blurred)", "contrast_limits": (0.0, 1.0), "metadata": meta}, "image"),
    ]


def synthetic_fluorescence(shape: tuple[int, int] = (256, 256), seed: int = 0) -> np.ndarray:
    """A sharp fluorescence-like image: filaments, membranes, blobs and puncta on a dark background.

    The image of :func:`napari_glra.physics.synthetic.fluorescence_image` (the generator the
    trainer uses too) for ``np.random.default_rng(seed)``.

    Parameters
    ----------
    shape : tuple of int
        Image shape.
    seed : int
        Random seed (same seed, same image).

    Returns
    -------
    numpy.ndarray
        float32 image with values in [0, 1] (background 0.005-0.03, brightest pixel 0.7-1).
    """
    return fluorescence_image(shape, np.random.default_rng(seed))


#: Optics of the synthetic fluorescence sample: 0.8-NA objective, GFP emission, 160 nm pixels.
FLUORESCENCE_OPTICS = {"na": 0.8, "wavelength": 0.52, "pixel_size": 0.16, "defocus": 1.5}


def _fluorescence_psf() -> tuple[np.ndarray, str, dict[str, Any]]:
    """A widefield PSF 1.5 µm out of focus when the optics module provides one, else a Gaussian."""
    try:
        k = make_kernel("defocus", **FLUORESCENCE_OPTICS)
        if k.ndim == 2 and np.isfinite(k).all():
            o = FLUORESCENCE_OPTICS
            return k, f"psf defocus NA={o['na']:g} z={o['defocus']:g}µm", {"family": "defocus", **o}
    except Exception:  # noqa: BLE001 - no defocus model (older core) or it refused these optics
        pass
    sigma = 2.5
    params = {"family": "gaussian", "sigma": sigma}
    return make_kernel("gaussian", sigma=sigma), f"psf gaussian σ={sigma:g}", params


def blurred_fluorescence(seed: int = 0) -> list[LayerData]:
    """Synthetic fluorescence image blurred by a PSF with Poisson-Gaussian noise, the PSF and the truth.

    Parameters
    ----------
    seed : int
        Seed of the image and the noise.

    Returns
    -------
    list of tuple
        Blurred image, PSF and ground truth as napari layer data.
    """
    sharp = synthetic_fluorescence((256, 256), seed=seed)
    k, name, params = _fluorescence_psf()
    blurred = _degrade_same(sharp, k, noise=0.005, poisson=400.0, saturation=None, seed=seed + 1)
    blurred = blurred.astype(np.float32)
    px = FLUORESCENCE_OPTICS["pixel_size"]
    meta = {
        "source": "napari-glra sample",
        "noise": "Poisson (peak 400) + Gaussian 0.5 %",
        "pixel_size_um": px,
    }
    scale = (px, px)
    return [
        (
            sharp,
            {
                "name": "fluorescence (ground truth)",
                "colormap": "green",
                "scale": scale,
                "visible": False,
                "contrast_limits": (0.0, 1.0),
                "metadata": meta,
            },
            "image",
        ),
        (
            k.astype(np.float32),
            {
                "name": name,
                "colormap": "magma",
                "scale": scale,
                "metadata": {"source": "napari-glra sample", "kernel": params},
            },
            "image",
        ),
        (
            blurred,
            {
                "name": "fluorescence (blurred)",
                "colormap": "green",
                "scale": scale,
                "contrast_limits": (0.0, 0.6),
                "metadata": meta,
            },
            "image",
        ),
    ]
