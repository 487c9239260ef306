import json

import numpy as np
import pytest
import torch

from napari_glra.glra.basis import Basis, save_basis
from napari_glra.glra.model_io import (
    BASIS,
    CONFIG,
    FORMAT_VERSION,
    WEIGHTS,
    basis_id,
    load_model_dir,
    save_model,
)
from napari_glra.glra.network import GLRANet, NetConfig

CFG = NetConfig(d=31, m=8, width=4, depth=1, first_kernel=5, last_kernel=3)


@pytest.fixture
def saved(tmp_path, small_basis):
    net = GLRANet(CFG, small_basis.L, small_basis.R, seed=1).eval()
    with torch.no_grad():  # make the weights non-trivial
        for p in net.body.parameters():
            p.add_(0.01 * torch.randn_like(p))
    d = save_model(tmp_path / "m", net, small_basis, name="tiny", version="3", metadata={"notes": "test"})
    return d, net


def test_round_trip_identical_outputs(saved, small_basis):
    d, net = saved
    model = load_model_dir(d)
    assert model.name == "tiny" and model.version == "3" and model.path == d
    assert model.config["notes"] == "test" and model.config["format"] == FORMAT_VERSION
    assert model.net.config == CFG
    assert not model.net.training
    assert not any(p.requires_grad for p in model.net.parameters())
    np.testing.assert_allclose(model.basis.L, small_basis.L, atol=1e-6)
    g = torch.Generator().manual_seed(0)
    y = torch.rand(2, 1, 30, 27, generator=g)
    M = torch.randn(2, CFG.m, CFG.m, generator=g)
    with torch.no_grad():
        torch.testing.assert_close(model.net(y, M), net(y, M), rtol=0, atol=0)


def test_weights_are_safetensors_and_config_is_json(saved):
    d, _ = saved
    raw = (d / WEIGHTS).read_bytes()
    # safetensors: 8-byte little-endian header length, then a JSON header.
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    assert "L" in header and "R" in header
    assert not raw.startswith(b"\x80") and b"PK\x03\x04" not in raw[:4]  # not pickle / torch zip
    cfg = json.loads((d / CONFIG).read_text())
    assert cfg["network"] == CFG.to_dict() and len(cfg["basis_id"]) == 16


def test_loading_never_unpickles(saved, monkeypatch):
    import pickle

    def boom(*a, **k):
        raise AssertionError("unpickling attempted")

    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(pickle, "loads", boom)
    monkeypatch.setattr(torch, "load", boom)
    load_model_dir(saved[0])


@pytest.mark.parametrize("missing", [WEIGHTS, CONFIG, BASIS])
def test_missing_file(saved, missing):
    d, _ = saved
    (d / missing).unlink()
    with pytest.raises(FileNotFoundError, match=missing):
        load_model_dir(d)


def test_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model_dir(tmp_path / "nope")


def test_mismatched_basis(saved, small_basis):
    d, _ = saved
    other = Basis(small_basis.L[:, ::-1].copy(), small_basis.R, small_basis.metadata)
    assert basis_id(other) != basis_id(small_basis)
    save_basis(other, d / BASIS)
    with pytest.raises(ValueError, match="does not match"):
        load_model_dir(d)


def test_basis_of_wrong_size(saved, small_basis):
    d, _ = saved
    save_basis(Basis(small_basis.L[:, :5], small_basis.R[:, :5]), d / BASIS)
    with pytest.raises(ValueError, match="network expects"):
        load_model_dir(d)


def test_bad_format_and_config(saved):
    d, _ = saved
    cfg = json.loads((d / CONFIG).read_text())
    (d / CONFIG).write_text(json.dumps({**cfg, "format": 99}))
    with pytest.raises(ValueError, match="format"):
        load_model_dir(d)
    (d / CONFIG).write_text(json.dumps({**cfg, "network": {**cfg["network"], "depth": 3}}))
    with pytest.raises(ValueError, match="does not fit its config"):
        load_model_dir(d)


# --------------------------------------------------------------------------- validation before allocation
def _rewrite(d, **changes):
    cfg = json.loads((d / CONFIG).read_text())
    for k, v in changes.items():
        if v is _DROP:
            cfg.pop(k)
        else:
            cfg[k] = v
    (d / CONFIG).write_text(json.dumps(cfg))
    return cfg


_DROP = object()
NET = CFG.to_dict()


@pytest.fixture
def no_build(monkeypatch):
    """Fail if load_model_dir gets as far as building the network."""
    import napari_glra.glra.model_io as model_io

    def boom(*a, **k):
        raise AssertionError("the network was built before the config was checked")

    monkeypatch.setattr(model_io, "GLRANet", boom)


def test_missing_basis_id_with_another_basis_is_refused(saved, small_basis):
    d, _ = saved
    _rewrite(d, basis_id=_DROP)
    # another model's basis of the same size beside the weights: today's garbage
    save_basis(Basis(small_basis.L[:, ::-1].copy(), small_basis.R, small_basis.metadata), d / BASIS)
    with pytest.raises(ValueError, match=r"config\.json has no basis_id .* re-export the model"):
        load_model_dir(d)
    save_basis(small_basis, d / BASIS)  # even with the right basis: it cannot be checked
    with pytest.raises(ValueError, match="no basis_id"):
        load_model_dir(d)


