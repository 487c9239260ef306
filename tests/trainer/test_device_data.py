"""Training batches degraded on the training device (``fit`` option ``data_on_device``).

The torch path must make the samples the numpy path (``Degrader.make``) defines: the same
blur (to float32 rounding), the same saturation and target (bit for bit), the same ``M``, and
noise with the requested statistics, reproducibly from ``(seed, step)``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("glra_trainer")

from glra_trainer.cli import main  # noqa: E402
from glra_trainer.config import FitConfig, file_section, read_config_file  # noqa: E402
from glra_trainer.data import Degrader  # noqa: E402
from glra_trainer.device_data import (
    BatchPlan,
    DeviceDegrader,
    add_noise,
    blur_valid,
    make_plan,  # noqa: E402
    plan_batch,
    pseudo_inverse_batch,
    saturate,
)
from glra_trainer.loader import BatchStream, step_rng  # noqa: E402
from napari_glra.glra.pseudo_inverse import pseudo_inverse  # noqa: E402
from napari_glra.physics.degrade import blur, effective_noise  # noqa: E402
from napari_glra.physics.kernels import make_kernel, pad_to, sample_kernel  # noqa: E402

#: One float32 ulp at 1: the observations are float32 in [0, ~1].
ULP = 2.0**-23


def _plan(d: Degrader, sharp, kernels, saturate_, noise, peak=None, seed=0, border=None) -> BatchPlan:
    """A plan of given patches, (unpadded) kernels and draws."""
    n = len(kernels)
    return BatchPlan(
        sharp=np.stack(sharp).astype(np.float32),
        kernels=np.stack([pad_to(k, d.kmax) for k in kernels]),
        ksize=np.array([k.shape[0] for k in kernels]),
        families=("gaussian",) * n,
        noise=np.asarray(noise, dtype=np.float64) * np.ones(n),
        peak=None if peak is None else np.asarray(peak, dtype=np.float64) * np.ones(n),
        saturate=np.asarray(saturate_, dtype=bool),
        border=np.full(n, -1) if border is None else np.asarray(border),
        seed=seed,
    )


def test_blur_matches_the_numpy_blur():
    rng = np.random.default_rng(0)
    kernels = [pad_to(sample_kernel(f, rng)[0], 45) for f in ("gaussian", "disk", "motion")]
    sharp = rng.random((3, 101, 97))
    ref = np.stack([blur(s, k, mode="valid") for s, k in zip(sharp, kernels)])
    got = blur_valid(torch.as_tensor(sharp), torch.as_tensor(np.stack(kernels)))
    assert got.shape == ref.shape == (3, 57, 53)
    np.testing.assert_allclose(got.numpy(), ref, rtol=0, atol=1e-13)
    np.testing.assert_allclose(got.float().numpy(), ref.astype(np.float32), rtol=0, atol=ULP)
    # float32 arithmetic (as on mps) stays within a few float32 roundings
    got32 = blur_valid(
        torch.as_tensor(sharp, dtype=torch.float32), torch.as_tensor(np.stack(kernels)).float()
    )
    np.testing.assert_allclose(got32.numpy(), ref, rtol=0, atol=2e-6)


@pytest.mark.parametrize("context", [0, 6])
def test_noise_free_batch_matches_the_degrader(small_basis, context):
    """Same patch, kernel and saturation flag: y to float32 rounding, x bit for bit, M to float32 rounding."""
    d = Degrader(
        small_basis, crop=24, context=context, kmax=25, balances=(0.3, 1.0), families=("gaussian", "disk")
    )
    sharp, kernels, samples, flags = [], [], [], [True, False, True, False]
    for i, flag in enumerate(flags):
        patch = d.random_patch(None, np.random.default_rng(100 + i)) * 1.1  # some of it above 1
        family = d.families[i % 2]
        kernels.append(d.random_kernel(family, np.random.default_rng(i)))
        samples.append(d.make(patch, family, 0.0, np.random.default_rng(i), saturate=flag))  # the same kernel
        sharp.append(patch)
    y, x, M, obs = DeviceDegrader(d, "cpu")(_plan(d, sharp, kernels, flags, 0.0))
    assert y.dtype == x.dtype == M.dtype == torch.float32
    assert y.shape == (4, 1, 24 + 2 * context, 24 + 2 * context) and x.shape == (4, 1, 24, 24)
    assert M.shape == (4, 2, small_basis.m, small_basis.m) and torch.equal(obs, torch.ones_like(y))
    for i, s in enumerate(samples):
        np.testing.assert_allclose(y[i, 0].numpy(), s.y, rtol=0, atol=ULP)
        np.testing.assert_array_equal(x[i, 0].numpy(), s.x)  # the saturation and crop of the target
        np.testing.assert_allclose(M[i].numpy(), s.M, rtol=1e-5, atol=1e-6 * np.abs(s.M).max())
    assert x[0].max() == 1.0 and x[1].max() > 1.0  # saturated and not


def test_saturation_is_the_numpy_clip():
    rng = np.random.default_rng(1)
    y, x = rng.random((3, 8, 8)) * 1.1, rng.random((3, 4, 4)) * 1.1
    flags = torch.tensor([True, False, True])
    ys, xs = saturate(torch.as_tensor(y), torch.as_tensor(x), flags, 1.2)
    for i, f in enumerate(flags):
        np.testing.assert_array_equal(ys[i].numpy(), np.clip(y[i] * 1.2, 0, 1) if f else y[i])
        np.testing.assert_array_equal(xs[i].numpy(), np.clip(x[i] * 1.2, 0, 1) if f else x[i])
    for factor in (None, 1.0):  # degrade: no saturation at all (values above 1 stay)
        ys, xs = saturate(torch.as_tensor(y), torch.as_tensor(x), flags, factor)
        np.testing.assert_array_equal(ys.numpy(), y)


def test_gaussian_noise_has_the_requested_std():
    sigma = torch.tensor([0.005, 0.01, 0.02, 0.03], dtype=torch.float64)
    clean = torch.full((4, 160, 160), 0.5, dtype=torch.float64)
    y, level = add_noise(clean, sigma, None, torch.Generator().manual_seed(0))
    assert torch.equal(level, sigma)
    r = (y - clean).flatten(1)
    np.testing.assert_allclose(r.std(1).numpy(), sigma.numpy(), rtol=0.03)
    assert np.all(np.abs(r.mean(1).numpy()) < 4 * sigma.numpy() / 160)  # 4 standard errors


def test_poisson_gaussian_mean_and_variance():
    """Poisson-Gaussian: mean = signal, variance = signal / peak + read²; the level is the effective std."""
    signal = np.array([0.05, 0.2, 0.8, 0.5])
    peak = np.array([100.0, 1000.0, 300.0, 30.0])
    read = np.array([2.0, 5.0, 0.5, 1.0]) / peak  # read noise in photons, on the [0, 1] scale
    clean = torch.as_tensor(signal)[:, None, None].expand(4, 200, 200).contiguous()
    y, level = add_noise(
        clean, torch.as_tensor(read), torch.as_tensor(peak), torch.Generator().manual_seed(1)
    )
    y = y.flatten(1).numpy()
    np.testing.assert_allclose(y.mean(1), signal, rtol=0.01)
    np.testing.assert_allclose(y.var(1), signal / peak + read**2, rtol=0.04)
    want = [effective_noise(np.full((200, 200), s), r, p) for s, r, p in zip(signal, read, peak)]
    np.testing.assert_allclose(level.numpy(), want, rtol=1e-12)
    # without read noise, every pixel is a whole number of photons
    y0, _ = add_noise(clean, torch.zeros(4, dtype=torch.float64), torch.as_tensor(peak), torch.Generator())
    counts = y0.flatten(1).numpy() * peak[:, None]
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)


@pytest.mark.parametrize("prior", ["gradient", "identity"])
def test_pseudo_inverse_batch_matches_numpy(prior):
    from scipy import fft as sfft

    kernels = [
        make_kernel("gaussian", sigma=1.2),
        make_kernel("disk", radius=3.0),
        make_kernel("gaussian", sigma=2.0),
    ]
    reg = np.array([[0.01, 0.05], [0.02, 0.2], [0.005, 0.01]])
    size, side = 31, max(k.shape[0] for k in kernels)
    n = sfft.next_fast_len(2 * size + 1, real=True)
    assert all(2 * k.shape[0] + 1 <= 2 * size + 1 for k in kernels)  # one FFT grid, as in numpy
    padded = torch.as_tensor(np.stack([pad_to(k, side) for k in kernels]))
    for taper in (0.25, 0.0, 0.5):
        got = pseudo_inverse_batch(padded, torch.as_tensor(reg), size, n, prior, taper).numpy()
        for i, k in enumerate(kernels):
            for j, r in enumerate(reg[i]):
                ref = pseudo_inverse(k, size=size, reg=r, prior=prior, taper=taper)
                np.testing.assert_allclose(got[i, j], ref, rtol=0, atol=1e-10 * np.abs(ref).max())


def test_coefficients_of_kernels_on_several_fft_grids(small_basis):
    """Kernels larger than the basis (d = 31) get pseudo-inverses on larger FFT grids, as in numpy."""
    d = Degrader(small_basis, crop=16, kmax=45, balances=(0.5, 1.0, 2.0))
    kernels = [
        make_kernel("gaussian", sigma=1.0),
        make_kernel("disk", radius=17.0),
        make_kernel("gaussian", sigma=7.0),
    ]
    assert len({k.shape[0] for k in kernels}) == 3 and max(k.shape[0] for k in kernels) > 31
    sigma = np.array([0.01, 0.02, 0.005])
    padded = torch.as_tensor(np.stack([pad_to(k, 45) for k in kernels]))
    for chunk in (None, 1, 2):  # (None: 4 samples at a time on the CPU)
        eng = DeviceDegrader(d, "cpu", chunk=chunk)
        M = eng.coefficients(padded, np.array([k.shape[0] for k in kernels]), torch.as_tensor(sigma))
        for k, s, got in zip(kernels, sigma, M.numpy()):
            ref, _ = small_basis.balanced_coefficients(k, s, d.balances)
            np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12 * np.abs(ref).max())


@pytest.mark.parametrize("noise_model", ["gaussian", "poisson_gaussian"])
def test_batches_depend_on_seed_and_step_only(small_basis, noise_model):
    d = Degrader(
        small_basis, crop=16, context=4, kmax=21, families=("gaussian", "disk"), noise_model=noise_model
    )
    eng = DeviceDegrader(d, "cpu")
    a, b = plan_batch(d, None, 3, step_rng(5, 2)), plan_batch(d, None, 3, step_rng(5, 2))
    for name in ("sharp", "kernels", "ksize", "noise", "saturate", "border"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.seed == b.seed and a.families == b.families
    first, again = eng(a), eng(b)
    for u, v in zip(first, again):
        assert torch.equal(u, v)
    other = eng(plan_batch(d, None, 3, step_rng(5, 3)))
    assert not torch.equal(other[0], first[0])
    # another noise seed: the same clean batch, other noise
    a.seed += 1
    y2, x2, M2, _ = eng(a)
    assert torch.equal(x2, first[1]) and not torch.equal(y2, first[0])
    if noise_model == "gaussian":
        assert torch.equal(M2, first[2])
        assert a.peak is None
    else:
        assert a.peak is not None and np.all(a.noise * a.peak >= 0.5)  # read noise in photons


def test_border_samples_are_cut_on_the_cpu(small_basis):
    """``p_border``: the noisy pixels stay where observed, the rest is the engine's extension."""
    d = Degrader(small_basis, crop=48, context=8, kmax=21, families=("gaussian", "disk"), p_border=1.0)
    eng = DeviceDegrader(d, "cpu")
    plan = plan_batch(d, None, 3, step_rng(0, 0))
    assert np.all(plan.border >= 0)
    y, x, M, obs = eng(plan)
    plan.border[:] = -1
    y0, x0, M0, obs0 = eng(plan)
    assert torch.equal(obs0, torch.ones_like(obs0)) and torch.equal(x, x0) and torch.equal(M, M0)
    for i in range(3):
        keep = obs[i, 0] > 0
        assert 0 < keep.sum() < keep.numel()
        assert torch.equal(y[i, 0][keep], y0[i, 0][keep])
        assert not torch.equal(y[i, 0][~keep], y0[i, 0][~keep])


