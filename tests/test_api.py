"""The public scripting API (napari_glra.api)."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from napari_glra import api
from napari_glra.engine import pipeline as engine
from napari_glra.engine import registry as model_registry
from napari_glra.physics.degrade import degrade
from napari_glra.physics.kernels import make_kernel

K = make_kernel("gaussian", sigma=1.6)


@pytest.fixture(scope="module")
def blurred(natural_images):
    x = natural_images(1, 80, offset=1)[0]
    return degrade(x, K, noise=0.01, seed=1, mode="same")[0]


@pytest.mark.slow
def test_importable_without_qt_or_napari():
    code = (
        "import sys, napari_glra.api\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'napari', 'magicgui', 'vispy'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_deconvolve_matches_engine_and_keeps_shape(blurred, tiny_model):
    out = api.deconvolve(blurred, K, model=tiny_model, noise_level=0.01)
    ref = engine.run(engine.deconvolve_iter(blurred, K, model=tiny_model, noise_level=0.01)).data
    assert out.shape == blurred.shape and out.dtype == np.float64  # float64 in, float64 out
    assert api.deconvolve(blurred.astype(np.float32), K, model=tiny_model).dtype == np.float32
    np.testing.assert_array_equal(out, ref)
    data, info = api.deconvolve(blurred, K, model=tiny_model, return_info=True)
    assert info["noise_estimated"] and 0.005 < info["noise_level"] < 0.02
    np.testing.assert_allclose(
        data, api.deconvolve(blurred, K, model=tiny_model, noise_level=info["noise_level"])
    )


def test_progress_callable_and_tqdm(blurred, tiny_model, capsys):
    calls = []
    api.deconvolve(
        np.stack([blurred] * 3),
        K,
        model=tiny_model,
        noise_level=0.01,
        progress=lambda f, m: calls.append((f, m)),
    )
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0) and len(calls) == 4
    api.deconvolve(blurred, K, model=tiny_model, noise_level=0.01, progress=True)
    assert "100%" in capsys.readouterr().err
    api.deconvolve(blurred, K, model=tiny_model, noise_level=0.01, progress=False)
    with pytest.raises(TypeError, match="progress"):
        api.deconvolve(blurred, K, model=tiny_model, progress="yes")


def test_dask_through_the_api(blurred, tiny_model):
    da = pytest.importorskip("dask.array")
    lazy = da.from_array(np.stack([blurred, blurred[::-1]]), chunks=(1, 40, 80))
    out = api.deconvolve(lazy, K, model=tiny_model, noise_level=0.01)
    assert isinstance(out, da.Array)
    ref = api.deconvolve(np.stack([blurred, blurred[::-1]]), K, model=tiny_model, noise_level=0.01)
    # chunked within the planes: restored block-parallel, equal within the tiling tolerance
    np.testing.assert_allclose(out.compute(), ref, atol=1e-4)


def test_load_model_by_path_is_cached_and_reloads_on_change(tiny_model_dir):
    a = api.load_model(tiny_model_dir)
    b = api.load_model(str(tiny_model_dir))
    assert a is b and a.name == "tiny" and a.version == "0.0-test"
    assert api.load_model(tiny_model_dir / "config.json") is a
    cfg = tiny_model_dir / "config.json"
    st = cfg.stat()
    os.utime(cfg, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    try:
        c = api.load_model(tiny_model_dir)
        assert c is not a and c.name == "tiny"
    finally:
        os.utime(cfg, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_named_models(tiny_model_dir, monkeypatch, blurred):
    monkeypatch.setattr(
        model_registry, "_builtin_model_dirs", lambda: {"zeta": tiny_model_dir, "default": tiny_model_dir}
    )
    assert api.available_models() == ["default", "zeta"]
    assert api.load_model("zeta") is api.load_model("default")
    out = api.deconvolve(blurred, K, noise_level=0.01)  # model="default"
    assert out.shape == blurred.shape
    with pytest.raises(ValueError, match=r"unknown model 'nope': available models: 'default', 'zeta'"):
        api.load_model("nope")


def test_no_models_installed_message(monkeypatch, blurred):
    monkeypatch.setattr(model_registry, "_builtin_model_dirs", lambda: {})
    assert api.available_models() == []
    with pytest.raises(ValueError, match="none are installed.*default model is not installed"):
        api.deconvolve(blurred, K)


def test_shipped_models_are_listed():
    names = api.available_models()
    assert isinstance(names, list) and all(isinstance(n, str) for n in names)
    for n in names:
        m = api.load_model(n)
        assert m.net is not None and m.basis.d == m.net.config.d


def test_kernel_fit_error(tiny_model):
    e_good = api.kernel_fit_error(K, model=tiny_model)
    e_bad = api.kernel_fit_error(make_kernel("motion", length=9, seed=0), model=tiny_model)
    assert 0 <= e_good < 0.05 < 0.3 < e_bad <= 1.0
    # the same number the engine reports for the same noise level
    img = np.random.default_rng(0).random((48, 48))
    info = engine.run(engine.deconvolve_iter(img, K, model=tiny_model, noise_level=0.02)).info
    assert api.kernel_fit_error(K, model=tiny_model, noise_level=0.02) == pytest.approx(
        info["kernel_fit_error"]
    )
    with pytest.raises(ValueError, match="all zeros"):
        api.kernel_fit_error(np.zeros((3, 3)), model=tiny_model)
    with pytest.raises(ValueError, match="noise_level"):
        api.kernel_fit_error(K, model=tiny_model, noise_level=-1)


def test_reexports():
    from napari_glra.engine import noise
    from napari_glra.physics import degrade as degrade_mod
    from napari_glra.physics import kernels, psf

    assert api.make_kernel is kernels.make_kernel
    assert api.degrade is degrade_mod.degrade
    assert api.estimate_noise is noise.estimate_noise
    k = np.zeros((9, 9))
    k[2:5, 3:6] = 2.0
    np.testing.assert_allclose(api.prepare_psf(k), psf.prepare_psf(k))
    assert "cpu" in api.available_devices()


def test_public_functions_have_numpy_docstrings():
    for name in api.__all__:
        obj = getattr(api, name)
        assert obj.__doc__, name
        if inspect.isfunction(obj) and obj.__module__ == "napari_glra.api" and name != "available_models":
            assert "Parameters\n    ----------" in obj.__doc__, name
            assert "Returns\n    -------" in obj.__doc__, name
    doc = api.deconvolve.__doc__ + api.__doc__
    for phrase in ("[0, 1]", "0.01 = 1 %", "percentile", "float32", "noise_level"):
        assert phrase in doc


def test_deconvolve_is_reasonably_fast(tiny_model):
    img = np.random.default_rng(0).random((256, 256)).astype(np.float32)
    api.deconvolve(img, K, model=tiny_model, noise_level=0.01)
    t = time.perf_counter()
    api.deconvolve(img, K, model=tiny_model, noise_level=0.01)
    assert time.perf_counter() - t < 5.0
