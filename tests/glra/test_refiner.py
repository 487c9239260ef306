"""A second artifact block (``NetConfig.refiner``): exactness, reach, tiling, config, growth."""

import numpy as np
import pytest
import torch
from conftest import TINY_NET, assert_tiles_stitch, net_inputs

from napari_glra.glra import blocks
from napari_glra.glra.network import GLRANet, NetConfig, _parameter_count, count_parameters, macs_per_pixel


def _cfg(scale=1, levels=0, r_scale=1, r_levels=0, **kw):
    refiner = NetConfig(width=3, depth=1, first_kernel=3, last_kernel=3, scale=r_scale, levels=r_levels)
    return NetConfig(
        d=31, m=8, width=4, depth=1, first_kernel=3, last_kernel=3, scale=scale, levels=levels,
        refiner=refiner, **kw,
    )  # fmt: skip


def _last(body):
    return body.last if hasattr(body, "last") else body[-1]


def _net(cfg, basis=None, seed=0):
    L, R = (None, None) if basis is None else (basis.L, basis.R)
    net = GLRANet(cfg, L, R, seed=seed).eval()
    with torch.no_grad():  # visible corrections (the init makes the last layers tiny)
        _last(net.body).weight.mul_(100)
        if cfg.refiner is not None:
            _last(net.refine).weight.mul_(100)
    return net


# (first block scale, levels; refiner scale, levels): cells 1 / 2 / 4, a U-Net on either side, a
# refiner margin that is not a multiple of the first block's cell
CASES = [(1, 0, 1, 0), (2, 0, 1, 0), (2, 0, 2, 1), (2, 1, 2, 0), (1, 1, 2, 1), (2, 1, 1, 1)]


@pytest.mark.parametrize(("scale", "levels", "r_scale", "r_levels"), CASES)
def test_refiner_output_is_the_first_block_plus_its_correction(small_basis, scale, levels, r_scale, r_levels):
    """The refined output is the first block's image plus the refiner's correction of it: with the
    refiner's last layer at zero the network is the one-block network of the same weights; the
    Fourier and spatial paths agree, with and without gradients."""
    cfg = _cfg(scale, levels, r_scale, r_levels, border_channel=scale == 2)
    net = _net(cfg, small_basis).double()
    y, M = net_inputs(cfg, B=2, H=29, W=26)
    y, M = y.double(), M.double()
    with torch.no_grad():
        a = net(y, M)
        b = net(y, M, path="direct")
    trained = net(y, M)
    assert a.shape == (2, 1, 29, 26) and trained.requires_grad
    assert float((a - b).norm() / b.norm()) <= 1e-10
    assert float((a - trained.detach()).abs().max()) <= 1e-10
    one = GLRANet(NetConfig(**{**cfg.to_dict(), "refiner": None}), seed=0).double().eval()
    one.load_state_dict({k: v for k, v in net.state_dict().items() if not k.startswith("refine.")})
    with torch.no_grad():
        single = one(y, M)
        assert float((a - single).abs().max()) > 1e-3  # the refiner corrects
        _last(net.refine).weight.zero_()
        _last(net.refine).bias.zero_()
        np.testing.assert_allclose(net(y, M).numpy(), single.numpy(), atol=1e-10)