def test_shipped_models_have_a_basis_id_and_load():
    from pathlib import Path

    import napari_glra

    dirs = sorted((Path(napari_glra.__file__).parent / "models").glob("*/config.json"))
    assert dirs
    for conf in dirs:
        cfg = json.loads(conf.read_text())
        assert len(cfg["basis_id"]) == 16, conf
        model = load_model_dir(conf.parent)
        assert model.config["basis_id"] == basis_id(model.basis)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        (
            {"network": {**NET, "depth": 10_000_000}},
            r"network\.depth must be an integer in \[0, 64\], got 10000000",
        ),
        ({"network": {**NET, "width": "16"}}, r"network\.width must be an integer in \[1, 1024\], got '16'"),
        ({"network": {**NET, "residual": "yes"}}, r"network\.residual must be true or false"),
        ({"network": [1, 2]}, "network must be a JSON object"),
        ({"network": _DROP}, "has no network entry"),
        ({"format": _DROP}, "model format None is not supported"),
        ({"format": "1"}, "model format '1' is not supported"),
        ({"format": True}, "model format True is not supported"),
        ({"name": _DROP}, "name must be a non-empty string"),
        ({"name": 3}, "name must be a non-empty string"),
        ({"name": " "}, "name must be a non-empty string"),
        ({"version": None}, "version must be a non-empty string or an integer"),
        ({"version": 1.5}, "version must be a non-empty string or an integer"),
        ({"basis_id": 12}, "basis_id must be a 16-digit lowercase hex string"),
        ({"basis_id": "not-a-hash"}, "basis_id must be a 16-digit lowercase hex string"),
    ],
)
def test_every_config_field_is_checked_before_the_network_is_built(saved, no_build, changes, match):
    d, _ = saved
    _rewrite(d, **changes)
    with pytest.raises(ValueError, match=match) as err:
        load_model_dir(d)
    assert str(d / CONFIG) in str(err.value)  # names the file


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (b"[1, 2, 3]", "must hold a JSON object .* got a JSON list"),
        (b'"just a string"', "got a JSON str"),
        (b'{"format": 1, "name": ', "is not valid JSON"),
        (b"\xff\xfe\x00garbage", "is not valid JSON"),
        (b"", "is not valid JSON"),
    ],
)
def test_unreadable_config_is_a_value_error_naming_the_file(saved, no_build, text, match):
    d, _ = saved
    (d / CONFIG).write_bytes(text)
    with pytest.raises(ValueError, match=match) as err:
        load_model_dir(d)
    assert str(d / CONFIG) in str(err.value)


def test_huge_config_is_refused_unread(saved, monkeypatch):
    import napari_glra.glra.model_io as model_io

    d, _ = saved
    monkeypatch.setattr(model_io, "MAX_CONFIG_BYTES", 100)
    with pytest.raises(ValueError, match="a model config is a small JSON file"):
        load_model_dir(d)


def _weights(d):
    from safetensors.torch import load_file

    return load_file(str(d / WEIGHTS))


def _save_weights(d, state):
    from safetensors.torch import save_file

    save_file(state, str(d / WEIGHTS))


def test_weight_of_the_wrong_shape_names_the_tensor(saved):
    d, _ = saved
    state = _weights(d)
    state["body.0.weight"] = torch.zeros(3, 1, 5, 5)
    _save_weights(d, state)
    shapes = r"tensor 'body\.0\.weight' has shape \(3, 1, 5, 5\), .* needs \(4, 4, 5, 5\)"
    with pytest.raises(ValueError, match=shapes) as err:
        load_model_dir(d)
    assert str(d / WEIGHTS) in str(err.value)


def test_missing_extra_and_non_finite_weights(saved):
    d, _ = saved
    good = _weights(d)
    _save_weights(d, {k: v for k, v in good.items() if k != "mix"})
    with pytest.raises(ValueError, match=r"missing tensors \['mix'\]"):
        load_model_dir(d)
    _save_weights(d, {**good, "extra": torch.zeros(2)})
    with pytest.raises(ValueError, match=r"unexpected tensors \['extra'\]"):
        load_model_dir(d)
    bad = dict(good)
    bad["body.2.bias"] = bad["body.2.bias"].clone()
    bad["body.2.bias"][0] = float("nan")
    _save_weights(d, bad)
    with pytest.raises(ValueError, match=r"tensors \['body\.2\.bias'\] contain NaN or inf"):
        load_model_dir(d)


@pytest.mark.parametrize("fname", [WEIGHTS, BASIS])
def test_corrupt_safetensors_file_is_a_value_error_naming_it(saved, fname):
    d, _ = saved
    (d / fname).write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not a header")
    with pytest.raises(ValueError, match="is not a readable safetensors file") as err:
        load_model_dir(d)
    assert str(d / fname) in str(err.value)


def test_basis_of_wrong_size_is_found_from_its_header(saved, small_basis, monkeypatch):
    import napari_glra.glra.model_io as model_io

    d, _ = saved
    save_basis(Basis(small_basis.L[:, :5], small_basis.R[:, :5]), d / BASIS)
    monkeypatch.setattr(model_io, "load_basis", lambda *a: pytest.fail("basis loaded"))
    with pytest.raises(ValueError, match=r"basis is L \(31, 5\), R \(31, 5\) but the network expects 31x8"):
        load_model_dir(d)
