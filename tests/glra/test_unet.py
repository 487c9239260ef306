"""Multi-scale (U-Net) artifact block (``NetConfig.levels``): geometry, exactness, tiling, config."""

import numpy as np
import pytest
import torch
from conftest import TINY_NET, assert_tiles_stitch, net_inputs

from napari_glra.glra import unet
from napari_glra.glra.network import GLRANet, NetConfig, _parameter_count, count_parameters, macs_per_pixel


def _cfg(levels=2, scale=1, depth=1, **kw):
    return NetConfig(
        d=31, m=8, width=4, depth=depth, first_kernel=3, last_kernel=3, scale=scale, levels=levels, **kw
    )


def _net(small_basis, cfg, seed=0):
    net = GLRANet(cfg, small_basis.L, small_basis.R, seed=seed).eval()
    with torch.no_grad():  # a visible correction (the init makes the last layer tiny)
        net.body.last.weight.mul_(100)
    return net


def test_geometry_by_hand():
    """first 3 (1 cell), depth 1: O_0 = 2, O_1 = 4, O_2 (bottom) = 8, D_1 = 10, D_0 = 11, output at 12."""
    assert unet.left_margin(3, 1, 2, 3) == 12
    # level 1's skip starts at O_1 = 4 (stride 2), the up-sampled bottom at D_2 = O_2 = 8: 2 cells in;
    # level 0's skip at O_0 = 2, the up-sampled level 1 at D_1 = 10: 8 cells in.
    assert unet.skip_offsets(1, 2) == [8, 2]
    body = unet.UNetBody(1, 1, width=2, depth=1, levels=2, first=3, mid=3, last=3, negative_slope=0.2)
    for n in range(1, 40):
        cells = unet.input_cells(n, 3, 1, 2, 3)
        assert cells - n - 2 * 12 in range(4)  # at most cell - 1 = 3 more on the bottom/right
        assert body(torch.zeros(1, 1, cells, cells)).shape[-1] >= n
        for less in range(cells - 4, cells):  # and no shorter input would do
            try:
                assert body(torch.zeros(1, 1, less, less)).shape[-1] < n
            except (ValueError, RuntimeError):  # odd before a down-sampling, or too small
                pass


@pytest.mark.parametrize(("levels", "scale", "depth"), [(1, 1, 1), (2, 1, 1), (2, 2, 1), (1, 3, 2)])
@pytest.mark.parametrize("shape", [(40, 33), (25, 26), (17, 49)])
def test_shape_and_exact_fourier_block(small_basis, levels, scale, depth, shape):
    net = _net(small_basis, _cfg(levels, scale, depth))
    y, M = net_inputs(net.config, H=shape[0], W=shape[1])
    with torch.no_grad():
        a = net(y, M)
        b = net(y, M, path="direct")
        lin = net.linear(y, M)
    assert a.shape == y.shape
    assert float((a - b).norm() / b.norm()) <= 1e-4
    assert float((a - lin).abs().max()) > 1e-3  # the block does add a correction


@pytest.mark.parametrize(("levels", "scale"), [(1, 1), (2, 1), (2, 2)])
def test_output_at_a_pixel_depends_on_its_neighbourhood_only(small_basis, levels, scale):
    """Valid convolutions: changing the input beyond margin (+ cell - 1 on the far side) of an
    output window leaves the window unchanged; the block's output does see that far."""
    net = _net(small_basis, _cfg(levels, scale)).double()
    c = net.config
    g = torch.Generator().manual_seed(1)
    feats = torch.rand(
        1,
        c.in_channels,
        80 + 2 * c.margin + c.extra(80),
        80 + 2 * c.margin + c.extra(80),
        generator=g,
        dtype=torch.float64,
    )

    def body(f):
        x = torch.nn.functional.pixel_unshuffle(f, scale) if scale > 1 else f
        out = net.body(x)
        return (torch.nn.functional.pixel_shuffle(out, scale) if scale > 1 else out)[..., :80, :80]

    with torch.no_grad():
        ref = body(feats)
        far = feats.clone()
        far[..., -1, :] += 10  # the last row: beyond every output's reach but the last cells'
        assert torch.equal(body(far)[..., : 80 - c.cell, :], ref[..., : 80 - c.cell, :])
        near = feats.clone()
        near[..., c.margin + 40, :] += 10
        assert not torch.equal(body(near), ref)


