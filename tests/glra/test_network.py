import numpy as np
import pytest
import torch
from scipy.signal import fftconvolve

from napari_glra.glra.network import GLRANet, NetConfig, count_parameters, macs_per_pixel, mirror_pad

CFG = NetConfig(d=31, m=8, width=4, depth=1, first_kernel=5, last_kernel=3)


def _net(small_basis=None, seed=0):
    torch.manual_seed(seed)
    if small_basis is None:
        return GLRANet(CFG, seed=seed).eval()
    return GLRANet(CFG, small_basis.L, small_basis.R, seed=seed).eval()


def _inputs(B=2, H=40, W=33, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.rand(B, 1, H, W, generator=g)
    M = torch.randn(B, CFG.m, CFG.m, generator=g) * 0.3
    return y, M


def _rel(a, b):
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("shape", [(40, 33), (25, 25), (17, 48), (64, 32)])
def test_fft_path_matches_direct_path(small_basis, shape):
    net = _net(small_basis)
    y, M = _inputs(H=shape[0], W=shape[1])
    with torch.no_grad():
        a = net(y, M, path="fft")
        b = net(y, M, path="direct")
    assert a.shape == b.shape == y.shape
    assert a.dtype == torch.float32
    assert _rel(a, b) <= 1e-4


def test_linear_fft_matches_direct_and_numpy(small_basis):
    net = _net(small_basis)
    y, M = _inputs(B=2, H=36, W=29, seed=1)
    with torch.no_grad():
        a = net.linear(y, M)
        b = net.linear(y, M, path="direct")
    assert a.shape == y.shape
    assert _rel(a, b) <= 1e-4
    # Reference: mirror-pad, then convolve with the full filter L M R^T.
    L, R = small_basis.L, small_basis.R
    for i in range(2):
        f = L @ M[i].double().numpy() @ R.T
        p = CFG.d // 2
        yp = np.pad(y[i, 0].double().numpy(), p, mode="symmetric")
        ref = fftconvolve(yp, f, mode="valid")
        np.testing.assert_allclose(a[i, 0].numpy(), ref, atol=2e-5 * np.abs(ref).max())


def test_per_sample_kernels(small_basis):
    net = _net(small_basis)
    y, M = _inputs(B=3)
    with torch.no_grad():
        batch = net(y, M)
        single = torch.cat([net(y[i : i + 1], M[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(batch, single, rtol=1e-4, atol=1e-5)


def test_constant_image_through_identity_filter():
    # With L = R = identity columns and M = e1 e1^T, the linear block is a delta filter.
    L = np.zeros((CFG.d, CFG.m))
    L[CFG.d // 2, 0] = 1
    L[np.arange(1, CFG.m), np.arange(1, CFG.m)] = 1
    net = GLRANet(CFG, L, L).eval()
    y, _ = _inputs(B=1)
    M = torch.zeros(1, CFG.m, CFG.m)
    M[0, 0, 0] = 1
    with torch.no_grad():
        out = net.linear(y, M)
    torch.testing.assert_close(out, y, rtol=1e-5, atol=1e-5)


def test_random_init_is_orthonormal_and_seeded():
    a, b = GLRANet(CFG, seed=3), GLRANet(CFG, seed=3)
    torch.testing.assert_close(a.L, b.L)
    LtL = (a.L.T @ a.L).detach()
    torch.testing.assert_close(LtL, torch.eye(CFG.m), atol=1e-5, rtol=0)


def test_gradients_flow():
    net = GLRANet(CFG)
    y, M = _inputs(B=1, H=24, W=24)
    net(y, M).mean().backward()
    assert net.L.grad is not None and net.R.grad is not None and net.mix.grad is not None
    assert all(p.grad is not None for p in net.body.parameters())


@pytest.mark.parametrize(
    "y_shape,M_shape",
    [
        ((2, 24, 24), (2, 8, 8)),
        ((2, 3, 24, 24), (2, 8, 8)),
        ((2, 1, 24, 24), (1, 8, 8)),
        ((2, 1, 24, 24), (2, 7, 7)),
        ((2, 1, 24, 24), (2, 8)),
    ],
)
def test_bad_shapes_raise(y_shape, M_shape):
    net = GLRANet(CFG)
    with pytest.raises(ValueError, match="must have shape"):
        net(torch.zeros(y_shape), torch.zeros(M_shape))


def test_bad_path_and_init_raise():
    net = GLRANet(CFG)
    y, M = _inputs(B=1, H=20, W=20)
    with pytest.raises(ValueError, match="path"):
        net(y, M, path="spatial")
    with pytest.raises(ValueError, match="expected"):
        GLRANet(CFG, L=np.zeros((CFG.d, CFG.m + 1)))


def test_config_round_trip_and_unknown_keys():
    d = CFG.to_dict()
    assert NetConfig.from_dict(d) == CFG
    with pytest.raises(ValueError, match="unknown network config keys"):
        NetConfig.from_dict({**d, "colour": 3})
    assert CFG.margin == 5 // 2 + 1 * (3 // 2) + 3 // 2


def test_mirror_pad_beyond_image_size():
    x = torch.arange(6.0).reshape(1, 1, 2, 3)
    p = mirror_pad(x, 5, 4, 7, 2)
    assert p.shape == (1, 1, 2 + 9, 3 + 9)
    ref = np.pad(x[0, 0].numpy(), ((5, 4), (7, 2)), mode="symmetric")
    np.testing.assert_array_equal(p[0, 0].numpy(), ref)


def test_macs_and_parameter_count():
    macs = macs_per_pixel(CFG)
    net = GLRANet(CFG)
    n_mix = net.mix.shape[0]  # mixed deconvolution channels besides the linear estimate
    assert set(macs) == {"direct", "deconv_block_direct", "artifact_block", "fourier"}
    assert macs["deconv_block_direct"] == 2 * 31 * 8 + 8 * 8 + 8 * n_mix
    assert macs["direct"] == macs["deconv_block_direct"] + macs["artifact_block"]
    assert macs["fourier"] == (1 + n_mix) * 8
    spatial = sum(m.weight.numel() for m in net.body if isinstance(m, torch.nn.Conv2d))
    assert macs["artifact_block"] == spatial  # one MAC per weight per output pixel
    assert macs_per_pixel(NetConfig())["direct"] > macs["direct"]
    n = count_parameters(net)
    assert n == sum(p.numel() for p in net.parameters())
    net.L.requires_grad_(False)
    assert count_parameters(net) == n - CFG.d * CFG.m
    assert count_parameters(net, trainable_only=False) == n


MULTI = NetConfig(d=31, m=8, width=6, depth=1, first_kernel=3, last_kernel=3, balances=(0.5, 1.0, 2.0), mix=2)


def test_multi_balance_fft_matches_direct(small_basis):
    net = GLRANet(MULTI, small_basis.L, small_basis.R, seed=3)
    g = torch.Generator().manual_seed(1)
    y = torch.rand(2, 1, 25, 30, generator=g)
    M = torch.randn(2, 3, MULTI.m, MULTI.m, generator=g)
    with torch.no_grad():
        a, b = net(y, M), net(y, M, path="direct")
        la, lb = net.linear(y, M), net.linear(y, M, path="direct")
        feats = net.features(y, M, margin=0)
    assert MULTI.in_channels == 5 and feats.shape[1] == 5
    assert float((a - b).norm() / b.norm()) <= 1e-4
    assert float((la - lb).norm() / lb.norm()) <= 1e-4
    # the linear output is the balance-1 estimate
    torch.testing.assert_close(la, feats[:, 1:2])


def test_multi_balance_shapes_and_config_checks(small_basis):
    net = GLRANet(MULTI, small_basis.L, small_basis.R)
    with pytest.raises(ValueError, match=r"M must have shape \(1, 3, 8, 8\)"):
        net(torch.rand(1, 1, 20, 20), torch.rand(1, 8, 8))
    with pytest.raises(ValueError, match="balances must contain 1.0"):
        NetConfig.from_dict({**MULTI.to_dict(), "balances": [0.5, 2.0]})
    assert NetConfig.from_dict(MULTI.to_dict()) == MULTI


def test_balanced_coefficients_follow_the_regularisation(small_basis):
    from napari_glra.physics.kernels import make_kernel

    k = make_kernel("gaussian", sigma=1.5)
    M, err = small_basis.balanced_coefficients(k, 0.01, (0.5, 1.0, 2.0))
    assert M.shape == (3, small_basis.m, small_basis.m) and 0 <= err < 1
    M1, err1 = small_basis.kernel_coefficients(k, 0.01)
    np.testing.assert_allclose(M[1], M1)
    assert err == pytest.approx(err1)
    # stronger regularisation -> smaller pseudo-inverse -> smaller coefficients
    norms = np.linalg.norm(M.reshape(3, -1), axis=1)
    assert norms[0] > norms[1] > norms[2]


def _context_case(small_basis, extra_h, extra_w, seed):
    """A float64 network, its pad amount ``p`` and inputs ``extra`` pixels larger than ``2 p``."""
    net = _net(small_basis).double()
    p = net.pad_amount()
    y, M = _inputs(H=2 * p + extra_h, W=2 * p + extra_w, seed=seed)
    return net, p, y.double(), M.double()


def test_context_crops_to_the_centre_and_matches_a_full_forward(small_basis):
    """With ``context >= pad_amount`` the centre sees only observed pixels: it equals the
    centre of a forward pass over the whole input; smaller contexts keep the output size."""
    net, p, y, M = _context_case(small_basis, 20, 13, seed=3)
    with torch.no_grad():
        full = net(y, M)
        for c in (p, p + 4):
            out = net(y, M, context=c)
            assert out.shape[-2:] == (y.shape[-2] - 2 * c, y.shape[-1] - 2 * c)
            np.testing.assert_allclose(out.numpy(), full[..., c:-c, c:-c].numpy(), atol=1e-10)
        part = net(y, M, context=5)
        np.testing.assert_allclose(part.numpy(), net(y, M, context=5, path="direct").numpy(), atol=1e-10)
        lin = net.linear(y, M, context=5)
        assert lin.shape == part.shape
    with pytest.raises(ValueError, match="context"):
        net(y, M, context=y.shape[-1])


def test_asymmetric_context_equals_the_cropped_full_forward(small_basis):
    """``context=(top, bottom, left, right)``: the engine's tiles restore only their core."""
    net, p, y, M = _context_case(small_basis, 30, 21, seed=4)
    with torch.no_grad():
        full = net(y, M)
        for ctx in ((p, p + 3, p + 1, p), (0, p + 2, 3, 0)):
            t, b, l, r = ctx
            out = net(y, M, context=ctx)
            assert out.shape[-2:] == (y.shape[-2] - t - b, y.shape[-1] - l - r)
            if min(ctx) >= p:  # the centre sees observed pixels only
                np.testing.assert_allclose(out.numpy(), full[..., t:-b, l:-r].numpy(), atol=1e-10)
        np.testing.assert_allclose(net(y, M, context=(5, 5, 5, 5)).numpy(), net(y, M, context=5).numpy())
    with pytest.raises(ValueError, match="context"):
        net(y, M, context=(1, 2, 3))


def test_border_channel_marks_observed_pixels(small_basis):
    """One more input channel: the observed mask (ones by default, zero beyond ``y``)."""
    cfg = NetConfig.from_dict({**CFG.to_dict(), "border_channel": True})
    assert cfg.in_channels == CFG.in_channels + 1
    assert macs_per_pixel(cfg)["fourier"] == macs_per_pixel(CFG)["fourier"]
    net = GLRANet(cfg, small_basis.L, small_basis.R).eval()
    y, M = _inputs(H=36, W=30, seed=5)
    with torch.no_grad():
        f = net.features(y, M)
        r = cfg.margin
        mask = f[:, -1]
        assert torch.all(mask[:, r:-r, r:-r] == 1) and torch.all(mask[:, :r] == 0)
        obs = torch.ones_like(y)
        obs[..., :, :7] = 0
        g = net.features(y, M, observed=obs)
        assert torch.all(g[:, -1, r:-r, r : r + 7] == 0) and torch.all(g[:, -1, r:-r, r + 7 : -r] == 1)
        torch.testing.assert_close(g[:, :-1], f[:, :-1])  # the other channels do not depend on it
        # a zero-weight border channel leaves the network's function unchanged
        net.body[0].weight[:, -1].zero_()
        torch.testing.assert_close(net(y, M, observed=obs), net(y, M))
    with pytest.raises(ValueError, match="observed"):
        net(y, M, observed=obs[..., :-1])


def test_bfloat16_body_is_close_to_float32(small_basis):
    net = _net(small_basis)
    y, M = _inputs(seed=6)
    with torch.no_grad():
        ref = net(y, M)
        low = net(y, M, body_dtype=torch.bfloat16)
    assert low.dtype == torch.float32 and low.shape == ref.shape
    err = (low - ref).abs()
    assert 0 < float(err.max()) < 0.05 and float(err.mean()) < 5e-3


def test_complex_matmul_in_real_arithmetic():
    """The real-GEMM complex product equals torch's complex matmul (with and without a reused block)."""
    from napari_glra.glra.network import _complex_matmul_real, _matmul_real_block, _real_block

    g = torch.Generator().manual_seed(3)
    a = torch.randn(7, 5, generator=g, dtype=torch.complex128)
    b = torch.randn(5, 4, generator=g, dtype=torch.complex128)
    ref = a @ b
    torch.testing.assert_close(_complex_matmul_real(a, b), ref)
    torch.testing.assert_close(_matmul_real_block(a, _real_block(b)), ref)
    a.requires_grad_(True)
    b.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, y: torch.view_as_real(_complex_matmul_real(x, y)), (a, b))


# --------------------------------------------------------------------------- config validation
@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"depth": 10_000_000}, r"network\.depth must be an integer in \[0, 64\], got 10000000"),
        ({"depth": -1}, r"network\.depth must be an integer in \[0, 64\]"),
        ({"width": "16"}, r"network\.width must be an integer in \[1, 1024\], got '16'"),
        ({"width": 2000}, r"network\.width must be an integer in \[1, 1024\]"),
        ({"width": 10**400}, r"network\.width must be an integer"),
        ({"width": True}, r"network\.width must be an integer"),
        ({"width": 4.5}, r"network\.width must be an integer"),
        ({"d": 30}, r"network\.d must be an odd integer in \[3, 401\]"),
        ({"d": 1001}, r"network\.d must be an odd integer in \[3, 401\]"),
        ({"m": 40}, r"network\.m must be an integer in \[1, network\.d = 31\], got 40"),
        ({"m": 0}, r"network\.m must be an integer"),
        ({"first_kernel": 4}, r"network\.first_kernel must be an odd integer in \[1, 31\]"),
        ({"mid_kernel": 33}, r"network\.mid_kernel must be an odd integer in \[1, 31\]"),
        ({"last_kernel": None}, r"network\.last_kernel must be an odd integer"),
        ({"scale": 9}, r"network\.scale must be an integer in \[1, 8\]"),
        ({"scale": 0}, r"network\.scale must be an integer in \[1, 8\]"),
        ({"negative_slope": "0.2"}, r"network\.negative_slope must be a number in \[0, 1\]"),
        ({"negative_slope": float("nan")}, r"network\.negative_slope"),
        ({"negative_slope": 2.0}, r"network\.negative_slope"),
        ({"residual": "true"}, r"network\.residual must be true or false, got 'true'"),
        ({"residual": 1}, r"network\.residual must be true or false, got 1"),
        ({"border_channel": None}, r"network\.border_channel must be true or false"),
        ({"balances": [0.5, 2.0]}, r"network\.balances must contain 1\.0"),
        ({"balances": [1.0, -2.0]}, r"network\.balances must be positive finite numbers"),
        ({"balances": [1.0, float("inf")]}, r"network\.balances must be positive finite numbers"),
        ({"balances": [1.0, "2"]}, r"network\.balances must be positive finite numbers"),
        ({"balances": "1.0"}, r"network\.balances must be a list"),
        ({"balances": 1.0}, r"network\.balances must be a list"),
        ({"balances": []}, r"network\.balances must hold 1 to 16 numbers"),
        ({"balances": [1.0] * 17}, r"network\.balances must hold 1 to 16 numbers"),
        ({"mix": -1}, r"network\.mix must be an integer in \[0, 1024\]"),
        ({"dilations": [1, 2]}, r"network\.dilations must be a list of network\.depth = 1 integers in \["),
        ({"dilations": [0]}, r"network\.dilations must be a list of network\.depth = 1 integers"),
        ({"dilations": [33]}, r"network\.dilations must be a list"),
        ({"dilations": [1.5]}, r"network\.dilations must be a list"),
        ({"dilations": "2"}, r"network\.dilations must be a list"),
        ({"mix": "2"}, r"network\.mix must be an integer"),
        (
            {"width": 2, "balances": [0.5, 1.0, 2.0]},
            r"network\.width must be at least len\(network\.balances",
        ),
        (
            {"width": 1024, "depth": 64, "mid_kernel": 31},
            r"network: this configuration has 64,518,966,761 parameters, more than the 20,000,000",
        ),
    ],
)
def test_from_dict_checks_every_field_and_names_it(change, match):
    with pytest.raises(ValueError, match=match):
        NetConfig.from_dict({**CFG.to_dict(), **change})


@pytest.mark.parametrize("data", [[1, 2], "width=4", None, 3])
def test_from_dict_needs_a_dict(data):
    with pytest.raises(ValueError, match="network must be a JSON object of NetConfig fields"):
        NetConfig.from_dict(data)


def test_from_dict_accepts_defaults_integral_floats_and_numpy_types():
    assert NetConfig.from_dict({}) == NetConfig()
    cfg = NetConfig.from_dict(
        {**CFG.to_dict(), "width": 4.0, "depth": np.int64(1), "residual": np.bool_(True)}
    )
    assert cfg == CFG and type(cfg.width) is int and type(cfg.residual) is bool
    assert NetConfig.from_dict({**CFG.to_dict(), "mix": 0}).n_mix == 0


def test_parameter_bound_matches_the_built_network():
    from napari_glra.glra.network import _parameter_count

    for cfg in (
        CFG,
        MULTI,
        NetConfig(),
        NetConfig.from_dict({**MULTI.to_dict(), "scale": 3, "border_channel": True}),
        NetConfig.from_dict({**CFG.to_dict(), "depth": 3, "dilations": [1, 3, 2]}),
    ):
        assert _parameter_count(cfg) == count_parameters(GLRANet(cfg))


# --------------------------------------------------------------------------- dilated middle layers
DILATED = NetConfig.from_dict({**CFG.to_dict(), "depth": 3, "dilations": [1, 3, 2]})


def test_dilations_widen_the_margin_at_the_same_cost():
    """Each middle layer eats ``dilation * (mid_kernel // 2)`` pixels per side; parameters and
    multiply-accumulates per pixel do not change."""
    flat = NetConfig.from_dict({**CFG.to_dict(), "depth": 3})
    assert flat.margin == 2 + 3 + 1 and DILATED.margin == 2 + 6 + 1
    assert count_parameters(GLRANet(DILATED)) == count_parameters(GLRANet(flat))
    assert macs_per_pixel(DILATED) == macs_per_pixel(flat)
    convs = [m for m in GLRANet(DILATED).body if isinstance(m, torch.nn.Conv2d)]
    assert [c.dilation[0] for c in convs[2:-1]] == [1, 3, 2]
    # Without dilations the config (and so a model's config.json) has no such key.
    assert "dilations" not in flat.to_dict() and NetConfig.from_dict(flat.to_dict()) == flat
    assert NetConfig.from_dict(DILATED.to_dict()) == DILATED
    assert DILATED.to_dict()["dilations"] == [1, 3, 2]


def test_dilated_network_fft_matches_direct_and_context(small_basis):
    torch.manual_seed(0)
    net = GLRANet(DILATED, small_basis.L, small_basis.R, seed=1).double().eval()
    p = net.pad_amount()
    y, M = _inputs(H=2 * p + 19, W=2 * p + 12, seed=5)
    y, M = y.double(), M.double()
    with torch.no_grad():
        out = net(y, M)
        assert out.shape == y.shape
        np.testing.assert_allclose(out.numpy(), net(y, M, path="direct").numpy(), atol=1e-10)
        np.testing.assert_allclose(net(y, M, context=p).numpy(), out[..., p:-p, p:-p].numpy(), atol=1e-10)
