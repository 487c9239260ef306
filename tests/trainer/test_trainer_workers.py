"""Training batches from worker processes (``fit`` option ``workers``) and ``init_keep_basis``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("glra_trainer")

from glra_trainer.cli import main  # noqa: E402
from glra_trainer.data import Degrader  # noqa: E402
from glra_trainer.fit import init_from_model  # noqa: E402
from glra_trainer.loader import BatchStream, step_rng  # noqa: E402
from napari_glra.glra.model_io import load_model_dir  # noqa: E402
from napari_glra.glra.network import GLRANet, NetConfig  # noqa: E402


@pytest.mark.slow
def test_batches_depend_on_seed_and_step_only(small_basis):
    degr = Degrader(small_basis, crop=16, context=4, families=("gaussian", "disk"), kmax=25)
    with BatchStream(degr, None, None, batch=2, seed=7, workers=1) as one:
        a = [next(one) for _ in range(3)]
    with BatchStream(degr, None, None, batch=2, seed=7, workers=2, start=1) as two:
        b = [next(two) for _ in range(2)]
    for s in range(3):
        ref = degr.batch_observed(None, 2, step_rng(7, s))
        for x, y in zip(a[s], ref):
            np.testing.assert_array_equal(x, y)
    for x, y in zip(b[0] + b[1], a[1] + a[2]):  # started at step 1 (a resumed run)
        np.testing.assert_array_equal(x, y)
    assert a[0][0].shape == (2, 1, 24, 24) and a[0][2].shape == (2, 1, 8, 8)
    assert not np.array_equal(a[0][0], a[1][0])
    with pytest.raises(ValueError, match="workers"):
        BatchStream(degr, None, None, batch=2, seed=7, workers=0)


def _fit(tmp_path, image_dir, name, *extra):
    run = tmp_path / name
    args = ["fit", "--smoke", "--seed", "1", "--device", "cpu", "--set", f'out="{run}"']
    args += ["--set", f'basis="{tmp_path / "basis.safetensors"}"', "--set", 'train_dir=""']
    args += ["--set", f'val_dir="{image_dir}"', *extra]
    assert main(args) == 0
    return run


@pytest.mark.slow
def test_fit_with_workers_does_not_depend_on_their_number(tmp_path, image_dir):
    assert main(["basis", "--smoke", "--seed", "1", "--set", f'out="{tmp_path / "basis.safetensors"}"']) == 0
    one = _fit(tmp_path, image_dir, "one", "--set", "workers=1")
    two = _fit(tmp_path, image_dir, "two", "--set", "workers=2")
    seq = _fit(tmp_path, image_dir, "seq")  # workers = 0: the sequential stream
    load = lambda r: torch.load(r / "checkpoint.pt", map_location="cpu", weights_only=True)["model"]  # noqa: E731
    weights = {r: load(r) for r in (one, two, seq)}
    for k, v in weights[one].items():
        torch.testing.assert_close(weights[two][k], v, rtol=0, atol=0)
    assert any(not torch.equal(weights[seq][k], v) for k, v in weights[one].items())
    record = json.loads((two / "run_config.json").read_text())
    assert record["workers"] == 2 and record["hardware"].endswith("2 data worker processes")
    assert record["torch"] == torch.__version__


def test_init_keep_basis_copies_every_weight(tiny_model_dir):
    old = load_model_dir(tiny_model_dir)
    rng = np.random.default_rng(3)
    L = np.linalg.qr(rng.standard_normal(old.basis.L.shape))[0]
    net = GLRANet(old.net.config, L, L.copy(), seed=5)
    assert "every weight" in init_from_model(net, tiny_model_dir, keep_basis=True)
    for k, v in old.net.state_dict().items():
        torch.testing.assert_close(net.state_dict()[k], v, rtol=0, atol=0)


def test_init_linear_only_copies_the_deconvolution_block(tiny_model_dir):
    """A new artifact block (here at half resolution) starts from a model's deconvolution block."""
    old = load_model_dir(tiny_model_dir)
    base = old.net.config
    cfg = NetConfig.from_dict({**base.to_dict(), "scale": 2, "width": 6, "mix": base.n_mix})
    rng = np.random.default_rng(3)
    L = np.linalg.qr(rng.standard_normal(old.basis.L.shape))[0]
    net = GLRANet(cfg, L, L.copy(), seed=5)
    body = {k: v.clone() for k, v in net.state_dict().items() if k.startswith("body.")}
    assert "artifact block fresh" in init_from_model(net, tiny_model_dir, linear_only=True)
    for k in ("L", "R", "mix"):
        torch.testing.assert_close(getattr(net, k).detach(), getattr(old.net, k).detach(), rtol=0, atol=0)
    for k, v in body.items():
        assert torch.equal(net.state_dict()[k], v)
    other = GLRANet(NetConfig.from_dict({**cfg.to_dict(), "m": 6}), seed=0)
    with pytest.raises(ValueError, match="deconvolution block"):
        init_from_model(other, tiny_model_dir, linear_only=True)


def test_echo_uses_each_batch_for_several_steps(tmp_path, image_dir, monkeypatch):
    """``echo = 2``: half as many batches are made for the same number of steps (and the run
    differs from ``echo = 1``); ``scale = 2`` networks train through the same loop."""
    assert main(["basis", "--smoke", "--seed", "1", "--set", f'out="{tmp_path / "basis.safetensors"}"']) == 0
    made = []
    original = Degrader.batch_observed

    def counting(self, *args, **kwargs):
        made.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Degrader, "batch_observed", counting)
    steps = ["--set", "steps=6", "--set", "network.scale=2"]
    plain = _fit(tmp_path, image_dir, "plain", *steps)
    n_plain, made[:] = len(made), []
    echo = _fit(tmp_path, image_dir, "echo", *steps, "--set", "echo=2")
    assert (n_plain, len(made)) == (6, 3)
    load = lambda r: torch.load(r / "checkpoint.pt", map_location="cpu", weights_only=True)["model"]  # noqa: E731
    a, b = load(plain), load(echo)
    assert any(not torch.equal(a[k], b[k]) for k in a)
    record = json.loads((echo / "run_config.json").read_text())
    assert record["echo"] == 2 and record["network"]["scale"] == 2
    cfg = NetConfig.from_dict(record["network"])
    assert b["body.0.weight"].shape[1] == 4 * cfg.in_channels  # 2 x 2 unshuffled inputs
