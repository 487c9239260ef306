"""The "Deconvolve (GLRA)" widget: pickers, runs in a thread, errors, cancel, nD, dask, docking."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from _qt_support import blurred_pair, needs_gl, save_tiny_model, slow_engine, wait_idle  # noqa: E402
from napari.components import ViewerModel  # noqa: E402
from napari.utils.notifications import NotificationSeverity, notification_manager  # noqa: E402

from napari_glra._qt.deconvolve_widget import CURRENT_PLANE, WHOLE_STACK, DeconvolveWidget  # noqa: E402

pytestmark = pytest.mark.qt


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory, small_basis):
    return save_tiny_model(tmp_path_factory.mktemp("models") / "tiny", small_basis)


@pytest.fixture
def viewer():
    return ViewerModel()


@pytest.fixture
def widget(qtbot, viewer, tiny_model_dir):
    w = DeconvolveWidget(viewer)
    qtbot.addWidget(w.native)
    w.add_model(str(tiny_model_dir))
    w.device.value = "cpu"
    yield w
    if w.running:
        w.cancel()
        wait_idle(qtbot, w)


def _errors_since(n: int) -> list[str]:
    return [
        str(r.message) for r in notification_manager.records[n:] if r.severity == NotificationSeverity.ERROR
    ]


def _add_pair(viewer, shape=(48, 48), **image_kwargs):
    img, k = blurred_pair(shape[-2:])
    if len(shape) > 2:
        img = np.stack([np.roll(img, 3 * i, axis=1) for i in range(int(np.prod(shape[:-2])))]).reshape(shape)
    image = viewer.add_image(img, name="blurred", **image_kwargs)
    kernel = viewer.add_image(k, name="kernel gaussian σ=1.5")
    return image, kernel


def test_construction(widget, tiny_model_dir):
    for name in (
        "image",
        "kernel",
        "noise_level",
        "model",
        "device",
        "precision",
        "tile_size",
        "tta",
        "apply_to",
        "replace_previous",
        "kernel_fit",
        "run_button",
        "cancel_button",
    ):
        assert name in [w.name for w in widget], name
    assert widget.image.value is None and widget.kernel.value is None
    assert widget.run_button.enabled and not widget.cancel_button.enabled
    assert widget.model.value == str(tiny_model_dir)
    assert {"auto", "cpu"} <= set(widget.device.choices)
    assert widget.noise_fraction() is None  # "auto"
    widget.noise_level.value = 2.0
    assert widget.noise_fraction() == pytest.approx(0.02)


def test_pickers_follow_layers(widget, viewer):
    image, kernel = _add_pair(viewer)
    assert widget.image.value is image
    assert widget.kernel.value is kernel  # the kernel-like layer wins over the first layer
    other = viewer.add_image(np.zeros((64, 64), np.float32), name="other")
    assert other in widget.image.choices and other in widget.kernel.choices
    assert widget.image.value is image and widget.kernel.value is kernel
    assert widget.kernel.choices[0] is kernel  # kernel-like layers are listed first

    kernel.name = "measured psf"
    assert widget.kernel.value is kernel
    assert widget.kernel.current_choice == "measured psf"
    image.name = "renamed image"
    assert widget.image.value is image and widget.image.current_choice == "renamed image"

    viewer.layers.remove(other)
    assert other not in widget.image.choices and other not in widget.kernel.choices
    viewer.layers.remove(kernel)
    assert kernel not in widget.kernel.choices
    assert widget.kernel.value is image  # the only layer left
    viewer.layers.remove(image)
    assert widget.image.value is None and widget.kernel.value is None


def test_user_choice_is_kept(widget, viewer):
    image, kernel = _add_pair(viewer)
    widget.kernel.value = image  # deliberately odd, but the user's choice
    viewer.add_image(np.ones((5, 5), np.float32) / 25, name="psf 2")
    assert widget.kernel.value is image


def test_run_adds_layer_and_keeps_inputs(qtbot, widget, viewer):
    image, kernel = _add_pair(viewer, scale=(0.5, 0.25), translate=(10.0, -4.0))
    img_before, k_before = image.data.copy(), kernel.data.copy()
    n_layers = len(viewer.layers)
    worker = widget.run()
    assert worker is not None
    wait_idle(qtbot, widget)
    assert widget.last_error is None, widget.last_error
    assert len(viewer.layers) == n_layers + 1
    out = viewer.layers["blurred deconvolved"]
    assert out.data.shape == image.data.shape and out.data.dtype == np.float32
    np.testing.assert_array_equal(out.scale, image.scale)
    np.testing.assert_array_equal(out.translate, image.translate)
    np.testing.assert_array_equal(out.affine.affine_matrix, image.affine.affine_matrix)
    lo, hi = out.contrast_limits
    assert np.isfinite([lo, hi]).all() and lo < hi
    meta = out.metadata
    assert meta["model"] == "tiny-widget-test" and meta["model_version"] == "0.0.1"
    assert meta["kernel_layer"] == "kernel gaussian σ=1.5" and meta["image_layer"] == "blurred"
    assert 0 < meta["noise_level"] < 0.1 and meta["noise_estimated"] is True
    assert meta["device"] == "cpu" and meta["time_s"] > 0 and meta["date"]
    assert meta["precision"] in ("float32", "bfloat16")  # what "auto" ran here
    # inputs untouched, byte for byte
    assert image.data.tobytes() == img_before.tobytes() and kernel.data.tobytes() == k_before.tobytes()
    assert image.name == "blurred" and kernel.name == "kernel gaussian σ=1.5"
    # same result as the scripting API
    from napari_glra import api

    ref = api.deconvolve(
        img_before, k_before, noise_level=meta["noise_level"], model=widget.model.value, device="cpu"
    )
    np.testing.assert_allclose(out.data, ref, atol=1e-5)


def test_precision_choice_reaches_the_engine(qtbot, widget, viewer):
    _add_pair(viewer)
    widget.precision.value = "float32"
    widget.run()
    wait_idle(qtbot, widget)
    assert widget.last_error is None, widget.last_error
    assert viewer.layers[-1].metadata["precision"] == "float32"


def test_tta_choice_reaches_the_engine(qtbot, widget, viewer):
    from napari_glra import api

    image, kernel = _add_pair(viewer)
    widget.tta.value = True
    widget.noise_level.value = 1.0
    widget.run()
    wait_idle(qtbot, widget)
    assert widget.last_error is None, widget.last_error
    out = viewer.layers[-1]
    assert out.metadata["tta"] is True and out.metadata["engine_info"]["tta"] is True
    ref = api.deconvolve(
        image.data, kernel.data, noise_level=0.01, model=widget.model.value, device="cpu", tta=True
    )
    np.testing.assert_allclose(out.data, ref, atol=1e-5)


def test_explicit_noise_and_replace_previous(qtbot, widget, viewer):
    _add_pair(viewer)
    widget.noise_level.value = 1.5
    widget.run()
    wait_idle(qtbot, widget)
    first = widget.last_output
    assert first.metadata["noise_level"] == pytest.approx(0.015) and not first.metadata["noise_estimated"]
    widget.run()  # a second run adds a second layer ...
    wait_idle(qtbot, widget)
    assert len(viewer.layers) == 4 and widget.last_output is not first
    widget.replace_previous.value = True  # ... unless the previous output is to be replaced
    prev = widget.last_output
    index = viewer.layers.index(prev)
    widget.run()
    wait_idle(qtbot, widget)
    assert len(viewer.layers) == 4 and prev not in viewer.layers
    assert viewer.layers.index(widget.last_output) == index


def test_engine_warnings_are_notified_and_kept_in_the_metadata(qtbot, widget, viewer, tmp_path):
    """A noise level outside the model's training range: a warning notification, and in the metadata."""
    from napari_glra.glra.model_io import load_model_dir, save_model

    _add_pair(viewer)
    tiny = load_model_dir(widget.model.value)
    training = {"training": {"noise_model": "gaussian", "noise_range": [0.005, 0.03]}}
    ranged = save_model(tmp_path / "ranged", tiny.net, tiny.basis, name="tiny-ranged", metadata=training)
    widget.add_model(str(ranged))
    widget.noise_level.value = 20.0  # 20 %: far above 0.5-3 %
    n = len(notification_manager.records)
    widget.run()
    wait_idle(qtbot, widget)
    assert widget.last_error is None, widget.last_error
    records = notification_manager.records[n:]
    notes = [str(r.message) for r in records if r.severity == NotificationSeverity.WARNING]
    assert any("above the range model 'tiny-ranged' was trained on" in m for m in notes), notes
    assert any("above the range" in w for w in widget.last_output.metadata["warnings"])


