"""The trainer's typed config: unknown keys, wrong types and out-of-range values are refused by name."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

pytest.importorskip("glra_trainer")

from glra_trainer.cli import main  # noqa: E402
from glra_trainer.config import (  # noqa: E402
    SECTIONS,
    ConfigError,
    EvaluateConfig,
    ExportConfig,
    FitConfig,
    file_section,
    read_config_file,
)

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "trainer" / "configs").glob("*.toml"))


def _printed(capsys, argv: list[str]) -> dict:
    assert main([*argv, "--print-config"]) == 0
    return json.loads(capsys.readouterr().out)


def _refused(argv: list[str]) -> str:
    with pytest.raises(SystemExit) as err:
        main([*argv, "--print-config"])
    return str(err.value)


def test_unknown_key_is_refused_with_its_name():
    msg = _refused(["fit", "--set", "stpes=5"])
    assert "unknown key 'fit.stpes'" in msg and "did you mean 'steps'" in msg
    assert "unknown key 'evaluate.imagse'" in _refused(["evaluate", "--set", "imagse=3"])


def test_unknown_nested_key_is_refused_with_its_name(tmp_path):
    assert "unknown key 'fit.network.widht'" in _refused(["fit", "--set", "network.widht=8"])
    cfg = tmp_path / "c.toml"
    cfg.write_text("[fit]\nsteps = 5\n[fit.network]\nwidht = 8\n")
    msg = _refused(["fit", "--config", str(cfg)])
    assert "unknown key 'fit.network.widht' (did you mean 'width'?)" in msg
    # d and m are the basis file's: say so rather than just "unknown"
    assert "basis file" in _refused(["fit", "--set", "network.d=91"])


def test_unknown_key_in_a_config_file_is_refused(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[basis]\nd = 91\nitres = 3\n")
    assert "unknown key 'basis.itres'" in _refused(["basis", "--config", str(cfg)])
    cfg.write_text("[fit]\nsteps = 5\n[fti]\nsteps = 6\n")  # a table no subcommand reads
    assert "'fti'" in _refused(["fit", "--config", str(cfg)])


def test_wrong_type_is_refused_with_its_name():
    assert "fit.steps" in _refused(["fit", "--set", "steps=abc"])
    assert "fit.steps" in _refused(["fit", "--set", "steps=5.5"])
    assert "fit.network.width" in _refused(["fit", "--set", 'network.width="8"'])
    assert "fit.random_init" in _refused(["fit", "--set", "random_init=1"])
    assert "evaluate.noise_levels[1]" in _refused(["evaluate", "--set", 'noise_levels=[0.01, "x"]'])
    assert "fit.source" in _refused(["fit", "--set", 'source="folders"'])


def test_values_out_of_range_are_refused_with_their_name():
    assert "fit.steps" in _refused(["fit", "--set", "steps=0"])
    assert "fit.lr" in _refused(["fit", "--set", "lr=-1e-3"])
    assert "fit.p_border" in _refused(["fit", "--set", "p_border=1.5"])
    assert "fit.kmax: must be odd" in _refused(["fit", "--set", "kmax=44"])
    assert "fit.families" in _refused(["fit", "--set", 'families=["gauss"]'])
    assert "fit.network.balances" in _refused(["fit", "--set", "network.balances=[0.5, 2.0]"])
    assert "noise_min" in _refused(["fit", "--set", "noise_min=0.5"])
    assert "evaluate.methods" in _refused(["evaluate", "--set", 'methods=["model", "wienr"]'])
    assert "basis.d: must be odd" in _refused(["basis", "--set", "d=90"])


def test_the_command_line_exits_with_the_message_not_a_traceback():
    run = subprocess.run(
        [sys.executable, "-m", "glra_trainer.cli", "fit", "--set", "stpes=5", "--print-config"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1
    assert "unknown key 'fit.stpes'" in run.stderr and "Traceback" not in run.stderr


def test_python_callers_get_a_value_error_naming_the_key(tmp_path):
    from glra_trainer.fit import run_fit

    with pytest.raises(ConfigError, match="fit.stpes") as err:
        run_fit({"stpes": 5, "out": str(tmp_path / "run")})
    assert isinstance(err.value, ValueError)
    assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match="evaluate.crop"):
        EvaluateConfig.load({"crop": "192"})


def test_kernel_ranges_are_checked_against_the_families():
    ok = FitConfig.load(
        {"families": ["gaussian", "defocus"], "kernel_ranges": {"gaussian": {"sigma": [1.2, 9.0]}}}
    )
    assert ok.kernel_ranges == {"gaussian": {"sigma": [1.2, 9.0]}}
    bad = {
        "family 'disk' is not trained": {
            "families": ["gaussian"],
            "kernel_ranges": {"disk": {"radius": [4, 5]}},
        },
        r"kernel_ranges.gaussian: give \['sigma'\]": {"kernel_ranges": {"gaussian": {"s": [1, 2]}}},
        "low <= high": {"kernel_ranges": {"gaussian": {"sigma": [3, 2]}}},
    }
    for message, data in bad.items():
        with pytest.raises(ConfigError, match=message):
            FitConfig.load(data)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_shipped_config_loads(path, capsys):
    data = read_config_file(path)
    tables = [s for s in SECTIONS if s in data]
    assert tables, f"{path.name} has no subcommand table"
    for command, model in SECTIONS.items():
        cfg = model.load(file_section(data, command))
        for key, value in data.get(command, {}).items():  # every value as the file sets it
            got = getattr(cfg, key)
            assert (got.model_dump() if key == "network" else got) == value, (path.name, command, key)
        assert _printed(capsys, [command, "--config", str(path)]) == cfg.model_dump()
        assert main([command, "--config", str(path), "--smoke", "--print-config"]) == 0
        capsys.readouterr()


def test_shipped_network_tables_build_the_network():
    from napari_glra.glra.network import NetConfig

    for path in CONFIGS:
        fit = read_config_file(path).get("fit")
        if fit:
            net = NetConfig.from_dict({**FitConfig.load(fit).network.model_dump(), "d": 151, "m": 50})
            assert net.width == fit["network"]["width"]


def test_set_overrides_the_file_and_the_defaults(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[fit]\nbatch = 3\nsteps = 100\n[fit.network]\nwidth = 8\n[export]\nversion = 2\n")
    printed = _printed(capsys, ["fit", "--config", str(cfg), "--set", "steps=7", "--set", "network.depth=2"])
    assert printed["batch"] == 3 and printed["steps"] == 7 and printed["lr"] == FitConfig().lr
    assert printed["network"] == {"width": 8, "depth": 2}  # the keys set (NetConfig's defaults for the rest)
    printed = _printed(capsys, ["fit", "--smoke", "--set", "steps=2", "--seed", "4", "--device", "cpu"])
    assert printed["steps"] == 2 and printed["crop"] == 32
    assert printed["seed"] == 4 and printed["device"] == "cpu"
    assert printed["network"]["width"] == 4
    # an integer version is taken as its text; export has no seed and ignores --seed
    printed = _printed(capsys, ["export", "--config", str(cfg), "--seed", "1", "--set", "version=3"])
    assert printed["version"] == "3" and "seed" not in printed


def test_config_round_trips_through_its_record():
    network = {"width": 8, "border_channel": True}
    cfg = FitConfig.load({"steps": 5, "network": network, "family_weights": [1, 2, 2]})
    record = json.loads(json.dumps(cfg.model_dump()))
    assert FitConfig.load(record) == cfg
    assert cfg.network.model_dump() == network
    assert FitConfig.load(cfg) is cfg
    with pytest.raises(ValidationError, match="frozen"):  # a subcommand never changes its config
        cfg.steps = 6
    assert ExportConfig.load({"version": 4}).version == "4"


def test_module_defaults_are_the_models():
    from glra_trainer import basis, evaluate, export, fit

    for module, command in ((basis, "basis"), (fit, "fit"), (evaluate, "evaluate"), (export, "export")):
        assert module.DEFAULTS == SECTIONS[command]().model_dump()


def test_smoke_runs_never_write_over_real_outputs(capsys, tmp_path):
    """``--smoke`` sends every output to a ``smoke`` folder: a real checkpoint, basis, evaluation or
    shipped model (``export``'s default ``out`` is the package's model folder) is never overwritten."""
    assert _printed(capsys, ["basis", "--smoke"])["out"] == "trainer/runs/default/smoke/basis.safetensors"
    assert _printed(capsys, ["fit", "--smoke"])["out"] == "trainer/runs/default/smoke"
    assert _printed(capsys, ["evaluate", "--smoke"])["out"] == "trainer/runs/default/eval/smoke"
    export = _printed(capsys, ["export", "--smoke"])
    assert export["run"] == "trainer/runs/default/smoke"
    assert export["out"] == "trainer/runs/default/smoke/export"
    assert _printed(capsys, ["export"])["out"] is None  # without --smoke: the package's model folder
    # an explicit --set still wins
    assert _printed(capsys, ["fit", "--smoke", "--set", f'out="{tmp_path}"'])["out"] == str(tmp_path)
