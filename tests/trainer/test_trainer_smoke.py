"""End-to-end smoke run of the trainer: basis -> fit -> fit --resume -> evaluate -> export -> load."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("glra_trainer")

from glra_trainer.cli import main  # noqa: E402


@pytest.mark.slow
def test_help_of_every_subcommand():
    for cmd in ("basis", "fit", "evaluate", "export"):
        out = subprocess.run(
            [sys.executable, "-m", "glra_trainer.cli", cmd, "--help"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "--config" in out.stdout and "--set" in out.stdout


def test_config_file_and_overrides(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[fit]\nbatch = 3\n[fit.network]\nwidth = 8\n")
    assert (
        main(["fit", "--config", str(cfg), "--set", "steps=7", "--set", "network.depth=2", "--print-config"])
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed["batch"] == 3 and printed["steps"] == 7
    assert printed["network"] == {"width": 8, "depth": 2}


@pytest.mark.slow
def test_smoke_pipeline(tmp_path, image_dir, capsys):
    run = tmp_path / "run"
    basis = run / "basis.safetensors"
    s = ["--smoke", "--seed", "1"]
    assert main(["basis", *s, "--set", f'out="{basis}"']) == 0
    from napari_glra.glra.basis import load_basis

    meta_err = load_basis(basis).metadata["heldout_error"]
    assert set(meta_err) == {"gaussian", "disk", "motion"}

    fit = [
        "fit",
        *s,
        "--set",
        f'out="{run}"',
        "--set",
        f'basis="{basis}"',
        "--set",
        'train_dir=""',
        "--set",
        f'val_dir="{image_dir}"',
        "--set",
        "kernel_ranges={gaussian={sigma=[1.2,2.0]}}",
        "--device",
        "cpu",
    ]
    assert main(fit) == 0
    rows = list(csv.DictReader(open(run / "log.csv")))
    assert [int(r["step"]) for r in rows] == [3, 6]
    assert all(np.isfinite(float(r["val_motion"])) for r in rows)
    assert (run / "checkpoint.pt").is_file() and (run / "curves.png").is_file()

    # Resume continues from the checkpoint to the new step count.
    assert main([*fit, "--resume", "--set", "steps=9"]) == 0
    rows = list(csv.DictReader(open(run / "log.csv")))
    assert int(rows[-1]["step"]) == 9

    model_dir = tmp_path / "models" / "smoke"
    assert (
        main(["export", *s, "--set", f'run="{run}"', "--set", 'name="smoke"', "--set", f'out="{model_dir}"'])
        == 0
    )
    assert f"kernel_limits.py --write --models {model_dir}" in capsys.readouterr().out  # not measured yet
    card = (model_dir / "MODEL.md").read_text()
    assert "family gaussian drawn with sigma 1.2-2 (`kernel_ranges`), beyond" in card
    ev = tmp_path / "eval"
    assert (
        main(
            [
                "evaluate",
                *s,
                "--set",
                f'model="{model_dir}"',
                "--set",
                f'eval_dir="{image_dir}"',
                "--set",
                f'tune_dir="{image_dir}"',
                "--set",
                "skip_images=0",
                "--set",
                f'out="{ev}"',
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    summary = json.loads((ev / "summary.json").read_text())
    # A second evaluation can reuse the tuned parameters (same protocol) instead of tuning again.
    ev2 = tmp_path / "eval2"
    common = [
        "--set",
        f'eval_dir="{image_dir}"',
        "--set",
        f'tune_dir="{image_dir}"',
        "--set",
        "skip_images=0",
    ]
    assert (
        main(
            [
                "evaluate",
                *s,
                "--set",
                f'model="{model_dir}"',
                *common,
                "--set",
                f'out="{ev2}"',
                "--set",
                f'tuned="{ev / "summary.json"}"',
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert json.loads((ev2 / "summary.json").read_text())["tuned_parameters"] == summary["tuned_parameters"]
    with pytest.raises(SystemExit, match="other settings"):
        main(
            [
                "evaluate",
                *s,
                "--set",
                f'model="{model_dir}"',
                *common,
                "--set",
                f'out="{ev2}"',
                "--set",
                f'tuned="{ev / "summary.json"}"',
                "--set",
                "tune_images=2",
            ]
        )
    cell = summary["table"]["0.01"]["motion"]
    assert {"model", "linear", "wiener", "rl", "tv", "blurred"} <= set(cell)
    assert "napari-glra" in (ev / "table.md").read_text()

    # Export again with the evaluation: the card carries the measured table.
    assert (
        main(
            [
                "export",
                *s,
                "--set",
                f'run="{run}"',
                "--set",
                'name="smoke"',
                "--set",
                f'out="{model_dir}"',
                "--set",
                f'eval="{ev / "summary.json"}"',
            ]
        )
        == 0
    )
    assert f"kernel_limits.py --write --models {model_dir}" in capsys.readouterr().out  # not measured yet
    card = (model_dir / "MODEL.md").read_text()
    assert "Wiener (tuned)" in card and f"{cell['model']['psnr']:.2f}" in card

    from napari_glra.glra.model_io import load_model_dir

    model = load_model_dir(model_dir)
    assert model.name == "smoke" and model.config["training"]["steps"] == 9


def _smoke_fit(tmp_path, image_dir, *settings):
    """A smoke basis in ``tmp_path/run`` and the ``glra-train fit`` arguments of a smoke run on it
    (procedural training images, ``image_dir`` for validation) with ``settings`` (``--set`` items)."""
    run = tmp_path / "run"
    basis = run / "basis.safetensors"
    assert main(["basis", "--smoke", "--seed", "1", "--set", f'out="{basis}"']) == 0
    fit = ["fit", "--smoke", "--seed", "1", "--device", "cpu"]
    for item in (f'out="{run}"', f'basis="{basis}"', 'train_dir=""', f'val_dir="{image_dir}"', *settings):
        fit += ["--set", item]
    return run, fit


def test_fit_with_border_samples_and_bfloat16(tmp_path, image_dir):
    """p_border + network.border_channel + amp: border validation columns, observed-only loss."""
    settings = ("p_border=0.5", 'amp="bfloat16"', "network.border_channel=true")
    run, fit = _smoke_fit(tmp_path, image_dir, *settings)
    assert main(fit) == 0
    rows = list(csv.DictReader(open(run / "log.csv")))
    assert {"border_gaussian", "border_disk", "border_motion"} <= set(rows[0])
    assert all(np.isfinite(float(r["border_motion"])) and np.isfinite(float(r["loss"])) for r in rows)
    with pytest.raises(SystemExit, match="fit.amp"):  # refused before anything runs
        main([*fit, "--set", 'amp="float16"', "--set", f'out="{tmp_path / "bad"}"'])
    assert not (tmp_path / "bad").exists()


def test_fit_a_refiner_on_a_frozen_first_block_resumes_and_exports(tmp_path, image_dir):
    """network.refiner + freeze: only the refiner changes; resume and export keep the refiner."""
    import torch

    from napari_glra.glra.model_io import load_model_dir

    run, fit = _smoke_fit(
        tmp_path,
        image_dir,
        'amp="bfloat16"',
        "network.scale=2",
        "network.refiner={width=4, depth=1, scale=2}",
        'freeze=["L", "R", "mix", "body"]',
    )
    assert main(fit) == 0
    first = torch.load(run / "checkpoint.pt", weights_only=True)["model"]
    assert main([*fit, "--resume", "--set", "steps=9"]) == 0
    after = torch.load(run / "checkpoint.pt", weights_only=True)["model"]
    for k, v in after.items():
        assert torch.equal(v, first[k]) != k.startswith("refine."), k  # only the refiner trains
    out = tmp_path / "model"
    assert main(["export", "--set", f'run="{run}"', "--set", f'out="{out}"', "--set", 'name="r"']) == 0
    net = load_model_dir(out).net
    assert net.config.refiner is not None and net.config.refiner.width == 4
    torch.testing.assert_close(net.refine[0].weight, after["refine.0.weight"])
    assert (
        "Then a refiner, a second artifact block (a flat block of 1 layers, width 4, at 1/2"
        in (out / "MODEL.md").read_text()
    )