def test_output_is_never_an_input(qtbot, widget, viewer):
    _add_pair(viewer)
    widget.replace_previous.value = True
    widget.run()
    wait_idle(qtbot, widget)
    out = widget.last_output
    widget.image.value = out  # restore the restored image: its own output must not be replaced
    widget.run()
    wait_idle(qtbot, widget)
    assert out in viewer.layers and len(viewer.layers) == 4


def test_nd_current_plane_and_whole_stack(qtbot, widget, viewer):
    image, kernel = _add_pair(viewer, shape=(3, 48, 48), scale=(2.0, 0.5, 0.5), translate=(1.0, 0.0, 0.0))
    assert widget.apply_to.enabled
    viewer.dims.set_current_step(0, 2)
    widget.apply_to.value = CURRENT_PLANE
    widget.noise_level.value = 1.0
    widget.run()
    wait_idle(qtbot, widget)
    plane = widget.last_output
    assert plane.data.shape == (1, 48, 48)
    np.testing.assert_allclose(plane.translate, [1.0 + 2 * 2.0, 0.0, 0.0])
    np.testing.assert_array_equal(plane.scale, image.scale)
    assert plane.metadata["plane_index"] == (2,) and plane.metadata["apply_to"] == CURRENT_PLANE

    widget.apply_to.value = WHOLE_STACK
    widget.run()
    wait_idle(qtbot, widget)
    stack = widget.last_output
    assert stack.data.shape == (3, 48, 48)
    np.testing.assert_allclose(plane.data[0], stack.data[2], atol=1e-4)


