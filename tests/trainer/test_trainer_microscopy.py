"""The microscopy model's trainer pipeline : config, fluorescence evaluation, smoke run.

Mirrors ``test_trainer_smoke.py`` with ``trainer/configs/microscopy.toml``: basis (with the
defocus family) -> fit (mixed natural + synthetic fluorescence, Poisson-Gaussian noise) ->
export -> evaluate (synthetic fluorescence protocol) -> evaluate again with the tuned
parameters -> export with the evaluations in the card -> load.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("glra_trainer")

from glra_trainer.baselines import degrade_level, tune_baselines  # noqa: E402
from glra_trainer.cli import main  # noqa: E402
from glra_trainer.evaluate import fluorescence_set, run_evaluate  # noqa: E402

CONFIG = str(Path(__file__).resolve().parents[2] / "trainer" / "configs" / "microscopy.toml")


def _resolved(command: str, capsys, *extra: str) -> dict:
    assert main([command, "--config", CONFIG, *extra, "--print-config"]) == 0
    return json.loads(capsys.readouterr().out)


def test_microscopy_config(capsys):
    basis = _resolved("basis", capsys)
    assert "defocus" in basis["families"] and basis["d"] == 151 and basis["m"] == 50
    fit = _resolved("fit", capsys)
    assert fit["source"] == "mixed" and fit["noise_model"] == "poisson_gaussian"
    assert fit["families"] == ["gaussian", "defocus"] and fit["context"] == 64
    assert fit["out"] == "trainer/runs/microscopy" and fit["network"]["width"] == 32
    ev = _resolved("evaluate", capsys)
    assert ev["eval_source"] == "fluorescence" and ev["noise_levels"] == [1000.0, 200.0]
    assert _resolved("evaluate", capsys, "--smoke")["noise_levels"] == [1000.0]
    assert _resolved("export", capsys)["name"] == "microscopy"


def test_poisson_gaussian_protocol_level():
    rng = np.random.default_rng(0)
    x = np.full((40, 40), 0.5)
    k = np.ones((3, 3)) / 9
    y, xs = degrade_level(x, k, 1000.0, rng, "poisson_gaussian", read_noise=2.0, saturation=None)
    assert y.shape == xs.shape == (38, 38)
    assert np.std(y) == pytest.approx(np.sqrt(0.5 / 1000 + (2 / 1000) ** 2), rel=0.15)
    y, _ = degrade_level(x, k, 0.01, rng)  # Gaussian, x1.2 saturation: the BSDS protocol
    assert np.mean(y) == pytest.approx(0.6, abs=0.005)


def test_tune_baselines_poisson_gaussian():
    from napari_glra.physics.synthetic import fluorescence_image

    imgs = [fluorescence_image((72, 72), np.random.default_rng(1)).astype(np.float64)]
    out = tune_baselines(
        imgs,
        ["defocus"],
        [1000.0, 200.0],
        methods=["wiener"],
        log=None,
        noise_model="poisson_gaussian",
        read_noise=2.0,
        saturation=None,
    )
    assert set(out["wiener"]["defocus"]) == {"1000.0", "200.0"}
    assert out["protocol"]["noise_model"] == "poisson_gaussian" and out["protocol"]["saturation"] is None
    # more photons, less regularisation
    lo = out["wiener"]["defocus"]["1000.0"]["params"]["balance"]
    hi = out["wiener"]["defocus"]["200.0"]["params"]["balance"]
    assert lo <= hi


def test_fluorescence_protocol_and_tuned_reuse(tmp_path):
    """Classical methods only (no model needed): seeded sets, Poisson-Gaussian levels, reuse checks."""
    cfg = {
        "eval_source": "fluorescence",
        "noise_model": "poisson_gaussian",
        "noise_levels": [500.0],
        "families": ["gaussian", "defocus"],
        "methods": ["wiener", "rl"],
        "images": 2,
        "tune_images": 1,
        "crop": 80,
        "out": str(tmp_path / "a"),
        "device": "cpu",
    }
    log = []
    a = run_evaluate(cfg, log=log.append)
    assert a["protocol"]["eval_source"] == "fluorescence" and a["protocol"]["saturation"] == 1.0
    assert set(a["table"]["500.0"]) == {"gaussian", "defocus"}
    assert "Peak 500 photons, read noise 2 photons" in (tmp_path / "a" / "table.md").read_text()
    # resolution summarised by the median and the geometric mean of the per-image values
    rows = list(csv.DictReader(open(tmp_path / "a" / "results.csv")))
    res = [float(r["resolution_px"]) for r in rows if r["method"] == "rl" and r["family"] == "gaussian"]
    cell = a["table"]["500.0"]["gaussian"]["rl"]
    assert cell["resolution_px"] == pytest.approx(np.median(res))
    assert cell["resolution_px_gmean"] == pytest.approx(np.exp(np.mean(np.log(res))))
    assert 2.0 <= cell["resolution_px_pooled"] <= 80.0  # the pooled rings of both images
    assert "geometric mean over the images / pooled" in (tmp_path / "a" / "table.md").read_text()
    # separate seeded test and tuning sets
    test_set, tune_set = fluorescence_set(1, 80, 2024), fluorescence_set(1, 80, 2025)
    assert not np.array_equal(test_set[0], tune_set[0])
    np.testing.assert_array_equal(test_set[0], fluorescence_set(1, 80, 2024)[0])
    # reusing the tuned parameters gives the same results (same seeded test set)
    b = run_evaluate({**cfg, "out": str(tmp_path / "b"), "tuned": str(tmp_path / "a" / "summary.json")})
    assert b["tuned_parameters"] == a["tuned_parameters"]
    for fam in cfg["families"]:
        for m in ("blurred", "wiener", "rl"):
            assert b["table"]["500.0"][fam][m]["psnr"] == a["table"]["500.0"][fam][m]["psnr"]
    with pytest.raises(SystemExit, match="read_noise"):
        run_evaluate({**cfg, "read_noise": 3.0, "tuned": str(tmp_path / "a" / "summary.json")})
    # a BSDS (Gaussian) summary written before these keys existed is read as the BSDS protocol
    legacy = json.loads((tmp_path / "a" / "summary.json").read_text())
    for key in ("eval_source", "noise_model", "read_noise", "saturation", "model_noise", "fluorescence"):
        legacy["protocol"].pop(key)
    (tmp_path / "legacy.json").write_text(json.dumps(legacy))
    with pytest.raises(SystemExit, match="eval_source, noise_model"):
        run_evaluate({**cfg, "tuned": str(tmp_path / "legacy.json")})


@pytest.mark.slow
def test_microscopy_smoke_pipeline(tmp_path, image_dir):
    run = tmp_path / "run"
    basis = run / "basis.safetensors"
    s = ["--config", CONFIG, "--smoke", "--seed", "1"]
    assert main(["basis", *s, "--set", f'out="{basis}"']) == 0
    from napari_glra.glra.basis import load_basis

    meta = load_basis(basis).metadata
    assert set(meta["heldout_error"]) == {"gaussian", "disk", "motion", "defocus"}
    assert set(meta["families"]["defocus"]) == {"na", "sampling", "blur_radius"}

    fit = ["fit", *s, "--set", f'out="{run}"', "--set", f'basis="{basis}"', "--device", "cpu"]
    fit += ["--set", f'train_dir="{image_dir}"', "--set", "steps=4", "--set", "val_every=2"]
    assert main(fit) == 0
    rows = list(csv.DictReader(open(run / "log.csv")))
    assert [int(r["step"]) for r in rows] == [2, 4]
    assert all(np.isfinite(float(r["val_defocus"])) for r in rows) and "val_disk" not in rows[0]
    run_cfg = json.loads((run / "run_config.json").read_text())
    assert run_cfg["source"] == "mixed" and run_cfg["noise_model"] == "poisson_gaussian"

    model_dir = tmp_path / "models" / "microscopy"
    export = ["export", *s, "--set", f'run="{run}"', "--set", f'out="{model_dir}"']
    assert main(export) == 0
    ev = tmp_path / "eval"
    fast = ["--set", 'methods=["model", "linear", "wiener", "rl_valid"]', "--set", "crop=96"]
    evaluate = ["evaluate", *s, "--set", f'model="{model_dir}"', *fast, "--device", "cpu"]
    assert main([*evaluate, "--set", f'out="{ev}"']) == 0
    summary = json.loads((ev / "summary.json").read_text())
    assert summary["protocol"]["eval_source"] == "fluorescence"
    assert summary["protocol"]["model_noise"] == "estimated"
    cell = summary["table"]["1000.0"]["defocus"]
    assert {"model", "linear", "wiener", "rl_valid", "blurred"} <= set(cell)
    assert np.isfinite(cell["model"]["psnr"]) and "margin_over_best_classical" in cell
    # a second evaluation reuses the tuned parameters
    ev2 = tmp_path / "eval2"
    assert main([*evaluate, "--set", f'out="{ev2}"', "--set", f'tuned="{ev / "summary.json"}"']) == 0
    assert json.loads((ev2 / "summary.json").read_text())["tuned_parameters"] == summary["tuned_parameters"]
    # with test-time augmentation: recorded in the protocol, a different (averaged) model result
    ev3 = tmp_path / "eval3"
    tta = ["--set", "model_tta=true", "--set", 'methods=["model"]', "--set", f'tuned="{ev / "summary.json"}"']
    assert main([*evaluate, *tta, "--set", f'out="{ev3}"']) == 0
    summary3 = json.loads((ev3 / "summary.json").read_text())
    assert summary3["protocol"]["model_tta"] is True and summary["protocol"]["model_tta"] is False
    psnr3 = summary3["table"]["1000.0"]["defocus"]["model"]["psnr"]
    assert np.isfinite(psnr3) and psnr3 != cell["model"]["psnr"]

    # export with the evaluations: the card carries the fluorescence table (and further ones)
    card_args = ["--set", f'eval="{ev / "summary.json"}"', "--set", f'eval_more=["{ev2 / "summary.json"}"]']
    assert main([*export, *card_args]) == 0
    card = (model_dir / "MODEL.md").read_text()
    assert "synthetic fluorescence" in card and "Poisson-Gaussian" in card
    assert "Peak 1000 photons" in card and f"{cell['model']['psnr']:.2f}" in card
    assert "### Also evaluated on synthetic fluorescence" in card

    from napari_glra.glra.model_io import load_model_dir

    model = load_model_dir(model_dir)
    assert model.name == "microscopy" and model.config["training"]["noise_model"] == "poisson_gaussian"
