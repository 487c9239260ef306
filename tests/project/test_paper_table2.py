"""``benchmarks/paper_table2.py`` on a tiny synthetic stand-in for the authors' test set."""

from __future__ import annotations

import csv
import json
import subprocess

import numpy as np
import pytest
from _scripts import load_script
from PIL import Image
from skimage import data, transform


def _script():
    return load_script("benchmarks/paper_table2.py")


def _small_rgb(img: np.ndarray, shape=(96, 128)) -> np.ndarray:
    return transform.resize(img[..., :3], shape, anti_aliasing=True)


def _make_triples(folder, pt2) -> list[str]:
    """Three triples named as the authors' (``<id>_batch/_gt/_kernel.png``), made with their protocol."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = []
    for name, img, sigma in (
        ("1001", data.astronaut(), 1.5),
        ("1002", data.chelsea(), 3.0),
        ("1003", data.coffee(), 5.0),
    ):
        x8 = np.round(_small_rgb(img) * 255).astype(np.uint8)
        y8, k8 = pt2.authors_degrade(x8 / 255.0, sigma, 1.1, rng)
        Image.fromarray(x8).save(folder / f"{name}_gt.png")
        Image.fromarray(y8).save(folder / f"{name}_batch.png")
        Image.fromarray(k8).save(folder / f"{name}_kernel.png")
        names.append(name)
    return names


def test_degradation_matches_the_authors_files():
    pt2 = _script()
    x = _small_rgb(data.astronaut())
    y8, k8 = pt2.authors_degrade(x, 2.0, 1.2, np.random.default_rng(1))
    assert y8.dtype == np.uint8 and y8.shape == x.shape
    assert k8.shape == (23, 23) and k8.max() == 255 and k8[11, 11] == 255
    # observation = clip(gain * circular blur) + 0.01 U(0, 1), rounded: residual mean 0.005, std ~0.003
    k = k8 / k8.sum()
    clean = np.clip(1.2 * pt2.circular_blur(x, k), 0, 1)
    m = clean < 0.95
    r = (y8 / 255.0 - clean)[m]
    assert abs(r.mean() - 0.005) < 1e-3
    assert 0.0025 < r.std() < 0.0036


def test_ssim_matlab_is_one_for_identical_images_and_below_otherwise():
    pt2 = _script()
    x = _small_rgb(data.astronaut())
    assert pt2.ssim_matlab(x, x) == pytest.approx(1.0)
    assert pt2.ssim_matlab(np.clip(x + 0.05, 0, 1), x) < 0.99


def test_docs_section_replaces_only_its_markers(tmp_path):
    pt2 = _script()
    page = tmp_path / "benchmarks.md"
    page.write_text("# Benchmarks\n\nkeep me\n")
    pt2.write_docs_section(page, f"{pt2.MARK_START}\nfirst\n{pt2.MARK_END}")
    pt2.write_docs_section(page, f"{pt2.MARK_START}\nsecond\n{pt2.MARK_END}")
    text = page.read_text()
    assert text.startswith("# Benchmarks\n\nkeep me\n")
    assert "second" in text and "first" not in text
    assert text.count(pt2.MARK_START) == 1 and text.count(pt2.MARK_END) == 1


def test_extract_from_a_git_mirror(tmp_path):
    pt2 = _script()
    repo = tmp_path / "repo"
    names = _make_triples(repo / pt2.SUBDIR, pt2)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "data"], check=True)
    out = pt2.extract_from_mirror(repo / ".git", tmp_path / "out")
    assert pt2.list_images(out) == names
    for f in (repo / pt2.SUBDIR).iterdir():
        assert (out / f.name).read_bytes() == f.read_bytes()


def test_tune_scales_finds_the_gain_the_protocol_adds():
    """An observation 1.12x brighter than its ground truth: the tuned global scale divides it out."""
    pt2 = _script()
    rng = np.random.default_rng(3)
    x = rng.uniform(0.1, 0.8, (40, 40))
    examples = [(np.clip(1.12 * x, 0, 1), x, np.ones((1, 1)))]
    scales = pt2.tune_scales(examples, {}, ["blurred"], crop=2, log=None)
    assert scales["blurred"]["value"] == pytest.approx(0.89, abs=0.011)
    assert scales["blurred"]["tuning_psnr_central"] > scales["blurred"]["tuning_psnr_central_unscaled"] + 10
    assert pt2.oracle_scale(1.12 * x, x) == pytest.approx(1 / 1.12)


def test_model_option_checks_its_argument(tmp_path):
    pt2 = _script()
    for bad in ("no-equals-sign", "bad name=" + str(tmp_path), "x=" + str(tmp_path)):
        with pytest.raises(SystemExit):
            pt2.main(["--model", bad, "--docs", str(tmp_path)])
    with pytest.raises(SystemExit):
        pt2.main(["--methods", "nonsense", "--docs", str(tmp_path)])


def test_missing_data_says_how_to_get_it(tmp_path):
    pt2 = _script()
    with pytest.raises(SystemExit, match="git clone https://github.com/rwenqi/NBD-GLRA"):
        pt2.find_data(None, tmp_path / "no-mirror", tmp_path)


@pytest.mark.slow
def test_quick_run_writes_csv_json_and_docs(tmp_path):
    pt2 = _script()
    names = _make_triples(tmp_path / "authors", pt2)
    train = tmp_path / "train"
    train.mkdir()
    for i, img in enumerate((data.rocket(), data.coffee())):
        Image.fromarray(np.round(_small_rgb(img) * 255).astype(np.uint8)).save(train / f"{i}.png")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "benchmarks.md").write_text("# Benchmarks\n\nrest of the page\n")

    res = pt2.main(
        [
            "--data",
            str(tmp_path / "authors"),
            "--train",
            str(train),
            "--tune-images",
            "2",
            "--crop",
            "10",
            "--docs",
            str(docs),
        ]
    )

    rows = list(csv.DictReader(open(docs / "data" / "paper_table2.csv")))
    assert list(rows[0]) == pt2.CSV_FIELDS
    assert len(rows) == len(names) * len(pt2.LABELS)
    assert {r["image"] for r in rows} == set(names)
    assert {r["method"] for r in rows} == set(pt2.LABELS)
    for r in rows:
        assert 5 < float(r["psnr_central"]) < 60 and 0 < float(r["ssim_central"]) <= 1
        assert 0 < float(r["ssim_matlab_central"]) <= 1 and 5 < float(r["psnr_whole"]) < 60
    est = [r for r in rows if r["method"] == "glra_default_est"]
    assert all(0 < float(r["noise_level"]) < 0.05 for r in est)

    summary = json.loads((docs / "data" / "paper_table2_summary.json").read_text())
    assert summary == json.loads(json.dumps(res))
    assert summary["n_images"] == len(names) and summary["protocol"]["crop"] == 10
    assert set(summary["tuned"]) == {"wiener", "rl", "tv"}
    for t in summary["tuned"].values():
        assert t["value"] in t["grid"] and len(t["psnr_curve"]) == len(t["grid"])
    assert set(summary["summary"]) == set(pt2.LABELS)
    assert summary["paper_table2"]["psnr_central"]["NBD-GLRA (paper)"] == 23.21
    assert len(summary["tuning_set"]) == 2
    assert set(summary["scales"]) == set(pt2.LABELS)
    for m, sc in summary["scales"].items():
        assert sc["value"] in pt2.SCALE_GRID and summary["summary"][m]["scale"] == sc["value"]
        assert sc["tuning_psnr_central"] >= sc["tuning_psnr_central_unscaled"]
    for r in rows:  # the per-image best scale can only help (1.0 is one of the scales it beats)
        assert float(r["psnr_central_oracle"]) >= float(r["psnr_central"]) - 1e-4
        assert 5 < float(r["psnr_central_scaled"]) < 60

    text = (docs / "benchmarks.md").read_text()
    assert text.startswith("# Benchmarks\n\nrest of the page\n")
    assert "## Reproducing the paper's Table 2" in text and "| NBD-GLRA (paper)\\* | 23.21 |" in text
    assert text.count(pt2.MARK_START) == 1


@pytest.mark.slow
def test_model_and_methods_score_a_candidate_alone(tmp_path):
    """``--model NAME=DIR`` adds a row for an exported model; ``--methods`` skips the rest (no tuning)."""
    pt2 = _script()
    names = _make_triples(tmp_path / "authors", pt2)
    train = tmp_path / "train"
    train.mkdir()
    Image.fromarray(np.round(_small_rgb(data.rocket()) * 255).astype(np.uint8)).save(train / "0.png")
    shipped = pt2.ROOT / "src" / "napari_glra" / "models" / "default"
    res = pt2.main(
        [
            "--data", str(tmp_path / "authors"), "--train", str(train), "--tune-images", "1",
            "--crop", "10", "--docs", str(tmp_path / "docs"),
            "--model", f"cand={shipped}", "--methods", "blurred", "glra_cand_est",
        ]
    )  # fmt: skip
    assert res["tuned"] == {} and set(res["summary"]) == {"blurred", "glra_cand_est"}
    assert str(shipped) in res["summary"]["glra_cand_est"]["label"]
    rows = list(csv.DictReader(open(tmp_path / "docs" / "data" / "paper_table2.csv")))
    assert len(rows) == 2 * len(names)