def test_dask_stack_stays_lazy(qtbot, widget, viewer):
    da = pytest.importorskip("dask.array")
    img, k = blurred_pair((48, 48))
    lazy = da.from_array(np.stack([img, img[::-1]]), chunks=(1, 48, 48))
    viewer.add_image(lazy, name="lazy stack", contrast_limits=(0, 1))
    viewer.add_image(k, name="kernel")
    widget.noise_level.value = 1.0
    widget.run()
    wait_idle(qtbot, widget)
    out = widget.last_output
    assert isinstance(out.data, da.Array) and out.data.shape == (2, 48, 48)
    assert tuple(out.contrast_limits) == (0.0, 1.0)  # not computed from the (lazy) data


def test_dask_plane_chunked_in_blocks_restores_lazily_block_by_block(qtbot, widget, viewer):
    da = pytest.importorskip("dask.array")
    img, k = blurred_pair((96, 96))
    kernel = viewer.add_image(k, name="kernel")
    outputs = []
    for data in (img, da.from_array(img, chunks=(48, 48))):
        layer = viewer.add_image(data, name="plane", contrast_limits=(0, 1))
        widget.image.value, widget.kernel.value = layer, kernel
        widget.noise_level.value = 1.0
        widget.run()
        wait_idle(qtbot, widget)
        outputs.append(widget.last_output.data)
    ref, lazy = outputs
    assert isinstance(lazy, da.Array) and lazy.chunks == ((48, 48), (48, 48))  # one task per block
    np.testing.assert_allclose(np.asarray(lazy), ref, atol=2e-2)  # the tiling tolerance (bfloat16)


@pytest.mark.parametrize(
    ("kernel", "message"),
    [
        (np.zeros((9, 9), np.float32), "all zeros"),
        (np.full((9, 9), np.nan, np.float32), "NaN"),
        (np.ones((3, 9, 9), np.float32), "2D"),
        (np.ones((47, 47), np.float32), "kernel"),
    ],
    ids=["zeros", "nan", "3d", "too-large"],
)
def test_bad_kernel_notifies_and_changes_nothing(qtbot, widget, viewer, kernel, message):
    img, _ = blurred_pair((48, 48))
    image = viewer.add_image(img, name="blurred")
    bad = viewer.add_image(kernel, name="bad kernel")
    widget.image.value, widget.kernel.value = image, bad
    before = [(lyr.name, lyr.data.tobytes()) for lyr in viewer.layers]
    n = len(notification_manager.records)
    widget.run()
    wait_idle(qtbot, widget)
    errors = _errors_since(n)
    assert errors and message in errors[-1], errors
    assert widget.last_error and widget.last_output is None
    assert [(lyr.name, lyr.data.tobytes()) for lyr in viewer.layers] == before
    assert widget.run_button.enabled and not widget.cancel_button.enabled


def test_missing_layers_notify(widget):
    n = len(notification_manager.records)
    assert widget.run() is None
    assert "select an image layer" in _errors_since(n)[-1]


