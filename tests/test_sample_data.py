"""Sample data: aligned layers, named kernels, deterministic; loads through napari."""

from __future__ import annotations

import numpy as np
import pytest

from napari_glra._sample_data import blurred_camera, blurred_fluorescence, synthetic_fluorescence
from napari_glra.physics.degrade import blur


def _by_name(layers):
    return {kw["name"]: (data, kw, kind) for data, kw, kind in layers}


def test_blurred_camera_layers():
    layers = blurred_camera()
    assert [kind for *_, kind in layers] == ["image"] * 3
    named = _by_name(layers)
    kernel_names = [n for n in named if n.startswith("kernel ")]
    assert kernel_names == ["kernel motion L=15 seed=4"]
    sharp, blurred, k = named["camera (sharp)"][0], named["camera (blurred)"][0], named[kernel_names[0]][0]
    assert sharp.shape == blurred.shape == (512, 512) and sharp.dtype == blurred.dtype == np.float32
    assert k.ndim == 2 and k.shape[0] % 2 == 1 and k.sum() == pytest.approx(1.0, abs=1e-5)
    # aligned: the blurred image is the sharp one blurred by the kernel, plus ~1 % noise
    inner = (slice(20, -20), slice(20, -20))
    resid = blurred[inner] - blur(sharp, k, mode="same")[inner]
    assert abs(resid.mean()) < 2e-3 and resid.std() == pytest.approx(0.01, rel=0.1)
    np.testing.assert_array_equal(blurred_camera()[2][0], blurred)  # deterministic


def test_blurred_fluorescence_layers():
    layers = blurred_fluorescence()
    named = _by_name(layers)
    psf_names = [n for n in named if n.startswith("psf ")]
    assert len(psf_names) == 1
    truth, blurred = named["fluorescence (ground truth)"][0], named["fluorescence (blurred)"][0]
    k = named[psf_names[0]][0]
    assert truth.shape == blurred.shape == (256, 256)
    assert named["fluorescence (blurred)"][1]["scale"] == named[psf_names[0]][1]["scale"]
    assert k.sum() == pytest.approx(1.0, abs=1e-5)
    # dark background, bright sparse structures
    assert np.median(truth) < 0.1 and truth.max() > 0.5
    m = k.shape[0] // 2 + 2  # away from the (reflect-padded) border
    inner = (slice(m, -m), slice(m, -m))
    resid = blurred[inner] - blur(truth, k, mode="same")[inner]
    assert abs(resid.mean()) < 5e-3 and resid.std() < 0.03
    np.testing.assert_array_equal(synthetic_fluorescence(seed=3), synthetic_fluorescence(seed=3))
    assert not np.array_equal(synthetic_fluorescence(seed=3), synthetic_fluorescence(seed=4))


@pytest.mark.qt
@pytest.mark.parametrize("key", ["blurred_camera", "blurred_fluorescence"])
def test_open_sample_in_napari(qtbot, key):
    pytest.importorskip("napari")
    import npe2
    from napari.components import ViewerModel

    from napari_glra._qt.deconvolve_widget import DeconvolveWidget

    npe2.PluginManager.instance().discover()  # what napari does at start-up
    viewer = ViewerModel()
    viewer.open_sample("napari-glra", key)
    assert len(viewer.layers) == 3
    widget = DeconvolveWidget(viewer)
    qtbot.addWidget(widget.native)
    # the pickers land on the blurred image and on its kernel
    assert widget.image.value.name.endswith("(blurred)")
    assert widget.kernel.value.name.startswith(("kernel ", "psf "))
