"""Artifact block at 1/scale resolution (``NetConfig.scale``): exactness, shapes, tiling."""

import numpy as np
import pytest
import torch
from conftest import TINY_NET, assert_tiles_stitch, net_inputs

from napari_glra.engine import tiling
from napari_glra.glra.network import GLRANet, NetConfig, macs_per_pixel


def _net(small_basis, scale, seed=0, **kw):
    cfg = NetConfig(d=31, m=8, width=4, depth=1, first_kernel=3, last_kernel=3, scale=scale, **kw)
    net = GLRANet(cfg, small_basis.L, small_basis.R, seed=seed).eval()
    with torch.no_grad():  # a visible correction (the init makes the last layer tiny)
        net.body[-1].weight.mul_(100)
    return net


@pytest.mark.parametrize("scale", [2, 3])
@pytest.mark.parametrize("shape", [(40, 33), (25, 26), (17, 49)])
def test_scaled_body_keeps_the_shape_and_the_fourier_block_is_exact(small_basis, scale, shape):
    net = _net(small_basis, scale)
    y, M = net_inputs(net.config, B=2, H=shape[0], W=shape[1])
    with torch.no_grad():
        a = net(y, M)
        b = net(y, M, path="direct")
        lin = net.linear(y, M)
    assert a.shape == y.shape
    assert float((a - b).norm() / b.norm()) <= 1e-4
    assert float((a - lin).abs().max()) > 1e-3  # the block does add a correction


def test_scaled_margin_macs_and_parameters(small_basis):
    net = _net(small_basis, 2)
    c = net.config
    assert c.margin == 2 * (3 // 2 + 1 * (3 // 2) + 3 // 2)
    assert net.pad_amount() == c.d // 2 + c.margin + 1
    assert net.body[0].in_channels == 4 * c.in_channels and net.body[-1].out_channels == 4
    same_layers = (9 * 4 * c.in_channels * 4 + 16 + 9 * 16 + 9 * 4 * 4) / 4
    assert macs_per_pixel(c)["artifact_block"] == pytest.approx(same_layers)
    with pytest.raises(ValueError, match="scale"):
        NetConfig.from_dict({"scale": 0})


@pytest.mark.parametrize("scale", [2, 3])
def test_context_aligned_to_the_cells_equals_the_cropped_full_forward(small_basis, scale):
    """The block's ``scale x scale`` cells start at the output's first pixel: a context that is a
    multiple of ``scale`` (and at least ``pad_amount``) gives the centre of the full forward."""
    net = _net(small_basis, scale).double()
    p = net.pad_amount()
    c = -(-p // scale) * scale
    y, M = net_inputs(net.config, B=2, H=2 * c + 23, W=2 * c + 14, seed=3)
    y, M = y.double(), M.double()
    with torch.no_grad():
        full = net(y, M)
        out = net(y, M, context=c)
        cut = net(y, M, context=(c, c + 1, c, c + 2))  # uneven sizes, same cells
    np.testing.assert_allclose(out.numpy(), full[..., c:-c, c:-c].numpy(), atol=1e-10)
    np.testing.assert_allclose(cut.numpy(), full[..., c : -c - 1, c : -c - 2].numpy(), atol=1e-10)


def test_plan_tiles_region_and_alignment():
    shape, region = (120, 90), ((10, 110), (7, 83))
    plan = tiling.plan_tiles(shape, 27, 9, region=region, align=4)
    cover = np.zeros(shape, int)
    for rows, cols, cr, cc in plan:
        r0, c0 = rows.start + cr.start, cols.start + cc.start
        assert (r0 - 10) % 4 == 0 and (c0 - 7) % 4 == 0  # inner edges aligned to the region
        assert rows.start >= 0 and rows.stop <= 120 and cols.stop <= 90
        cover[r0 : rows.start + cr.stop, c0 : cols.start + cc.stop] += 1
    assert np.all(cover[10:110, 7:83] == 1) and cover.sum() == 100 * 76
    single = tiling.plan_tiles(shape, None, 9, region=region)
    assert single == [(slice(0, 120), slice(0, 90), slice(10, 110), slice(7, 83))]
    with pytest.raises(ValueError, match="region"):
        tiling.plan_tiles(shape, 27, 9, region=((0, 121), (0, 90)))


@pytest.mark.parametrize("scale", [2, 3])
def test_scaled_model_tiled_equals_untiled(tiny_model, tmp_path, natural_images, scale):
    """Tiles (uneven, border pad not a multiple of the cell) stitch to the untiled result."""
    from napari_glra.glra.model_io import save_model

    net = GLRANet(NetConfig(**TINY_NET, scale=scale), tiny_model.basis.L, tiny_model.basis.R, seed=1)
    with torch.no_grad():
        net.body[-1].weight.mul_(100)
    path = save_model(tmp_path / f"s{scale}", net, tiny_model.basis, name="scaled", version="0.0-test")
    assert_tiles_stitch(path, natural_images(1, 96)[0])


@pytest.mark.parametrize("scale", [2, 3])
def test_scaled_body_equals_the_pixel_unshuffle_reference(small_basis, scale):
    """The fast unshuffle (channels-last copy, permuted first-layer weights) is torch's
    pixel_unshuffle -> body -> pixel_shuffle, with and without gradients."""
    import torch.nn.functional as F

    net = _net(small_basis, scale)
    c = net.config
    y, M = net_inputs(c, B=1, H=23, W=31, seed=5)
    H, W = y.shape[-2:]
    extra = (-H % scale, -W % scale)
    with torch.no_grad():
        out = net(y, M)
        f = net.features(y, M, extra=extra)
        ref = F.pixel_shuffle(net.body(F.pixel_unshuffle(f, scale)), scale)[..., :H, :W]
        ref = ref + f[:, c.base_index : c.base_index + 1, c.margin : c.margin + H, c.margin : c.margin + W]
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    net.train()
    out_grad = net(y, M)  # gradients enabled: the batched Fourier block and the plain unshuffle
    torch.testing.assert_close(out_grad.detach(), ref, rtol=1e-4, atol=1e-5)
    out_grad.sum().backward()
    assert net.body[0].weight.grad is not None and net.L.grad is not None
