"""Tuning of the classical baselines (glra_trainer.baselines)."""

from __future__ import annotations

import json

import numpy as np
import pytest

baselines = pytest.importorskip("glra_trainer.baselines")

from napari_glra.physics.degrade import degrade  # noqa: E402
from napari_glra.physics.kernels import gaussian  # noqa: E402


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    from skimage import data, transform

    cam = transform.resize(data.camera() / 255.0, (128, 128), anti_aliasing=True)
    return [cam[:96, :96].copy(), cam[32:, 32:].copy()]


def test_psnr_ssim():
    a = np.zeros((16, 16))
    b = a + 0.1
    assert baselines.psnr(a, b) == pytest.approx(20.0)
    assert baselines.psnr(a, a) == float("inf")
    assert baselines.psnr(a, b, data_range=10) == pytest.approx(40.0)
    rng = np.random.default_rng(0)
    x = rng.random((32, 32))
    assert baselines.ssim(x, x) == pytest.approx(1.0)
    assert baselines.ssim(x, rng.random((32, 32))) < 0.2
    with pytest.raises(ValueError, match="shapes"):
        baselines.psnr(a, a[:3])


@pytest.mark.parametrize(
    "method,params",
    [
        ("wiener", {"balance": 3e-3}),
        ("rl", {"iterations": 20.0}),
        ("tv", {"lam": 1e-3}),
        ("wiener_valid", {"balance": 3e-3}),
        ("rl_valid", {"iterations": 20}),
        ("tv_valid", {"lam": 3e-4, "iterations": 1}),
    ],
)
def test_run_baseline(method, params, images):
    y, sharp = degrade(images[0], gaussian(1.5), noise=0.01, seed=0)
    out = baselines.run_baseline(method, y, gaussian(1.5), params)
    assert out.shape == y.shape
    assert out.min() >= 0 and out.max() <= 1
    assert baselines.psnr(out, sharp) > baselines.psnr(np.clip(y, 0, 1), sharp)


def test_run_baseline_errors(images):
    y = images[0]
    with pytest.raises(ValueError, match="unknown baseline"):
        baselines.run_baseline("bm3d", y, gaussian(1.0), {})
    with pytest.raises(ValueError, match="balance"):
        baselines.run_baseline("wiener", y, gaussian(1.0), {"lam": 1.0})


def test_tune_baselines_small(images):
    grid = {
        "wiener": [1e-3, 1e-2, 1e-1],
        "rl": [2, 10, 30],
        "tv": [1e-3, 1e-2, 1e-1],
        "tv_valid": [1e-4, 1e-3, 1e-2],
    }
    logs: list[str] = []
    res = baselines.tune_baselines(
        images, ["gaussian", "motion"], [0.01, 0.03], seed=1, grid=grid, log=logs.append
    )
    res = json.loads(json.dumps(res))  # JSON-serialisable
    assert set(res["results"]) == {"gaussian", "motion"}
    assert len(logs) == 2 * 2 * len(grid)
    for fam in ("gaussian", "motion"):
        for key in ("0.01", "0.03"):
            entry = res["results"][fam][key]
            assert entry["best_method"] in grid
            for m, values in grid.items():
                e = entry[m]
                assert len(e["psnr_curve"]) == len(values)
                assert e["psnr"] == pytest.approx(max(e["psnr_curve"]))
                (value,) = e["params"].values()
                assert value in values
                assert 0 < e["ssim"] <= 1
                assert e["psnr"] > entry["blurred"]["psnr"]
    # More noise, more regularisation (or no less).
    w = res["results"]["gaussian"]
    assert w["0.03"]["wiener"]["params"]["balance"] >= w["0.01"]["wiener"]["params"]["balance"]
    # Same seed, same result.
    again = baselines.tune_baselines(images, ["motion"], [0.03], seed=1, grid={"tv": grid["tv"]}, log=None)
    assert again["results"]["motion"]["0.03"]["tv"]["psnr"] == pytest.approx(
        res["results"]["motion"]["0.03"]["tv"]["psnr"]
    )
    # The tuned parameters feed run_baseline via params_for (nearest noise level).
    p = baselines.params_for(res, "wiener", "gaussian", 0.025)
    assert p == w["0.03"]["wiener"]["params"]
    assert (
        baselines.params_for(res, "rl", "motion", 0.008) == (res["results"]["motion"]["0.01"]["rl"]["params"])
    )
    with pytest.raises(ValueError, match="not tuned"):
        baselines.params_for(res, "tv", "disk", 0.01)
    with pytest.raises(ValueError, match="not tuned"):
        baselines.params_for(res, "rl_valid", "motion", 0.01)
    # Method-first copies: tuned[m][family][str(noise)]["params"].
    for m in grid:
        for fam in ("gaussian", "motion"):
            for noise in (0.01, 0.03):
                assert res[m][fam][str(noise)] == res["results"][fam][str(noise)][m]
    method_first = {m: res[m] for m in grid}
    assert baselines.params_for(method_first, "tv", "motion", 0.03) == res["tv"]["motion"]["0.03"]["params"]
    with pytest.raises(ValueError, match="not tuned"):
        baselines.params_for(method_first, "rl_valid", "motion", 0.01)


def test_tune_baselines_methods_subset(images):
    res = baselines.tune_baselines(
        images[:1],
        ["gaussian"],
        [0.02],
        seed=0,
        methods=["wiener", "rl"],
        grid={"wiener": [1e-2, 1e-1]},
        log=None,
    )
    assert set(res["grid"]) == {"wiener", "rl"}
    assert res["grid"]["wiener"] == [1e-2, 1e-1]
    assert res["grid"]["rl"] == baselines.DEFAULT_GRID["rl"]
    assert "tv" not in res and res["rl"]["gaussian"]["0.02"]["params"]["iterations"] > 0
    with pytest.raises(ValueError, match="unknown baseline"):
        baselines.tune_baselines(images, ["gaussian"], [0.01], 0, methods=["nlm"], log=None)


def test_default_grid_covers_methods():
    assert set(baselines.DEFAULT_GRID) == set(baselines.METHODS)
    assert all(isinstance(v, int) for v in baselines.DEFAULT_GRID["rl_valid"])


def test_tune_baselines_errors(images):
    with pytest.raises(ValueError, match="family"):
        baselines.tune_baselines(images, ["blob"], [0.01], seed=0, log=None)
    with pytest.raises(ValueError, match="unknown baseline"):
        baselines.tune_baselines(images, ["gaussian"], [0.01], 0, grid={"x": [1]}, log=None)
    with pytest.raises(ValueError, match="noise"):
        baselines.tune_baselines(images, ["gaussian"], [-0.1], seed=0, log=None)
    with pytest.raises(ValueError, match="at least one image"):
        baselines.tune_baselines([], ["gaussian"], [0.01], seed=0, log=None)


def test_load_crops(tmp_path):
    from skimage import io

    rng = np.random.default_rng(0)
    for i in range(3):
        io.imsave(tmp_path / f"im{i}.png", (rng.random((50, 60)) * 255).astype(np.uint8))
    crops = baselines.load_crops(tmp_path, 2, size=32, seed=0)
    assert len(crops) == 2
    assert all(c.shape == (32, 32) and 0 <= c.min() and c.max() <= 1 for c in crops)
    with pytest.raises(ValueError, match="no images"):
        baselines.load_crops(tmp_path, 0)
