"""Test-time augmentation (``tta=True``): 8 flips and rotations restored and averaged."""

from __future__ import annotations

import warnings

import dask.array as da
import numpy as np
import pytest
from scipy.signal import fftconvolve

from napari_glra.api import deconvolve
from napari_glra.engine import deconvolve_iter, run
from napari_glra.engine.augment import TRANSFORMS, backward, forward
from napari_glra.metrics import psnr
from napari_glra.physics.degrade import degrade
from napari_glra.physics.kernels import make_kernel

# An asymmetric kernel (a short curved motion blur, 11 x 11 px): its 8 transforms all differ.
K = make_kernel("motion", length=9, seed=1)


@pytest.fixture(scope="module")
def blurred(natural_images):
    x = natural_images(1, 96)[0][:80, :70]  # not square: the quarter turns swap the sides
    y, _ = degrade(x, K, noise=0.01, seed=1, mode="same")
    return y.astype(np.float32)


def _restore(image, model, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tiny basis fits the asymmetric kernel loosely
        return run(deconvolve_iter(image, K, model=model, noise_level=0.01, precision="float32", **kw))


def test_transforms_are_the_eight_symmetries_and_invert():
    a = np.arange(12.0).reshape(3, 4)
    images = [forward(a, i) for i in range(len(TRANSFORMS))]
    assert len({im.tobytes() + bytes(im.shape) for im in images}) == 8
    for i, im in enumerate(images):
        np.testing.assert_array_equal(backward(im, i), a)
    assert np.shares_memory(forward(a, 5), a)  # views, no copies
    assert len({forward(K, i).tobytes() for i in range(len(TRANSFORMS))}) == 8


def test_blur_commutes_with_the_transforms():
    """The premise: ``g(x * k) = g(x) * g(k)`` for each transform ``g``."""
    x = np.random.default_rng(0).random((40, 33))
    y = fftconvolve(x, K, mode="same")
    for i in range(len(TRANSFORMS)):
        y_i = fftconvolve(forward(x, i), forward(K, i), mode="same")
        np.testing.assert_allclose(y_i, forward(y, i), atol=1e-12)


def test_tta_is_the_mean_of_the_eight_transformed_restorations(blurred, tiny_model):
    res = _restore(blurred, tiny_model, tta=True)
    assert res.info["tta"] is True and res.data.shape == blurred.shape
    runs = []
    for i in range(len(TRANSFORMS)):
        y_i, k_i = np.ascontiguousarray(forward(blurred, i)), np.ascontiguousarray(forward(K, i))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = run(deconvolve_iter(y_i, k_i, model=tiny_model, noise_level=0.01, precision="float32"))
        runs.append(backward(out.data, i))
    manual = np.mean(runs, axis=0)
    np.testing.assert_allclose(res.data, manual, atol=1e-6)
    plain = _restore(blurred, tiny_model)
    assert plain.info["tta"] is False and np.abs(plain.data - res.data).max() > 1e-4


def test_tta_tiled_equals_untiled_and_progress_counts_every_pass(blurred, tiny_model):
    ref = _restore(blurred, tiny_model, tta=True)
    gen = deconvolve_iter(
        blurred, K, model=tiny_model, noise_level=0.01, precision="float32", tta=True, tile_size=32
    )
    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            while True:
                seen.append(next(gen))
        except StopIteration as stop:
            res = stop.value
    assert res.info["tiles_per_plane"] > 1
    assert np.abs(res.data - ref.data).max() < 1e-5
    fractions = [f for f, _ in seen]
    assert "8 flips/rotations" in seen[0][1]
    n = res.info["tiles_per_plane"]
    assert seen[-1][1] == f"plane 1/1, flip/rotation 8/8, tile {n}/{n}"
    assert len(seen) == 1 + 8 * res.info["tiles_per_plane"]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)


def test_tta_on_stacks_and_dask_matches_numpy_and_keeps_chunks(blurred, tiny_model):
    stack = np.stack([blurred, blurred[::-1].copy()])
    ref = _restore(stack, tiny_model, tta=True).data
    np.testing.assert_allclose(ref[0], _restore(blurred, tiny_model, tta=True).data, atol=1e-6)
    lazy = da.from_array(stack, chunks=(1, 40, 35))
    out = _restore(lazy, tiny_model, tta=True).data
    assert isinstance(out, da.Array) and out.chunks == lazy.chunks
    np.testing.assert_allclose(out.compute(), ref, atol=1e-6)


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_tta_must_be_a_bool(blurred, tiny_model, bad):
    with pytest.raises(TypeError, match="tta must be True or False"):
        _restore(blurred, tiny_model, tta=bad)


def test_tta_improves_the_shipped_model_on_natural_images():
    """The measured gain (benchmarks/tta.py) on two small cases, noise estimated."""
    from skimage import data

    gains = []
    for img, k in (
        (data.camera()[100:260, 120:300] / 255.0, make_kernel("motion", length=13, seed=1)),
        (data.astronaut()[40:200, 180:340, 1] / 255.0, make_kernel("disk", radius=3.0)),
    ):
        y, x = degrade(img, k, noise=0.01, seed=0)
        a = deconvolve(y, k, model="default", precision="float32")
        b = deconvolve(y, k, model="default", precision="float32", tta=True)
        gains.append(psnr(np.clip(b, 0, 1), x) - psnr(np.clip(a, 0, 1), x))
    assert min(gains) > 0.05, gains
