"""Packaging: the built wheel carries the napari manifest and the shipped model files."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "src" / "napari_glra"

pytestmark = pytest.mark.skipif(
    not (ROOT / "pyproject.toml").is_file(), reason="needs the source tree (pyproject.toml)"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    wheels = list(out.glob("napari_glra-*.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as zf:
        yield zf


@pytest.mark.slow
def test_wheel_contains_manifest(wheel):
    names = wheel.namelist()
    assert names.count("napari_glra/napari.yaml") == 1
    assert wheel.read("napari_glra/napari.yaml") == (ROOT / "napari.yaml").read_bytes()
    ep = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = wheel.read(ep).decode()
    assert "[napari.manifest]" in text and "napari-glra = napari_glra:napari.yaml" in text


@pytest.mark.slow
def test_wheel_contains_code_but_not_tests_or_trainer(wheel):
    names = set(wheel.namelist())
    sources = sorted((ROOT / "src").rglob("*.py"))
    assert len(sources) > 30
    for path in sources:  # every module of every subpackage
        assert path.relative_to(ROOT / "src").as_posix() in names
    assert not any(n.startswith(("tests/", "trainer/", "glra_trainer/", "benchmarks/")) for n in names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


@pytest.mark.slow
def test_wheel_contains_shipped_models(wheel):
    names = set(wheel.namelist())
    models = PKG / "models"
    shipped = [
        p
        for p in (models.rglob("*") if models.is_dir() else [])
        if p.is_file() and p.suffix in (".safetensors", ".json", ".md") and "__pycache__" not in p.parts
    ]
    for p in shipped:
        arc = "napari_glra/" + p.relative_to(PKG).as_posix()
        assert arc in names, f"{arc} missing from the wheel"
        assert wheel.read(arc) == p.read_bytes()
    for d in models.iterdir() if models.is_dir() else []:
        if d.is_dir() and any(d.glob("*.safetensors")):
            assert f"napari_glra/models/{d.name}/MODEL.md" in names or not (d / "MODEL.md").exists()


@pytest.mark.slow
def test_npe2_parses_wheel_manifest(wheel, tmp_path):
    npe2 = pytest.importorskip("npe2")
    path = tmp_path / "napari.yaml"
    path.write_bytes(wheel.read("napari_glra/napari.yaml"))
    manifest = npe2.PluginManifest.from_file(path)
    assert manifest.name == "napari-glra"
    metadata = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    assert "Name: napari-glra" in wheel.read(metadata).decode()


def test_source_manifest_link_resolves():
    link = PKG / "napari.yaml"
    assert link.is_file()
    assert link.read_bytes() == (ROOT / "napari.yaml").read_bytes()


def test_installed_plugin_is_discovered():
    npe2 = pytest.importorskip("npe2")
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        distribution("napari-glra")
    except PackageNotFoundError:
        pytest.skip("napari-glra is not installed (pip install -e .)")
    pm = npe2.PluginManager()
    pm.discover(include_npe1=False)
    assert pm.get_manifest("napari-glra").display_name
