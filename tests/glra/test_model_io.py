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