def test_cancel_stops_the_run(qtbot, widget, viewer, monkeypatch):
    state = slow_engine(monkeypatch, steps=200, delay=0.02)
    _add_pair(viewer)
    widget.run()
    assert not widget.run_button.enabled and widget.cancel_button.enabled
    qtbot.waitUntil(lambda: state["steps"] >= 3, timeout=10_000)
    widget.cancel_button.native.click()
    wait_idle(qtbot, widget, timeout=10_000)
    assert state["steps"] < 200
    assert len(viewer.layers) == 2 and widget.last_output is None
    assert widget.status.value == "cancelled"
    assert widget.run_button.enabled and not widget.cancel_button.enabled


def test_event_loop_keeps_running(qtbot, widget, viewer, monkeypatch):
    from qtpy.QtCore import QTimer

    slow_engine(monkeypatch, steps=25, delay=0.02)
    _add_pair(viewer)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(widget.running))
    timer.start(10)
    try:
        widget.run()
        wait_idle(qtbot, widget)
    finally:
        timer.stop()
    assert sum(ticks) >= 10  # the GUI thread ticked while the job ran
    assert widget.progress_bar.visible is False and widget.last_output is not None


def test_kernel_fit_readout(widget, viewer):
    _add_pair(viewer)
    assert "%" in widget.kernel_fit.value and "⚠" not in widget.kernel_fit.value
    from napari_glra.physics.kernels import make_kernel

    # the tiny basis knows Gaussians and disks only: a motion kernel is far outside its range
    viewer.add_image(make_kernel("motion", length=9, seed=1).astype(np.float32), name="kernel motion")
    widget.kernel.value = viewer.layers["kernel motion"]
    assert "⚠" in widget.kernel_fit.value and widget.kernel_fit.native.styleSheet()
    widget.kernel.value = viewer.layers["blurred"]  # too large for the tiny basis
    assert widget.kernel_fit.value == "not usable"


@needs_gl
def test_dock_widget_end_to_end(make_napari_viewer, qtbot, tiny_model_dir):
    viewer = make_napari_viewer()
    img, k = blurred_pair((48, 48))
    viewer.add_image(np.zeros((64, 64), np.float32), name="distractor")
    image = viewer.add_image(img, name="blurred")
    kernel = viewer.add_image(k, name="psf")
    dock, widget = viewer.window.add_plugin_dock_widget("napari-glra", "Deconvolve (GLRA)")
    assert isinstance(widget, DeconvolveWidget)
    widget.add_model(str(tiny_model_dir))
    widget.device.value = "cpu"
    widget.image.value, widget.kernel.value = image, kernel
    widget.run_button.native.click()
    qtbot.waitUntil(lambda: "blurred deconvolved" in viewer.layers, timeout=60_000)
    wait_idle(qtbot, widget)
    assert viewer.layers["blurred deconvolved"].data.shape == (48, 48)
    # the picker follows a rename done through the viewer, also when docked
    kernel.name = "renamed psf"
    assert widget.kernel.value is kernel and widget.kernel.current_choice == "renamed psf"


def test_closing_the_widget_stops_the_run(qtbot, viewer, tiny_model_dir, monkeypatch):
    state = slow_engine(monkeypatch, steps=200, delay=0.02)
    _add_pair(viewer)
    widget = DeconvolveWidget(viewer)
    widget.add_model(str(tiny_model_dir))
    worker = widget.run()
    qtbot.waitUntil(lambda: state["steps"] >= 2, timeout=10_000)
    with qtbot.waitSignal(worker.finished, timeout=10_000):
        widget.native.deleteLater()
        qtbot.wait(50)
    assert state["steps"] < 200 and len(viewer.layers) == 2
    viewer.add_image(np.zeros((8, 8)), name="after")  # no callback into the deleted widget


def test_rgb_and_integer_images(qtbot, widget, viewer):
    img, k = blurred_pair((48, 48))
    rgb = np.stack([img, img[::-1], img[:, ::-1]], axis=-1)
    viewer.add_image(k, name="kernel")
    layer = viewer.add_image(rgb, name="colour", rgb=True)
    widget.image.value = layer
    widget.noise_level.value = 1.0
    widget.run()
    wait_idle(qtbot, widget)
    out = widget.last_output
    assert widget.last_error is None and out.rgb and out.data.shape == rgb.shape

    counts = (img * 4000 + 100).astype(np.uint16)
    layer = viewer.add_image(counts, name="camera counts")
    widget.image.value = layer
    widget.run()
    wait_idle(qtbot, widget)
    out = widget.last_output
    assert out.name == "camera counts deconvolved" and out.data.dtype == np.float32
    assert 50 < out.data.mean() < 4500  # on the input's intensity scale, not [0, 1]
    lo, hi = out.contrast_limits
    assert 0 < lo < hi < 6000
