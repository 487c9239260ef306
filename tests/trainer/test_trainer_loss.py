"""The training loss (fit.training_step): pixel L1 or L2, observed pixels, Fourier term, card line."""

from __future__ import annotations

import copy
import json
from importlib import resources

import numpy as np
import pytest
import torch

pytest.importorskip("glra_trainer")

from glra_trainer.config import FitConfig  # noqa: E402
from glra_trainer.data import Degrader  # noqa: E402
from glra_trainer.export import model_card  # noqa: E402
from glra_trainer.fit import TrainingState, training_step  # noqa: E402
from glra_trainer.losses import ring_weights, spectral_l1  # noqa: E402
from napari_glra.glra.network import GLRANet, NetConfig  # noqa: E402


def _state(basis) -> TrainingState:
    cfg = NetConfig(d=basis.d, m=basis.m, width=4, first_kernel=3, depth=1, last_kernel=3)
    net = GLRANet(cfg, basis.L, basis.R, seed=0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    return TrainingState(
        net, cfg, basis, torch.device("cpu"), opt, [net.L, net.R], [], np.random.default_rng(0)
    )


def _batch(basis, p_border: float) -> tuple[torch.Tensor, ...]:
    imgs = [np.random.default_rng(0).random((120, 120)).astype(np.float32)]
    d = Degrader(basis, crop=24, kmax=21, context=12, p_border=p_border)
    return tuple(torch.from_numpy(a) for a in d.batch_observed(imgs, 4, np.random.default_rng(1)))


@pytest.mark.parametrize("p_border", [0.0, 0.5])
def test_fft_loss_adds_the_l1_norm_of_the_error_spectrum(small_basis, p_border):
    batch = _batch(small_basis, p_border)
    y, x, M, obs = batch
    state = _state(small_basis)
    with torch.no_grad():
        kw = {"observed": obs} if p_border else {}
        err = state.net(y, M, context=12, **kw) - x
        keep = obs[..., 12:-12, 12:-12] if p_border else torch.ones_like(x)
        pixel = float((err.abs() * keep).sum() / keep.sum())
        spectrum = float(torch.fft.rfft2(err * keep, norm="ortho").abs().mean())
    assert spectrum > 0.1 * pixel  # the term is not negligible at these errors
    base = dict(context=12, p_border=p_border, train_dir="", val_dir="")
    plain = training_step(copy.deepcopy(state), batch, FitConfig(**base), None)
    both = training_step(copy.deepcopy(state), batch, FitConfig(**base, fft_loss=0.5), None)
    assert plain == pytest.approx(pixel, rel=1e-5)
    assert both == pytest.approx(pixel + 0.5 * spectrum, rel=1e-5)


def test_fft_loss_is_checked():
    with pytest.raises(ValueError, match="fft_loss"):
        FitConfig(fft_loss=-1.0)


def test_relative_weights_follow_the_targets_spectrum():
    rng = np.random.default_rng(0)
    # a 1/f image: amplitude falls with frequency, so the relative weights rise with it
    f = np.hypot(np.fft.fftfreq(64)[:, None], np.fft.fftfreq(64)[None, :])
    spectrum = np.exp(2j * np.pi * rng.random((64, 64))) / np.maximum(f, 1 / 64)
    x = torch.from_numpy(np.fft.ifft2(spectrum).real.astype(np.float32))[None, None]
    w = ring_weights(x)
    assert w.shape == (64, 33)
    assert float(w.mean()) == pytest.approx(1.0, rel=1e-5)
    assert float(w[0, 32]) > 10 * float(w[0, 2])  # the finest ring outweighs a coarse one
    assert float(w[0, 3]) == pytest.approx(float(w[3, 0]), rel=1e-5)  # one weight per ring
    err = torch.from_numpy(rng.standard_normal((1, 1, 64, 64)).astype(np.float32))
    expected = (torch.fft.rfft2(err, norm="ortho").abs() * w).mean()
    assert float(spectral_l1(err, x, "relative")) == pytest.approx(float(expected), rel=1e-5)
    flat = torch.fft.rfft2(err, norm="ortho").abs().mean()
    assert float(spectral_l1(err, x)) == pytest.approx(float(flat), rel=1e-6)


def test_relative_weights_are_bounded_on_a_flat_target():
    x = torch.full((2, 1, 32, 32), 0.5)
    w = ring_weights(x)  # no power off DC: every ring at the floor, weights all but DC equal
    assert torch.isfinite(w).all()
    assert float(w[0, 1]) == pytest.approx(float(w[5, 7]), rel=1e-5)


def test_fft_weight_is_checked(small_basis):
    batch = _batch(small_basis, 0.0)
    state = _state(small_basis)
    base = dict(context=12, train_dir="", val_dir="", fft_loss=0.5)
    flat = training_step(copy.deepcopy(state), batch, FitConfig(**base), None)
    relative = training_step(copy.deepcopy(state), batch, FitConfig(**base, fft_weight="relative"), None)
    assert relative != pytest.approx(flat, rel=1e-3)
    with pytest.raises(ValueError, match="fft_weight"):
        FitConfig(fft_weight="log")
    with pytest.raises(ValueError, match="weight must be"):
        spectral_l1(batch[1], batch[1], "log")


@pytest.mark.parametrize(
    ("settings", "line"),
    [
        ({}, None),
        (
            {"fft_loss": 3.0},
            "- Loss: pixel L1 plus 3 × the L1 norm of the error's Fourier transform (`fft_loss`).",
        ),
        ({"pixel_loss": "l2"}, '- Loss: pixel squared error (`pixel_loss = "l2"`).'),
        (
            {"fft_loss": 0.5, "fft_weight": "relative"},
            "- Loss: pixel L1 plus 0.5 × the L1 norm of the error's Fourier transform relative to the "
            'signal in each frequency ring (`fft_loss`, `fft_weight = "relative"`).',
        ),
    ],
)
def test_the_model_card_names_the_loss(settings, line):
    meta = json.loads((resources.files("napari_glra") / "models" / "microscopy" / "config.json").read_text())
    plain = {k: v for k, v in meta["training"].items() if k not in ("fft_loss", "fft_weight", "pixel_loss")}
    meta["training"] = {**plain, **settings}
    lines = model_card("microscopy", "9", meta, None).splitlines()
    loss = [t for t in lines if t.startswith("- Loss:")]
    assert loss == ([line] if line else [])


def test_l2_pixel_loss_is_the_mean_squared_error(small_basis):
    batch = _batch(small_basis, 0.0)
    y, x, M, obs = batch
    state = _state(small_basis)
    with torch.no_grad():
        mse = float((state.net(y, M, context=12) - x).square().mean())
    cfg = FitConfig(context=12, train_dir="", val_dir="", pixel_loss="l2")
    assert training_step(copy.deepcopy(state), batch, cfg, None) == pytest.approx(mse, rel=1e-5)
    with pytest.raises(ValueError, match="pixel_loss"):
        FitConfig(pixel_loss="huber")