@pytest.mark.parametrize(("levels", "scale"), [(2, 1), (1, 2)])
def test_context_aligned_to_the_cells_equals_the_cropped_full_forward(small_basis, levels, scale):
    """The down-sampling grid starts at the output's first pixel: a context that is a multiple of
    ``cell`` (and at least ``pad_amount``) gives the centre of the full forward; another does not."""
    net = _net(small_basis, _cfg(levels, scale)).double()
    p, cell = net.pad_amount(), net.config.cell
    c = -(-p // cell) * cell
    y, M = net_inputs(net.config, H=2 * c + 23, W=2 * c + 14, seed=3)
    y, M = y.double(), M.double()
    with torch.no_grad():
        full = net(y, M)
        out = net(y, M, context=c)
        cut = net(y, M, context=(c, c + 1, c, c + 2))  # uneven sizes, same cells
        shifted = net(y, M, context=(c + 1, c, c + 1, c))  # the grid moved by one pixel
    np.testing.assert_allclose(out.numpy(), full[..., c:-c, c:-c].numpy(), atol=1e-10)
    np.testing.assert_allclose(cut.numpy(), full[..., c : -c - 1, c : -c - 2].numpy(), atol=1e-10)
    assert np.abs(shifted.numpy() - full[..., c + 1 : -c, c + 1 : -c].numpy()).max() > 1e-6


def test_parameters_macs_and_config_round_trip():
    for cfg in (_cfg(1), _cfg(2, 2, 2), _cfg(3, 1, 1, border_channel=True), NetConfig(levels=2, scale=2)):
        assert _parameter_count(cfg) == count_parameters(GLRANet(cfg))
        assert NetConfig.from_dict(cfg.to_dict()) == cfg and cfg.to_dict()["levels"] == cfg.levels
    flat = NetConfig()
    assert "levels" not in flat.to_dict()  # flat-block configs stay as they were
    # each level: twice the width at a quarter of the cells (per-level cost of a 3x3 stack alike)
    c1, c2 = _cfg(1, depth=1), _cfg(2, depth=1)
    extra = macs_per_pixel(c2)["artifact_block"] - macs_per_pixel(c1)["artifact_block"]
    w = 4
    level1 = 9 * (2 * w) ** 2 / 4  # one 3x3 conv at level 1: was the bottom, now encoder and decoder
    expected = level1 + 9 * (4 * w) ** 2 / 16 + 2 * 4 * (2 * w) * (4 * w) / 16  # + bottom, down and up
    assert extra == pytest.approx(expected)
    assert c2.cell == 4 and _cfg(2, 2).cell == 8
    with pytest.raises(ValueError, match="network.levels"):
        NetConfig.from_dict({"levels": 5})
    with pytest.raises(ValueError, match="dilations"):
        NetConfig.from_dict({"levels": 1, "depth": 2, "dilations": [1, 2]})


def test_trains(small_basis):
    """Gradients reach every layer of the block and the basis (training through it works)."""
    net = GLRANet(_cfg(2, 2), small_basis.L, small_basis.R).train()
    y, M = net_inputs(net.config, B=2, H=24, W=24)
    net(y, M, context=4).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.body.parameters())
    assert net.L.grad is not None


@pytest.mark.parametrize(("levels", "scale"), [(2, 1), (1, 2)])
def test_unet_model_tiled_equals_untiled(tiny_model, tmp_path, natural_images, levels, scale):
    """Through the engine: tiles (uneven, border pad not a multiple of the cell) and the saved
    model's config.json rebuild the same network and stitch to the untiled result."""
    from napari_glra.glra.model_io import save_model

    cfg = NetConfig(**TINY_NET, scale=scale, levels=levels)
    net = GLRANet(cfg, tiny_model.basis.L, tiny_model.basis.R, seed=1)
    with torch.no_grad():
        net.body.last.weight.mul_(100)
    path = save_model(tmp_path / "u", net, tiny_model.basis, name="unet", version="0.0-test")
    assert_tiles_stitch(path, natural_images(1, 96)[0])
