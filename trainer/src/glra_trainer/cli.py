"""``glra-train``: basis, fit, evaluate and export subcommands.

Every subcommand reads its defaults, then an optional TOML config file
(``--config``; a table named after the subcommand, or top-level keys), then
``--set key=value`` overrides (values parsed as TOML literals, e.g.
``--set steps=100 --set network.width=16``).  The result is checked before
anything runs: an unknown key, a wrong type or a value out of range stops the
command with a message naming the key (glra_trainer.config).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path
from typing import Any

import tomllib

from .config import SECTIONS, ConfigError, Section, file_section, read_config_file

#: ``--smoke`` settings of each subcommand: tiny sizes for a quick end-to-end check.
SMOKE: dict[str, dict[str, Any]] = {
    "basis": {
        "d": 91,
        "m": 8,
        "kernels_per_family": 12,
        "heldout_per_family": 4,
        "iters": 3,
        "noise_levels": [0.01, 0.03],
    },
    "fit": {
        "crop": 32,
        "context": 8,
        "batch": 2,
        "steps": 6,
        "val_every": 3,
        "checkpoint_every": 3,
        "val_images": 2,
        "val_per_family": 1,
        "max_train_images": 4,
        "network": {"width": 4, "first_kernel": 3, "depth": 1, "last_kernel": 3},
        "init_from": None,  # a config's trained model does not fit the smoke network
    },
    # and only the first of the config's noise levels (see build_config)
    "evaluate": {"images": 1, "crop": 112, "tune_images": 1, "smoke": True},
    "export": {},
}


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _set(cfg: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    d = cfg
    for i, k in enumerate(keys[:-1]):
        d = d.setdefault(k, {})
        if not isinstance(d, dict):
            raise ConfigError(f"--set {dotted}: {'.'.join(keys[: i + 1])} is not a table")
    d[keys[-1]] = value


def build_config(command: str, args: argparse.Namespace) -> Section:
    """The validated config of a subcommand: defaults < config file < --smoke < --set overrides.

    Parameters
    ----------
    command : str
        ``"basis"``, ``"fit"``, ``"evaluate"`` or ``"export"``.
    args : argparse.Namespace
        The parsed command line (``config``, ``smoke``, ``set``, ``seed`` and, for fit and
        evaluate, ``device``).

    Returns
    -------
    Section
        The subcommand's config model (:mod:`glra_trainer.config`).

    Raises
    ------
    ConfigError
        On an unknown key, a wrong type or a value out of range, naming the key.
    """
    model = SECTIONS[command]
    raw = model().model_dump()
    if args.config:
        for k, v in file_section(read_config_file(args.config), command).items():
            raw[k] = v
    if args.smoke:
        for k, v in SMOKE[command].items():
            raw[k] = copy.deepcopy(v)
        if command == "evaluate":  # Gaussian std or photon counts, as the protocol reads them
            raw["noise_levels"] = list(raw["noise_levels"])[:1]
        _smoke_outputs(command, raw)
    for item in args.set or []:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        _set(raw, key.strip(), _parse_value(value.strip()))
    if args.seed is not None and "seed" in model.model_fields:  # export draws nothing at random
        raw["seed"] = args.seed
    if getattr(args, "device", None):
        raw["device"] = args.device
    return model.load(raw)


def smoke_path(path: str) -> str:
    """Where ``--smoke`` writes instead of ``path``: a ``smoke`` folder inside (folder) or beside (file) it.

    A smoke run must never overwrite a real run's checkpoint, a fitted basis, an
    evaluation or a shipped model (``export``'s default ``out`` is the package's model folder).
    """
    p = Path(path)
    return str(p.parent / "smoke" / p.name) if p.suffix else str(p / "smoke")


def _smoke_outputs(command: str, raw: dict[str, Any]) -> None:
    """Send a smoke run's outputs to :func:`smoke_path` (``--set out=...`` still wins, it comes later)."""
    if command == "export":  # reads the smoke fit's run, writes beside it
        raw["run"] = smoke_path(raw["run"])
        raw["out"] = str(Path(raw["run"]) / "export")
    else:
        raw["out"] = smoke_path(raw["out"])


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML config file")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value (repeatable)")
    p.add_argument("--seed", type=int, help="random seed (sets `seed`; export has none and ignores it)")
    p.add_argument("--smoke", action="store_true", help="tiny settings for a quick end-to-end check")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")


def make_parser() -> argparse.ArgumentParser:
    """Argument parser of ``glra-train``."""
    ap = argparse.ArgumentParser(
        prog="glra-train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("basis", help="fit the GLRA basis (L, R) on pseudo-inverse kernels")
    _common(p)
    p = sub.add_parser("fit", help="train the network")
    _common(p)
    p.add_argument("--resume", action="store_true", help="continue from the run's checkpoint")
    p.add_argument("--device", help="auto (cuda > mps > cpu), cpu, cuda, cuda:N, mps")
    p = sub.add_parser("evaluate", help="PSNR/SSIM of a model and tuned Wiener/RL/TV baselines")
    _common(p)
    p.add_argument("--device", help="auto (cuda > mps > cpu), cpu, cuda, cuda:N, mps")
    p = sub.add_parser("export", help="write a model directory into src/napari_glra/models/<name>/")
    _common(p)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``glra-train``."""
    args = make_parser().parse_args(argv)
    try:
        cfg = build_config(args.command, args)
    except ConfigError as err:  # a message naming the key, not a traceback
        raise SystemExit(f"glra-train {args.command}: {err}") from None
    if args.print_config:
        print(json.dumps(cfg.model_dump(), indent=2))
        return 0
    t0 = time.time()
    if args.command == "basis":
        from .basis import run_basis

        run_basis(cfg)
    elif args.command == "fit":
        from .fit import run_fit

        run_fit(cfg, resume=args.resume)
    elif args.command == "evaluate":
        from .evaluate import run_evaluate

        run_evaluate(cfg)
    else:
        from .export import run_export

        run_export(cfg)
    print(f"glra-train {args.command}: done in {time.time() - t0:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