@pytest.mark.parametrize(("scale", "levels", "r_scale", "r_levels"), [CASES[0], CASES[2], (2, 1, 1, 0)])
def test_context_of_pad_amount_equals_the_cropped_full_forward(scale, levels, r_scale, r_levels):
    """pad_amount covers both blocks' reach: a context of pad_amount (rounded up to the cells)
    reproduces the centre of the full forward, and the farthest row it counts is read."""
    net = _net(_cfg(scale, levels, r_scale, r_levels), seed=2).double()
    c = net.config
    p, cell = net.pad_amount(), c.cell
    assert p == 31 // 2 + c.block_margin + c.refiner_margin + c.max_extra
    assert c.refiner_margin % c.block_cell == 0 and c.refiner_margin >= c.refiner.block_margin
    assert cell % c.block_cell == 0 and cell % c.refiner.block_cell == 0
    ctx = -(-p // cell) * cell
    y, M = net_inputs(c, H=2 * ctx + 23, W=2 * ctx + 14, seed=3)
    y, M = y.double(), M.double()
    with torch.no_grad():
        full = net(y, M)
        out = net(y, M, context=ctx)
        near = y.clone()
        near[..., ctx - (31 // 2 + c.margin), :] += 5  # the farthest row the first output row reads
        moved = net(near, M, context=ctx)
    np.testing.assert_allclose(out.numpy(), full[..., ctx:-ctx, ctx:-ctx].numpy(), atol=1e-10)
    assert float((moved[..., 0, :] - out[..., 0, :]).abs().max()) > 1e-8


def test_extra_rows_stay_within_max_extra():
    for cfg in (_cfg(2, 0, 2, 1), _cfg(2, 1, 2, 1), _cfg(1, 1, 2, 0)):
        e = [cfg.extra(n) for n in range(1, 70)]
        assert 0 <= min(e) and max(e) <= cfg.max_extra
        assert cfg.max_extra == cfg.block_cell - 1 + cfg.refiner.block_cell - 1


def test_config_round_trip_counts_and_errors():
    for cfg in (_cfg(), _cfg(2, 0, 2, 1), NetConfig(scale=2, width=48, depth=8, refiner=NetConfig(scale=2))):
        assert NetConfig.from_dict(cfg.to_dict()) == cfg
        assert _parameter_count(cfg) == count_parameters(GLRANet(cfg))
    assert "refiner" not in NetConfig().to_dict()  # one-block configs unchanged
    d = _cfg(2, 0, 2, 1).to_dict()["refiner"]
    assert set(d) == {"width", "first_kernel", "depth", "mid_kernel", "last_kernel", "negative_slope"} | {
        "scale", "levels"}  # fmt: skip
    one, two = _cfg(), NetConfig(**{**_cfg().to_dict(), "refiner": None})
    more = macs_per_pixel(one)["artifact_block"] - macs_per_pixel(two)["artifact_block"]
    assert more == blocks.block_macs(one.refiner, one.in_channels + 1)
    with pytest.raises(ValueError, match="network.refiner: unknown or refused keys \\['balances'\\]"):
        NetConfig.from_dict({"refiner": {"width": 8, "balances": [1.0]}})
    with pytest.raises(ValueError, match="network.refiner.width"):
        NetConfig.from_dict({"refiner": {"width": 0}})
    with pytest.raises(ValueError, match="network.refiner must be a table"):
        NetConfig.from_dict({"refiner": 3})


def test_refiner_trains(small_basis):
    net = GLRANet(_cfg(2, 0, 2, 0), small_basis.L, small_basis.R).train()
    y, M = net_inputs(net.config, B=2, H=24, W=24)
    net(y, M, context=4, body_dtype=torch.bfloat16).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.refine.parameters())
    assert net.body[0].weight.grad.abs().sum() > 0


def test_refined_model_tiled_equals_untiled(tiny_model, tmp_path, natural_images):
    """Through the engine and a saved model (the refiner in config.json): tiles stitch."""
    from napari_glra.glra.model_io import load_model_dir, save_model

    refiner = NetConfig(width=4, depth=1, first_kernel=3, last_kernel=3, levels=1)
    cfg = NetConfig(**TINY_NET, scale=2, refiner=refiner)
    net = _net(cfg, tiny_model.basis, seed=1)
    path = save_model(tmp_path / "r", net, tiny_model.basis, name="refined", version="0.0-test")
    assert load_model_dir(path).net.config == cfg
    assert_tiles_stitch(path, natural_images(1, 96)[0])
