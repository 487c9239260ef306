"""The "Kernel / PSF generator" widget: families, live preview, Add, Prepare PSF."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from _qt_support import needs_gl  # noqa: E402
from napari.components import ViewerModel  # noqa: E402
from napari.utils.notifications import NotificationSeverity, notification_manager  # noqa: E402

from napari_glra._qt.kernel_widget import KernelWidget, kernel_families, kernel_layer_name  # noqa: E402
from napari_glra.physics.kernels import make_kernel  # noqa: E402

pytestmark = pytest.mark.qt


@pytest.fixture
def viewer():
    return ViewerModel()


@pytest.fixture
def widget(qtbot, viewer):
    w = KernelWidget(viewer)
    qtbot.addWidget(w.native)
    return w


def test_families_follow_the_core():
    fams = kernel_families()
    assert fams[:3] == ["gaussian", "disk", "motion"]
    try:
        make_kernel("defocus")
        has_defocus = True
    except ValueError as err:
        has_defocus = "unknown kernel kind" not in str(err)
    except TypeError:
        has_defocus = True  # exists, needs parameters
    assert ("defocus" in fams) == has_defocus


def test_layer_names():
    assert kernel_layer_name("gaussian", {"sigma": 2.0}) == "kernel gaussian σ=2"
    assert kernel_layer_name("motion", {"length": 15.0, "seed": 3}) == "kernel motion L=15 seed=3"


def test_preview_follows_parameters(widget):
    assert widget.family.value == "gaussian"
    np.testing.assert_allclose(widget.preview.kernel, make_kernel("gaussian", sigma=2.0))
    assert not widget.preview.pixmap().isNull()
    widget.gaussian_sigma.value = 3.0
    np.testing.assert_allclose(widget.preview.kernel, make_kernel("gaussian", sigma=3.0))
    widget.family.value = "disk"
    assert not widget.disk_radius.native.isHidden() and widget.gaussian_sigma.native.isHidden()
    np.testing.assert_allclose(widget.preview.kernel, make_kernel("disk", radius=5.0))
    widget.size.value = 15
    assert widget.preview.kernel.shape == (15, 15)
    widget.size.value = 0
    widget.family.value = "motion"
    widget.motion_seed.value = 7
    np.testing.assert_allclose(widget.preview.kernel, make_kernel("motion", length=15.0, seed=7))


def test_add_kernel_layer(widget, viewer):
    layer = widget.add_kernel()
    assert layer.name == "kernel gaussian σ=2"
    assert layer.data.sum() == pytest.approx(1.0)
    assert layer.metadata["kernel"] == {"family": "gaussian", "sigma": 2.0}
    widget.family.value = "motion"
    widget.motion_length.value = 11
    widget.motion_seed.value = 5
    widget.add_button.native.click()
    layer = viewer.layers[-1]
    assert layer.name == "kernel motion L=11 seed=5"
    np.testing.assert_allclose(layer.data, make_kernel("motion", length=11.0, seed=5))


def test_prepare_measured_psf(widget, viewer):
    yy, xx = np.mgrid[:41, :41]
    bead = (100 + 2000 * np.exp(-((yy - 17.3) ** 2 + (xx - 22.6) ** 2) / (2 * 2.0**2))).astype(np.uint16)
    layer = viewer.add_image(bead, name="bead")
    before = layer.data.copy()
    assert widget.psf.value is layer
    out = widget.prepare_psf()
    assert out is not None and out.name == "kernel from bead"
    k = out.data
    assert k.ndim == 2 and k.shape[0] % 2 == 1 and k.shape[0] == k.shape[1]
    assert k.sum() == pytest.approx(1.0) and k.min() >= 0
    c = k.shape[0] // 2
    cy, cx = (np.indices(k.shape) * k).sum(axis=(1, 2))
    assert abs(cy - c) < 0.05 and abs(cx - c) < 0.05
    np.testing.assert_array_equal(layer.data, before)


def test_prepare_psf_resamples_to_the_image(widget, viewer):
    yy, xx = np.mgrid[:41, :41]
    bead = np.exp(-((yy - 20) ** 2 + (xx - 20) ** 2) / (2 * 4.0**2))
    viewer.add_image(np.zeros((64, 64), np.float32), name="image", scale=(0.2, 0.2))
    viewer.add_image(bead, name="bead", scale=(0.1, 0.1))
    widget.psf.value = viewer.layers["bead"]
    widget.image.value = viewer.layers["image"]
    widget.subtract_background.value = False
    widget.resample.value = True
    k = widget.prepare_psf().data
    sd = np.sqrt((((np.indices(k.shape) - k.shape[0] // 2) ** 2).sum(0) * k).sum() / 2)
    assert sd == pytest.approx(2.0, rel=0.1)  # 4 px at 0.1 -> 2 px at 0.2


def test_prepare_bad_psf_notifies(widget, viewer):
    viewer.add_image(np.zeros((15, 15), np.float32), name="empty psf")
    n_layers, n = len(viewer.layers), len(notification_manager.records)
    assert widget.prepare_psf() is None
    errors = [r for r in notification_manager.records[n:] if r.severity == NotificationSeverity.ERROR]
    assert errors and "all zeros" in str(errors[-1].message)
    assert len(viewer.layers) == n_layers


def test_defocus_family(widget, viewer):
    if "defocus" not in kernel_families():
        pytest.skip("the optics module (make_kernel('defocus')) is not available")
    widget.family.value = "defocus"
    assert not widget.defocus_na.native.isHidden() and widget.gaussian_sigma.native.isHidden()
    default_px = widget.defocus_pixel_size.value
    viewer.add_image(np.zeros((32, 32), np.float32), name="uncalibrated")  # scale 1 px: ignored
    assert widget.defocus_pixel_size.value == pytest.approx(default_px)
    layer = viewer.add_image(np.zeros((64, 64), np.float32), name="calibrated", scale=(0.13, 0.13))
    widget.image.value = layer
    assert widget.defocus_pixel_size.value == pytest.approx(0.13)
    widget.defocus_defocus.value = 1.0
    params = widget.kernel_params()
    assert params["pixel_size"] == pytest.approx(0.13) and params["defocus"] == pytest.approx(1.0)
    out = widget.add_kernel()
    assert out.name.startswith("kernel defocus") and "px=0.13" in out.name
    np.testing.assert_allclose(out.data, make_kernel("defocus", **params))


@needs_gl
def test_dock_kernel_widget(make_napari_viewer):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-glra", "Kernel / PSF generator")
    assert isinstance(widget, KernelWidget)
    widget.add_button.native.click()
    assert viewer.layers[-1].name == "kernel gaussian σ=2"
