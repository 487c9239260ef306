"""Deconvolution in feature space (``NetConfig.feature_maps``): exactness, reach, tiling, config."""

import numpy as np
import pytest
import torch
from conftest import TINY_NET, assert_tiles_stitch, net_inputs

from napari_glra.glra.network import GLRANet, NetConfig, _parameter_count, count_parameters, macs_per_pixel


def _cfg(features=3, scale=1, levels=0, **kw):
    return NetConfig(
        d=31, m=8, width=4, depth=1, first_kernel=3, last_kernel=3, scale=scale, levels=levels,
        feature_maps=features, **kw,
    )  # fmt: skip


def _last(net):
    return net.body.last if net.config.levels else net.body[-1]


def _net(small_basis, cfg, seed=0):
    net = GLRANet(cfg, small_basis.L, small_basis.R, seed=seed).eval()
    with torch.no_grad():  # a visible correction (the init makes the last layer tiny)
        _last(net).weight.mul_(100)
    return net


@pytest.mark.parametrize(("scale", "levels", "border"), [(1, 0, False), (2, 0, True), (2, 1, False)])
def test_fourier_block_is_exact_in_training_and_inference(small_basis, scale, levels, border):
    """The Fourier evaluation equals the spatial one, and the batched (autograd) form the
    one-map-at-a-time inference form; the feature maps change the output."""
    net = _net(small_basis, _cfg(3, scale, levels, border_channel=border)).double()
    y, M = net_inputs(net.config, B=2)
    y, M = y.double(), M.double()
    with torch.no_grad():
        a = net(y, M)
        b = net(y, M, path="direct")
        feats = net.features(y, M)
    trained = net(y, M)  # grad enabled: the batched path
    assert trained.requires_grad
    assert float((a - b).norm() / b.norm()) <= 1e-10
    assert float((a - trained.detach()).abs().max()) <= 1e-10
    c = net.config
    assert feats.shape[1] == c.in_channels == len(c.balances) + c.n_mix + 3 + border
    with torch.no_grad():
        net.lift[2].weight.zero_()
        net.lift[2].bias.zero_()
        assert float((net(y, M) - a).abs().max()) > 1e-3  # the maps were used


def test_feature_map_is_the_lifted_image_through_the_linear_filter(small_basis):
    """With a lift that copies the image, each feature map equals the balance-1 linear estimate."""
    net = _net(small_basis, _cfg(2))
    with torch.no_grad():
        for conv in (net.lift[0], net.lift[2]):
            conv.weight.zero_()
            conv.bias.zero_()
            k = conv.weight.shape[-1] // 2
            conv.weight[:, 0 if conv is net.lift[0] else slice(None), k, k] = 1.0  # identity-like
        net.lift[2].weight[:, :, k, k] = torch.eye(2) * torch.tensor([[1.0], [-2.0]])
    y, M = net_inputs(net.config)
    with torch.no_grad():
        f = net.features(y, M)
    base = f[:, net.config.base_index]
    S = len(net.config.balances) + net.config.n_mix
    # y >= 0, so the LeakyReLU passes it: map 0 = y, map 1 = -2 y, both deconvolved linearly
    np.testing.assert_allclose(f[:, S].numpy(), base.numpy(), atol=1e-5)
    np.testing.assert_allclose(f[:, S + 1].numpy(), -2 * base.numpy(), atol=1e-5)


@pytest.mark.parametrize(("scale", "levels"), [(1, 0), (2, 1)])
def test_context_of_pad_amount_equals_the_cropped_full_forward(scale, levels):
    """pad_amount covers the feature maps' reach: a context of pad_amount (a multiple of the cells)
    reproduces the centre of the full forward, as tiles rely on."""
    # a random basis: a fitted one's outermost taps may vanish, hiding the farthest row
    net = GLRANet(_cfg(3, scale, levels, feature_kernel=5), seed=2).eval().double()
    with torch.no_grad():
        _last(net).weight.mul_(100)
    p, cell = net.pad_amount(), net.config.cell
    assert p == 31 // 2 + 4 + net.config.margin + cell - 1
    c = -(-p // cell) * cell
    y, M = net_inputs(net.config, H=2 * c + 23, W=2 * c + 14, seed=3)
    y, M = y.double(), M.double()
    with torch.no_grad():
        full = net(y, M)
        out = net(y, M, context=c)
        near = y.clone()
        near[..., c - (p - cell + 1), :] += 5  # the farthest row the first output row reads
        moved = net(near, M, context=c)
    np.testing.assert_allclose(out.numpy(), full[..., c:-c, c:-c].numpy(), atol=1e-10)
    assert float((moved - out).abs().max()) > 1e-8


def test_trains_and_config_round_trip(small_basis):
    net = GLRANet(_cfg(3, 2), small_basis.L, small_basis.R).train()
    y, M = net_inputs(net.config, B=2, H=24, W=24)
    net(y, M, context=4).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.lift.parameters())
    for cfg in (_cfg(3), _cfg(5, 2, feature_kernel=5), _cfg(2, 2, 1), NetConfig(feature_maps=8, scale=2)):
        assert _parameter_count(cfg) == count_parameters(GLRANet(cfg))
        assert NetConfig.from_dict(cfg.to_dict()) == cfg
    plain = NetConfig().to_dict()
    assert "feature_maps" not in plain and "feature_kernel" not in plain  # old configs unchanged
    assert not hasattr(GLRANet(NetConfig(d=31, m=8)), "lift")
    more = macs_per_pixel(_cfg(3))["deconv_block_direct"] - macs_per_pixel(_cfg(0))["deconv_block_direct"]
    assert more == 3 * (2 * 31 * 8 + 8 * 8) + 9 * 3 + 9 * 9
    with pytest.raises(ValueError, match="network.feature_kernel"):
        NetConfig.from_dict({"feature_maps": 4, "feature_kernel": 4})
    with pytest.raises(ValueError, match="network.feature_maps"):
        NetConfig.from_dict({"feature_maps": -1})


def test_feature_model_tiled_equals_untiled(tiny_model, tmp_path, natural_images):
    """Through the engine and a saved model: tiles stitch to the untiled result."""
    from napari_glra.glra.model_io import save_model

    net = GLRANet(
        NetConfig(**TINY_NET, scale=2, feature_maps=4), tiny_model.basis.L, tiny_model.basis.R, seed=1
    )
    with torch.no_grad():
        _last(net).weight.mul_(100)
    path = save_model(tmp_path / "f", net, tiny_model.basis, name="feat", version="0.0-test")
    assert_tiles_stitch(path, natural_images(1, 96)[0])
