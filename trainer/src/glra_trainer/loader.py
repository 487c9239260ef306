"""Training batches made by worker processes, each from a generator seeded by its step.

``fit`` with ``workers = 0`` draws every batch from one sequential generator in the
training process (the stream of the runs made before workers existed).  With
``workers >= 1`` batch ``s`` is drawn from ``numpy.random.default_rng([seed, s])``
in a pool of spawned processes: the batches depend only on the seed and the step,
not on the number of workers, and a resumed run continues the same stream.  This
keeps an accelerator fed (a sample of the default recipe takes ~10 ms of one CPU core).
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .data import Degrader, load_images

Batch = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

_STATE: dict[str, Any] = {}


def step_rng(seed: int, step: int) -> np.random.Generator:
    """The generator batch ``step`` is drawn from (``workers >= 1``)."""
    return np.random.default_rng([int(seed), int(step)])


def _init_worker(degrader: Degrader, folder: str | None, max_images: int | None) -> None:
    import torch

    torch.set_num_threads(1)
    _STATE["degrader"] = degrader
    _STATE["images"] = load_images(folder, max_images) if folder else None


def worker_state() -> dict[str, Any]:
    """The worker's ``{"degrader", "images"}`` (set once per worker process by the pool)."""
    return _STATE


def make_batch(step: int, size: int, seed: int) -> Batch:
    """Training batch ``step`` in a worker (the default ``make`` of :class:`BatchStream`)."""
    return _STATE["degrader"].batch_observed(_STATE["images"], size, step_rng(seed, step))


class BatchStream:
    """Ordered training batches ``(y, x, M, observed)`` from a pool of worker processes.

    Parameters
    ----------
    degrader : Degrader
        How sharp patches become training samples (sent to each worker once).
    folder : str or pathlib.Path, optional
        Image folder the workers load (as :func:`~glra_trainer.data.load_images`);
        ``None``: the degrader's procedural source.
    max_images : int, optional
        Use the first ``max_images`` images of ``folder``.
    batch : int
        Samples per batch.
    seed : int
        Run seed; batch ``s`` comes from :func:`step_rng` ``(seed, s)``.
    workers : int
        Worker processes (>= 1).
    start : int
        First step to deliver (a resumed run's step).
    prefetch : int, optional
        Batches in flight (default ``2 * workers``).
    make : callable, optional
        Module-level ``make(step, batch, seed)`` run in the workers (default
        :func:`make_batch`; the device path draws batch plans instead).
    """

    def __init__(
        self,
        degrader: Degrader,
        folder: str | Path | None,
        max_images: int | None,
        batch: int,
        seed: int,
        workers: int,
        start: int = 0,
        prefetch: int | None = None,
        make: Callable[[int, int, int], Any] = make_batch,
    ) -> None:
        if int(workers) < 1:
            raise ValueError(f"workers must be >= 1 for a BatchStream, got {workers!r}")
        self.batch, self.seed = int(batch), int(seed)
        self._make = make
        self.next_step = int(start)
        self.prefetch = int(prefetch or 2 * workers)
        # One BLAS/OpenMP thread per worker: the pool is the parallelism.
        keys = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
        saved = {k: os.environ.get(k) for k in keys}
        os.environ.update({k: "1" for k in keys})
        try:
            ctx = mp.get_context("spawn")  # no fork of a process that holds torch threads or CUDA
            self._pool = ctx.Pool(
                int(workers),
                initializer=_init_worker,
                initargs=(degrader, None if folder is None else str(folder), max_images),
            )
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        self._queue: deque = deque()
        self._fill()

    def _fill(self) -> None:
        while len(self._queue) < self.prefetch:
            step = self.next_step + len(self._queue)
            self._queue.append(self._pool.apply_async(self._make, (step, self.batch, self.seed)))

    def __next__(self) -> Batch:
        out = self._queue.popleft().get()
        self.next_step += 1
        self._fill()
        return out

    def __iter__(self) -> BatchStream:
        return self

    def close(self) -> None:
        """Stop the workers (batches in flight are dropped)."""
        self._pool.terminate()
        self._pool.join()

    def __enter__(self) -> BatchStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
