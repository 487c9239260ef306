"""``glra-train fit`` with ``init_from``: start from a trained model on another basis."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("glra_trainer")

from glra_trainer.export import carried_settings  # noqa: E402
from glra_trainer.fit import init_from_model  # noqa: E402
from napari_glra.engine.registry import load_model  # noqa: E402
from napari_glra.glra.model_io import load_model_dir  # noqa: E402
from napari_glra.glra.network import GLRANet, NetConfig  # noqa: E402
from napari_glra.physics.kernels import make_kernel  # noqa: E402


def _features(net, model_basis, y, k):
    M, _ = model_basis.balanced_coefficients(k, 0.01, net.config.balances)
    with torch.no_grad():
        return net.features(torch.as_tensor(y)[None, None], torch.as_tensor(M, dtype=torch.float32)[None])


def test_init_from_carries_the_mix_to_a_rotated_basis(tiny_model_dir):
    """A new basis spanning the same space (permuted, sign-flipped columns) gives the same features."""
    from napari_glra.glra.basis import Basis

    old = load_model_dir(tiny_model_dir)
    m = old.basis.m
    rng = np.random.default_rng(0)
    Q = np.eye(m)[rng.permutation(m)] * rng.choice([-1.0, 1.0], m)
    P = np.eye(m)[rng.permutation(m)] * rng.choice([-1.0, 1.0], m)
    new_basis = Basis(old.basis.L @ P, old.basis.R @ Q)
    net = GLRANet(old.net.config, new_basis.L, new_basis.R, seed=5)
    msg = init_from_model(net, tiny_model_dir)
    assert "initialised from" in msg
    torch.testing.assert_close(net.L.detach(), torch.as_tensor(new_basis.L, dtype=torch.float32))
    y = rng.random((48, 48)).astype(np.float32)
    k = make_kernel("gaussian", sigma=1.5)
    f_old = _features(old.net, old.basis, y, k)
    f_new = _features(net, new_basis, y, k)
    torch.testing.assert_close(f_new, f_old, atol=2e-5, rtol=1e-4)
    for name, p in old.net.body.state_dict().items():  # artifact block copied as it is
        torch.testing.assert_close(net.body.state_dict()[name], p)


def test_init_from_rejects_another_architecture(tiny_model_dir, tmp_path):
    old = load_model_dir(tiny_model_dir)
    cfg = NetConfig.from_dict({**old.net.config.to_dict(), "width": old.net.config.width + 2})
    net = GLRANet(cfg, old.basis.L, old.basis.R)
    with pytest.raises(ValueError, match="width"):
        init_from_model(net, tiny_model_dir)
    with pytest.raises(FileNotFoundError, match="neither"):
        init_from_model(net, tmp_path / "missing")


def test_resume_with_other_settings_records_a_phase(tmp_path):
    from glra_trainer.export import _phase_text
    from glra_trainer.fit import write_run_config

    path = tmp_path / "run_config.json"
    write_run_config(path, {"lr": 1e-3, "max_minutes": 10, "threads": 2}, 0)
    write_run_config(path, {"lr": 1e-3, "max_minutes": 10, "threads": 1}, 40)  # same settings
    assert json.loads(path.read_text())["phases"] == []
    write_run_config(path, {"lr": 1e-3, "max_minutes": 20, "family_weights": [1, 2]}, 50)
    rec = json.loads(path.read_text())
    assert rec["max_minutes"] == 20
    assert rec["phases"] == [
        {
            "from_step": 50,
            "changed": {"family_weights": [1, 2], "max_minutes": 20},
            "before": {"family_weights": None, "max_minutes": 10},
        }
    ]
    text = _phase_text(rec["phases"][0])
    want = "- Continued from step 50 with family_weights [1, 2] (before: uniform), "
    assert text == want + "max_minutes 20 (before: 10)."
    write_run_config(path, {"lr": 1e-3, "max_minutes": 20, "family_weights": [1, 2]}, 0)  # a new run
    assert json.loads(path.read_text())["phases"] == []


def test_init_source_names_the_model(tiny_model_dir, tmp_path):
    from glra_trainer.fit import describe_init

    assert describe_init(str(tiny_model_dir)).startswith("model `tiny` version 0.0-test")
    assert describe_init(str(tmp_path / "checkpoint.pt")) == f"`{tmp_path / 'checkpoint.pt'}`"
    assert describe_init(None) is None


def test_init_from_adds_a_zero_border_channel(tiny_model_dir):
    """A model without the border channel starts a border-channel network with the same function."""
    old = load_model_dir(tiny_model_dir)
    cfg = NetConfig.from_dict({**old.net.config.to_dict(), "border_channel": True})
    net = GLRANet(cfg, old.basis.L, old.basis.R, seed=3)
    assert "border channel added" in init_from_model(net, tiny_model_dir)
    y = torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    M, _ = old.basis.balanced_coefficients(make_kernel("gaussian", sigma=1.5), 0.01, cfg.balances)
    M = torch.as_tensor(M, dtype=torch.float32)[None]
    obs = torch.ones_like(y)
    obs[..., :20, :] = 0
    with torch.no_grad():
        torch.testing.assert_close(net(y, M, observed=obs), old.net(y, M), atol=1e-5, rtol=1e-4)
    back = GLRANet(old.net.config, old.basis.L, old.basis.R)  # and not the other way round
    with pytest.raises(ValueError, match="border_channel"):
        init_from_model(back, _export_border(net, old, tiny_model_dir))


def _export_border(net, old, tmp):
    from napari_glra.glra.model_io import save_model

    out = tmp.parent / "border_model"
    save_model(out, net, old.basis, name="b", version="0")
    return out


def test_a_fine_tune_keeps_the_source_models_intensity_contract(tmp_path):
    """The intensity settings travel with a fine-tune; measured kernel limits do not."""
    micro = load_model("microscopy")
    carried = carried_settings(str(micro.path))
    assert carried == {"intensity": micro.config["intensity"]}
    assert "kernel_limit" not in carried
    plain = tmp_path / "m"
    plain.mkdir()
    (plain / "config.json").write_text(json.dumps({"name": "x"}))
    assert carried_settings(str(plain)) == {} and carried_settings(None) == {}


def test_a_unet_block_starts_from_a_flat_models_deconvolution_block(tiny_model_dir):
    """``init_linear_only``: the multi-scale block (``network.levels``) takes L, R and the mix of a
    flat model; copying every weight across the two designs is refused, naming ``levels``."""
    from glra_trainer.config import NetworkConfig

    old = load_model_dir(tiny_model_dir)
    section = NetworkConfig.model_validate({"levels": 2, "depth": 1})
    cfg = NetConfig.from_dict({**old.net.config.to_dict(), **section.model_dump()})
    assert cfg.levels == 2 and cfg.cell == 4 * cfg.scale
    net = GLRANet(cfg, seed=3)
    assert "artifact block fresh" in init_from_model(net, tiny_model_dir, linear_only=True)
    for name in ("L", "R", "mix"):
        torch.testing.assert_close(getattr(net, name).detach(), getattr(old.net, name).detach())
    with pytest.raises(ValueError, match="levels"):
        init_from_model(GLRANet(cfg), tiny_model_dir, keep_basis=True)
    with pytest.raises(Exception, match="levels"):
        NetworkConfig.model_validate({"levels": -1})


@pytest.mark.parametrize("extra", [{"feature_maps": 3}, {"feature_maps": 2, "border_channel": True}])
def test_init_from_adds_zero_feature_maps(tiny_model_dir, extra):
    """Feature maps (and a border channel) added to a trained model start with zero weights in the
    artifact block: the same function, while their own convolutions are fresh and trainable."""
    old = load_model_dir(tiny_model_dir)
    cfg = NetConfig.from_dict({**old.net.config.to_dict(), **extra})
    net = GLRANet(cfg, old.basis.L, old.basis.R, seed=3)
    msg = init_from_model(net, tiny_model_dir, keep_basis=True)
    assert f"{extra['feature_maps']} feature maps" in msg and ("border" in msg) == ("border_channel" in extra)
    y = torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    M, _ = old.basis.balanced_coefficients(make_kernel("gaussian", sigma=1.5), 0.01, cfg.balances)
    M = torch.as_tensor(M, dtype=torch.float32)[None]
    with torch.no_grad():
        torch.testing.assert_close(net(y, M), old.net(y, M), atol=1e-5, rtol=1e-4)
    net.train()
    net(y, M, context=8).square().mean().backward()
    assert net.body[0].weight.grad.abs().sum() > 0  # the zero weights do learn
    wider = GLRANet(NetConfig.from_dict({**cfg.to_dict(), "feature_maps": 5}), old.basis.L, old.basis.R)
    with pytest.raises(ValueError, match="feature_maps"):  # not from a model that has them
        init_from_model(wider, _export_border(net, old, tiny_model_dir))


def _half_resolution_source(tiny_model_dir, tmp_path):
    """The tiny model's basis, a half-resolution network on it with a visible correction, and that
    network saved as a model directory (a source for ``init_from``)."""
    from napari_glra.glra.model_io import save_model

    tiny = load_model_dir(tiny_model_dir)
    cfg = NetConfig.from_dict({**tiny.net.config.to_dict(), "scale": 2})
    net = GLRANet(cfg, tiny.basis.L, tiny.basis.R, seed=5)
    with torch.no_grad():
        net.body[-1].weight.mul_(100)
    return tiny, net, save_model(tmp_path / "s2", net, tiny.basis, name="s2", version="0")


def test_init_from_grows_a_half_resolution_block(tiny_model_dir, tmp_path):
    """With scale 2 the first convolution reads each channel's 2 x 2 cell: the added border channel
    and feature maps land on their own cells, and the function is kept."""
    tiny, old, src = _half_resolution_source(tiny_model_dir, tmp_path)
    cfg = old.config
    grown = GLRANet(NetConfig.from_dict({**cfg.to_dict(), "border_channel": True, "feature_maps": 2}))
    init_from_model(grown, src, keep_basis=True)
    y = torch.rand(1, 1, 48, 40, generator=torch.Generator().manual_seed(1))
    M, _ = tiny.basis.balanced_coefficients(make_kernel("disk", radius=3.0), 0.01, cfg.balances)
    M = torch.as_tensor(M, dtype=torch.float32)[None]
    obs = torch.ones_like(y)
    obs[..., :, :9] = 0
    with torch.no_grad():
        torch.testing.assert_close(grown(y, M, observed=obs), old(y, M), atol=1e-5, rtol=1e-4)
        grown.body[0].weight[:, -4:] += 1  # the border channel's cell: now it matters
        assert (grown(y, M, observed=obs) - old(y, M)).abs().max() > 1e-3


def test_init_grow_scale_starts_added_inputs_at_a_fraction_of_fresh_weights(tiny_model_dir):
    old = load_model_dir(tiny_model_dir)
    cfg = NetConfig.from_dict({**old.net.config.to_dict(), "feature_maps": 2})
    fresh = GLRANet(cfg, old.basis.L, old.basis.R, seed=3)
    net = GLRANet(cfg, old.basis.L, old.basis.R, seed=3)
    assert "0.1 x fresh weights" in init_from_model(net, tiny_model_dir, keep_basis=True, grow_scale=0.1)
    n = len(cfg.balances) + cfg.n_mix
    w, w0 = net.body[0].weight.detach(), fresh.body[0].weight.detach()
    torch.testing.assert_close(w[:, n:], 0.1 * w0[:, n:])
    torch.testing.assert_close(w[:, :n], old.net.body[0].weight.detach())


def test_init_from_adds_a_fresh_refiner_that_starts_near_the_source(tiny_model_dir, tmp_path):
    """A refiner added to a trained model: the first block is the source's, the refiner fresh; with
    its last layer at zero the network is the source (the refiner's margin is rounded to the cells)."""
    from napari_glra.glra.model_io import save_model

    tiny, src, path = _half_resolution_source(tiny_model_dir, tmp_path)
    src_cfg = src.config
    refiner = {"width": 4, "depth": 1, "first_kernel": 3, "last_kernel": 3}  # margin 3: odd
    cfg = NetConfig.from_dict({**src_cfg.to_dict(), "refiner": refiner})
    net = GLRANet(cfg, seed=1)
    assert "a fresh refiner added" in init_from_model(net, path, keep_basis=True)
    y = torch.rand(1, 1, 44, 38, generator=torch.Generator().manual_seed(2))
    M, _ = tiny.basis.balanced_coefficients(make_kernel("gaussian", sigma=1.5), 0.01, cfg.balances)
    M = torch.as_tensor(M, dtype=torch.float32)[None]
    with torch.no_grad():
        ref = src(y, M)
        assert 0 < (net(y, M) - ref).abs().max() < 0.05  # the refiner's near-zero start
        net.refine[-1].weight.zero_()
        net.refine[-1].bias.zero_()
        torch.testing.assert_close(net(y, M), ref, atol=1e-5, rtol=1e-4)
    other = GLRANet(NetConfig.from_dict({**cfg.to_dict(), "refiner": {**refiner, "width": 5}}))
    path2 = save_model(tmp_path / "refined", net, tiny.basis, name="r", version="0")
    with pytest.raises(ValueError, match="refiner"):  # a refiner of another shape is not grown
        init_from_model(other, path2, keep_basis=True)


def test_freeze_stops_the_named_parameters(tiny_model_dir):
    from glra_trainer.fit import freeze_parameters

    tiny = load_model_dir(tiny_model_dir).net.config.to_dict()
    cfg = NetConfig.from_dict({**tiny, "refiner": {"width": 3}})
    net = GLRANet(cfg)
    n = freeze_parameters(net, ["L", "R", "mix", "body"])
    assert n == sum(p.numel() for k, p in net.named_parameters() if not k.startswith("refine."))
    assert all(p.requires_grad == k.startswith("refine.") for k, p in net.named_parameters())
    with pytest.raises(ValueError, match="'bdy' names no parameter.*'body'"):
        freeze_parameters(net, ["bdy"])
    with pytest.raises(ValueError, match="nothing would train"):
        freeze_parameters(GLRANet(cfg), ["L", "R", "mix", "body", "refine"])
