"""Shared fixtures: small, deterministic bases and networks."""

from __future__ import annotations

import numpy as np
import pytest
from _data import shared_data

from napari_glra.glra.basis import Basis, fit_glram
from napari_glra.glra.pseudo_inverse import pseudo_inverse
from napari_glra.physics.kernels import make_kernel

SMALL_D = 31
SMALL_M = 8


@pytest.fixture(scope="session")
def small_basis() -> Basis:
    """A d=31, m=8 basis fitted on a few Gaussian and disk pseudo-inverses."""
    mats = []
    for s in (1.0, 1.5, 2.0, 2.5):
        mats.append(pseudo_inverse(make_kernel("gaussian", sigma=s), size=SMALL_D, reg=0.05))
    for r in (2.0, 3.0, 4.0):
        mats.append(pseudo_inverse(make_kernel("disk", radius=r), size=SMALL_D, reg=0.05))
    L, R, _ = fit_glram(np.stack(mats), SMALL_M, iters=5)
    return Basis(L, R, {"prior": "gradient", "version": "test"})


# --------------------------------------------------------------------------- engine / api
TINY_NET = {"d": 31, "m": 8, "width": 4, "first_kernel": 3, "depth": 1, "last_kernel": 3}


def net_inputs(cfg, B: int = 1, H: int = 40, W: int = 33, seed: int = 0):
    """Seeded ``(y, M)`` for a ``GLRANet`` of config ``cfg``: ``(B, 1, H, W)`` images in [0, 1] and
    ``(B, m, m)`` coefficients."""
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.rand(B, 1, H, W, generator=g), torch.randn(B, cfg.m, cfg.m, generator=g) * 0.3


def assert_tiles_stitch(model_dir, x: np.ndarray) -> None:
    """Through the engine: ``model_dir`` run on a blurred ``x`` (plus 41 rows) in uneven tiles
    of 37 px (the border pad, 18 px, not a multiple of the cells) equals its untiled run."""
    from napari_glra.engine import deconvolve_iter, run
    from napari_glra.physics.degrade import degrade

    k = make_kernel("gaussian", sigma=1.5)
    y, _ = degrade(np.concatenate([x, x[:41]]), k, noise=0.01, seed=0, mode="same")
    ref = run(deconvolve_iter(y, k, model=model_dir, noise_level=0.01, precision="float32"))
    res = run(deconvolve_iter(y, k, model=model_dir, noise_level=0.01, precision="float32", tile_size=37))
    assert ref.info["tiles_per_plane"] == 1 and res.info["tiles_per_plane"] > 4
    assert res.data.shape == ref.data.shape == y.shape
    assert np.abs(res.data - ref.data).max() < 1e-5


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A saved tiny model (d=31, m=8, width 4) whose basis fits Gaussian (sigma 1-2) and disk (r 2-4) kernels.

    The basis is fitted on unit-norm pseudo-inverses at several noise levels with the
    default regularisation, as the trainer does; the network is untrained (its output is
    the linear GLRA estimate plus a small random correction), which is enough to test
    the engine's plumbing and numerics.
    """
    from napari_glra.glra.model_io import save_model
    from napari_glra.glra.network import GLRANet, NetConfig

    mats = []
    kernels = [make_kernel("gaussian", sigma=s) for s in (1.0, 1.3, 1.6, 2.0)]
    kernels += [make_kernel("disk", radius=r) for r in (2.0, 3.0, 4.0)]
    for k in kernels:
        for s in (0.005, 0.01, 0.02, 0.05):
            kd = pseudo_inverse(k, size=TINY_NET["d"], noise_level=s)
            mats.append(kd / np.linalg.norm(kd))
    L, R, _ = fit_glram(np.stack(mats), TINY_NET["m"], iters=8)
    basis = Basis(
        L,
        R,
        {
            "prior": "gradient",
            "version": "test",
            "families": {"gaussian": {"sigma": [1.0, 2.0]}, "disk": {"radius": [2.0, 4.0]}},
        },
    )
    net = GLRANet(NetConfig(**TINY_NET), L, R, seed=0)
    return save_model(tmp_path_factory.mktemp("models") / "tiny", net, basis, name="tiny", version="0.0-test")


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    """The tiny model, loaded through the public loader (cached)."""
    from napari_glra.api import load_model

    return load_model(tiny_model_dir)


def _natural_images(n: int = 4, size: int | None = 96, offset: int = 0) -> list[np.ndarray]:
    """Grey natural images in [0, 1]: BSDS500 test images if present, else scikit-image's.

    ``size`` crops a ``size x size`` square (``None``: the whole image).
    """
    root = shared_data("bsds500", "test")
    files = sorted(root.glob("*.jpg"))[offset : offset + n] if root is not None else []
    out = []
    if len(files) == n:
        from skimage import io

        for f in files:
            img = io.imread(f, as_gray=True).astype(np.float64)
            out.append(img if size is None else img[40 : 40 + size, 40 : 40 + size])
        return out
    from skimage import color, data

    sources = [
        data.camera(),
        color.rgb2gray(data.astronaut()),
        color.rgb2gray(data.coffee()),
        data.coins(),
        color.rgb2gray(data.chelsea()),
        data.moon(),
        color.rgb2gray(data.rocket()),
        data.brick(),
    ]
    if size is None:  # whole images: only those large enough for the border protocols' crops (>= 400 px)
        sources = [img for img in sources + [data.grass(), data.gravel()] if min(img.shape[:2]) >= 400]
    for img in (sources * (1 + (offset + n) // len(sources)))[offset : offset + n]:
        img = img.astype(np.float64)
        img = img / 255.0 if img.max() > 1.5 else img
        h, w = img.shape
        out.append(img if size is None else img[h // 3 : h // 3 + size, w // 3 : w // 3 + size])
    return out


@pytest.fixture(scope="session")
def natural_images():
    """``natural_images(n, size, offset)``: grey [0, 1] crops of natural images (BSDS500 test or skimage)."""
    return _natural_images


@pytest.fixture()
def image_dir(tmp_path):
    """A folder with two small grey images (trainer runs without BSDS500)."""
    from skimage import data, io

    d = tmp_path / "images"
    d.mkdir()
    io.imsave(d / "camera.png", data.camera()[:96, :96], check_contrast=False)
    io.imsave(d / "coins.png", data.coins()[:96, :96], check_contrast=False)
    return d


# --------------------------------------------------------------------------- headless napari
@pytest.fixture(autouse=True)
def _gl_extensions_without_context(request, monkeypatch):
    """Let napari add image layers when the headless GL context reports no extensions.

    Under ``QT_QPA_PLATFORM=offscreen`` (and sometimes Xvfb) napari's image visual asks
    ``get_gl_extensions()`` before any GL context is current; vispy then decodes ``None``
    and raises ``AttributeError`` from inside the layer callback (seen intermittently on a
    fresh clone).  In that case only, the layer is built as napari does for a GPU without
    float textures.  Tests without a napari viewer are untouched.
    """
    if "make_napari_viewer" not in request.fixturenames:
        return
    image_mod = pytest.importorskip("napari._vispy.layers.image")
    original = image_mod.get_gl_extensions

    def extensions() -> str:
        try:
            return original()
        except AttributeError:
            return ""

    monkeypatch.setattr(image_mod, "get_gl_extensions", extensions)
