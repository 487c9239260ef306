"""The training loss (fit.training_step): pixel L1, observed pixels only, and the Fourier term."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

pytest.importorskip("glra_trainer")

from glra_trainer.config import FitConfig  # noqa: E402
from glra_trainer.data import Degrader  # noqa: E402
from glra_trainer.fit import TrainingState, training_step  # noqa: E402
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
