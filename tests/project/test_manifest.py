"""The npe2 manifest: valid, importable, and declaring the widgets and sample data."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import pytest

npe2 = pytest.importorskip("npe2")


@pytest.fixture(scope="module")
def manifest():
    try:
        metadata.distribution("napari-glra")
    except metadata.PackageNotFoundError:  # pragma: no cover
        pytest.skip("napari-glra is not installed (pip install -e .)")
    return npe2.PluginManifest.from_distribution("napari-glra")


@pytest.mark.slow
def test_npe2_validate_with_imports():
    proc = subprocess.run(
        [sys.executable, "-m", "npe2", "validate", "napari-glra", "--imports"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "valid" in proc.stdout.lower()


def test_contributions(manifest):
    assert manifest.name == "napari-glra"
    widgets = {w.display_name: w.command for w in manifest.contributions.widgets}
    assert set(widgets) == {"Deconvolve (GLRA)", "Kernel / PSF generator"}
    samples = {s.key for s in manifest.contributions.sample_data}
    assert samples == {"blurred_camera", "blurred_fluorescence"}
    commands = {c.id: c.python_name for c in manifest.contributions.commands}
    assert commands[widgets["Deconvolve (GLRA)"]].endswith(":DeconvolveWidget")


def test_commands_resolve(manifest):
    for command in manifest.contributions.commands:
        module, _, attr = command.python_name.partition(":")
        mod = __import__(module, fromlist=[attr])
        assert callable(getattr(mod, attr)), command.python_name


@pytest.mark.slow
def test_qt_free_core_import():
    """The scripting API imports no Qt or napari (the plugin parts live in napari_glra._qt)."""
    code = (
        "import sys, napari_glra, napari_glra.api, napari_glra._sample_data; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('napari', 'qtpy', 'PyQt5', 'magicgui')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
