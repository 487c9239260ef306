"""``glra-train``: basis, fit, evaluate and export subcommands.

Every subcommand reads its defaults, then an optional TOML config file
(``--config``; a table named after the subcommand, or top-level keys), then
``--set key=value`` overrides (values parsed as TOML literals, e.g.
``--set steps=100 --set network.width=16``).
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
    for k in keys[:-1]:
        d = d.setdefault(k, {})
    d[keys[-1]] = value


def build_config(command: str, defaults: dict, args: argparse.Namespace) -> dict[str, Any]:
    """Defaults < config file < --smoke < --set overrides."""
    cfg = copy.deepcopy(defaults)
    if args.config:
        data = tomllib.loads(Path(args.config).read_text())
        section = data.get(
            command, {k: v for k, v in data.items() if not isinstance(v, dict) or k == "network"}
        )
        for k, v in section.items():
            cfg[k] = v
    if args.smoke:
        for k, v in SMOKE[command].items():
            cfg[k] = copy.deepcopy(v)
        if command == "evaluate":  # Gaussian std or photon counts, as the protocol reads them
            cfg["noise_levels"] = list(cfg["noise_levels"])[:1]
    for item in args.set or []:
        if "=" not in item:
            raise SystemExit(f"--set expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        _set(cfg, key.strip(), _parse_value(value.strip()))
    if args.seed is not None:
        cfg["seed"] = args.seed
    if getattr(args, "device", None):
        cfg["device"] = args.device
    return cfg


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML config file")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value (repeatable)")
    p.add_argument("--seed", type=int, help="random seed")
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


def _defaults(command: str) -> dict[str, Any]:
    if command == "basis":
        from .basis import DEFAULTS
    elif command == "fit":
        from .fit import DEFAULTS
    elif command == "evaluate":
        from .evaluate import DEFAULTS
    else:
        from .export import DEFAULTS
    return DEFAULTS


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``glra-train``."""
    args = make_parser().parse_args(argv)
    cfg = build_config(args.command, _defaults(args.command), args)
    if args.print_config:
        print(json.dumps(cfg, indent=2))
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
