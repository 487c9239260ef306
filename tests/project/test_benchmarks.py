"""End-to-end run of ``benchmarks/run_benchmarks.py --quick`` with a tiny model on two small images."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("glra_trainer")
pytest.importorskip("matplotlib")

from _scripts import load_script  # noqa: E402


def _load_script():
    return load_script("benchmarks/run_benchmarks.py")


@pytest.fixture(scope="module")
def bench_model(tmp_path_factory) -> Path:
    """An untrained d=79, m=8 model whose basis is fitted on a few kernels of each family.

    d=79 lets the API accept every kernel of the training ranges (its limit is d // 2).
    """
    from napari_glra.glra.basis import Basis, fit_glram
    from napari_glra.glra.model_io import save_model
    from napari_glra.glra.network import GLRANet, NetConfig
    from napari_glra.glra.pseudo_inverse import pseudo_inverse
    from napari_glra.physics.kernels import FAMILIES, KERNEL_RANGES, sample_kernel

    d, m = 79, 8
    rng = np.random.default_rng(0)
    mats = []
    for fam in FAMILIES:
        for _ in range(4):
            k, _ = sample_kernel(fam, rng)
            for s in (0.01, 0.03):
                kd = pseudo_inverse(k, size=d, noise_level=s)
                mats.append(kd / np.linalg.norm(kd))
    L, R, _ = fit_glram(np.stack(mats), m, iters=4)
    basis = Basis(
        L,
        R,
        {
            "prior": "gradient",
            "version": "test",
            "families": {f: KERNEL_RANGES[f] for f in FAMILIES},
            "heldout_error": {f: 0.3 for f in FAMILIES},
            "kernels_per_family": 4,
        },
    )
    net = GLRANet(NetConfig(d=d, m=m, width=4, first_kernel=3, depth=1, last_kernel=3), L, R)
    out = tmp_path_factory.mktemp("model") / "tiny"
    save_model(out, net, basis, name="tiny-bench", version="0")
    return out


@pytest.fixture(scope="module")
def eval_dir(tmp_path_factory) -> Path:
    from skimage import data, io

    d = tmp_path_factory.mktemp("images")
    io.imsave(d / "camera.png", data.camera()[100:228, 150:278], check_contrast=False)
    io.imsave(d / "coins.png", data.coins()[50:178, 100:228], check_contrast=False)
    return d


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::napari_glra.engine.kernel_fit.KernelFitWarning")  # untrained tiny model
def test_quick_benchmark_end_to_end(tmp_path, bench_model, eval_dir):
    bench = _load_script()
    docs = tmp_path / "docs"
    rc = bench.main(
        [
            "--quick",
            "--model",
            str(bench_model),
            "--eval-dir",
            str(eval_dir),
            "--tune-dir",
            str(eval_dir),
            "--docs",
            str(docs),
            "--device",
            "cpu",
            "--set",
            "images=2",
            "--set",
            "crop=80",
            "--set",
            "tune_images=1",
            "--set",
            "skip_images=0",
            "--set",
            "ood_images=1",
            "--set",
            "basis_d=31",
            "--set",
            "basis_ranks=[2, 4, 8]",
            "--set",
            "basis_kernels=4",
            "--set",
            "basis_heldout=2",
            "--set",
            "basis_iters=3",
            "--set",
            "scaling_sizes=[128]",
        ]
    )
    assert rc == 0  # (its speed is the benchmark's business, not a unit test's)

    figures = docs / "figures"
    for name in (
        "grid_gaussian",
        "grid_disk",
        "grid_motion",
        "psnr_vs_noise",
        "basis_rank",
        "basis_vectors",
        "basis_M",
        "scaling",
    ):
        assert (figures / f"{name}.png").stat().st_size > 1000, name

    rows = list(csv.DictReader(open(docs / "data" / "protocol_summary.csv")))
    cells = {(float(r["noise"]), r["family"], r["method"]) for r in rows}
    for noise in (0.01, 0.02, 0.03):
        for fam in ("gaussian", "disk", "motion"):
            for method in ("blurred", "model", "model_est", "linear", "wiener", "rl", "tv", "uwiener"):
                assert (noise, fam, method) in cells
    assert all(np.isfinite(float(r["psnr"])) for r in rows)

    # the protocol table is glra_trainer.evaluate's: same numbers in its summary and in ours
    summary = json.loads((docs / "data" / "evaluate" / "summary.json").read_text())
    ours = {(float(r["noise"]), r["family"], r["method"]): float(r["psnr"]) for r in rows}
    assert ours[(0.02, "disk", "model")] == pytest.approx(
        summary["table"]["0.02"]["disk"]["model"]["psnr"], abs=1e-3
    )

    meta = json.loads((docs / "data" / "protocol_meta.json").read_text())
    assert {c["file"] for c in meta["crops"]} == {"camera.png", "coins.png"}
    assert meta["quick"] is True and meta["seconds"] > 0

    md = (docs / "benchmarks.md").read_text()
    for text in (
        "# Benchmarks",
        "Quick run",
        "Noise 2 %",
        "napari-glra, noise estimated",
        "## Where napari-glra loses",
        "figures/grid_motion.png",
        "figures/scaling.png",
        "figures/basis_M.png",
        "camera.png",
    ):
        assert text in md, text
    # an untrained model loses everywhere: the page must say so, computed from the numbers
    assert "A classical method has a higher mean PSNR" in md


@pytest.mark.filterwarnings("ignore::napari_glra.engine.kernel_fit.KernelFitWarning")  # untrained tiny model
def test_grid_shows_the_engine_result(bench_model):
    """The figures' napari-glra panel is the engine's restoration (with its border extension)."""
    from napari_glra import api
    from napari_glra.physics.degrade import degrade
    from napari_glra.physics.kernels import make_kernel

    methods = load_script("benchmarks/suite_methods.py")
    model = api.load_model(str(bench_model))
    k = make_kernel("motion", length=11, seed=2)
    x = np.random.default_rng(0).random((60, 60))
    y, _ = degrade(x, k, noise=0.01, seed=0)
    out = methods.restore_all(model, y, k, 0.01, "motion", {}, "cpu", ["model"])
    ref = np.clip(api.deconvolve(y, k, noise_level=0.01, model=model, device="cpu"), 0, 1)
    np.testing.assert_array_equal(out["model"], ref)


def test_profile_stages_adds_up():
    """benchmarks/profile_stages.py times the engine's stages inside one real call."""
    prof = load_script("benchmarks/profile_stages.py")
    res = prof.profile(128, "default", repeats=1)
    stages = ("kernel coefficients", "border extension", "Fourier block", "artifact block")
    assert set(res) == {*stages, "rest", "total"}
    assert all(res[s] > 0 for s in stages) and res["rest"] >= 0
    assert sum(res[s] for s in stages) + res["rest"] == pytest.approx(res["total"])