@pytest.mark.slow
def test_plans_from_workers_are_the_plans_of_the_step(small_basis):
    d = Degrader(small_basis, crop=16, context=4, kmax=21, families=("gaussian", "disk"))
    with BatchStream(d, None, None, batch=2, seed=7, workers=1, start=1, make=make_plan) as stream:
        plans = [next(stream) for _ in range(2)]
    for s, plan in zip((1, 2), plans):
        ref = plan_batch(d, None, 2, step_rng(7, s))
        np.testing.assert_array_equal(plan.sharp, ref.sharp)
        np.testing.assert_array_equal(plan.kernels, ref.kernels)
        assert plan.seed == ref.seed


def test_off_by_default_in_every_shipped_config():
    assert FitConfig().data_on_device is False
    configs = sorted((Path(__file__).resolve().parents[2] / "trainer" / "configs").glob("*.toml"))
    assert configs
    for path in configs:
        assert FitConfig.load(file_section(read_config_file(path), "fit")).data_on_device is False


@pytest.mark.slow
def test_smoke_fit_with_data_on_device(tmp_path, image_dir):
    basis = tmp_path / "basis.safetensors"
    assert main(["basis", "--smoke", "--seed", "1", "--set", f'out="{basis}"']) == 0
    run = tmp_path / "run"
    fit = ["fit", "--smoke", "--seed", "1", "--device", "cpu", "--set", f'out="{run}"']
    fit += [
        "--set",
        f'basis="{basis}"',
        "--set",
        f'train_dir="{image_dir}"',
        "--set",
        f'val_dir="{image_dir}"',
    ]
    fit += ["--set", "data_on_device=true"]
    assert main(fit) == 0
    rows = list(csv.DictReader(open(run / "log.csv")))
    assert [int(r["step"]) for r in rows] == [3, 6]
    assert all(np.isfinite(float(r["loss"])) and np.isfinite(float(r["val_gaussian"])) for r in rows)
    assert json.loads((run / "run_config.json").read_text())["data_on_device"] is True
    # a resumed run continues the stream of (seed, step)
    assert main([*fit, "--resume", "--set", "steps=8"]) == 0
    rows = list(csv.DictReader(open(run / "log.csv")))
    assert int(rows[-1]["step"]) == 8
