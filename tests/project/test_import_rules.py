"""The package's import rules (CONTRIBUTING.md): layers, no cycles, no private names across packages."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold():
    """``lint-imports`` (contracts in pyproject.toml): layers, the widgets through the API only, no cycles."""
    exe = Path(sys.executable).with_name("lint-imports")
    if not exe.exists():
        pytest.skip("import-linter is not installed (pip install -e '.[testing]')")
    run = subprocess.run([str(exe), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout


def _private_imports(path: Path) -> list[str]:
    """``from X import _name`` and imports of ``_module``s of napari_glra / glra_trainer in one file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] not in ("napari_glra", "glra_trainer"):
                continue
            parts = node.module.split(".")[1:]
            names = [a.name for a in node.names]
            bad = [p for p in parts if p.startswith("_")]
            bad += [n for n in names if n.startswith("_") and not n.endswith("__")]  # dunders are public
            found += [f"{path.relative_to(ROOT)}:{node.lineno} from {node.module} import {n}" for n in bad]
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in ("napari_glra", "glra_trainer") and any(
                    p.startswith("_") for p in a.name.split(".")[1:]
                ):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} import {a.name}")
    return found


@pytest.mark.parametrize("folder", ["trainer/src", "benchmarks", "docs"])
def test_trainer_benchmarks_and_docs_use_no_private_names(folder):
    bad = [hit for p in sorted((ROOT / folder).rglob("*.py")) for hit in _private_imports(p)]
    assert not bad, "private names used outside their package:\n" + "\n".join(bad)


def test_the_private_import_check_can_fail(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from napari_glra.engine.inputs import _x\nimport napari_glra._fft\nfrom napari_glra._fft import a\n"
    )
    assert len(_private_imports(bad)) == 3


def test_package_imports_are_at_module_level():
    """Imports of napari_glra inside functions hide the dependency graph; the layers make them unneeded."""
    bad = []
    for path in sorted((ROOT / "src" / "napari_glra").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                mod = node.module if isinstance(node, ast.ImportFrom) else None
                relative = isinstance(node, ast.ImportFrom) and node.level > 0
                if relative or (mod or "").startswith("napari_glra"):
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not bad, "napari_glra imported inside a function:\n" + "\n".join(bad)


def test_helpers_take_at_most_five_positional_arguments():
    """Private helpers and the engine's functions: more than five positional arguments become keywords."""
    bad = []
    for path in sorted((ROOT / "src" / "napari_glra").rglob("*.py")):
        in_engine = "engine" in path.relative_to(ROOT / "src" / "napari_glra").parts
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            args = node.args.posonlyargs + node.args.args
            positional = [a.arg for a in args if a.arg not in ("self", "cls")]
            if (node.name.startswith("_") or in_engine) and len(positional) > 5:
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}({', '.join(positional)})")
    assert not bad, "\n".join(bad)
