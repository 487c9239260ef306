"""Device selection shared by the trainer's commands (cuda > mps > cpu)."""

from __future__ import annotations

import platform

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


def describe_hardware(device: torch.device, workers: int = 0) -> str:
    """What a run trains on, for the run record and the model card."""
    if device.type == "cuda":
        text = f"{torch.cuda.get_device_name(device)} GPU"
    elif device.type == "mps":
        text = "Apple GPU (mps)"
    else:
        text = f"{platform.machine()} CPU, {torch.get_num_threads()} threads"
    return text + (f", {workers} data worker processes" if workers else "")
