"""Device selection shared by the trainer's commands (cuda > mps > cpu)."""

from __future__ import annotations

import torch


def pick_device(name: str = "auto") -> torch.device:
    """Resolve ``"auto"`` to cuda, then mps, then cpu; validate explicit names."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"device {name!r} requested but CUDA is not available; use --device cpu")
    return dev
