"""The thread count every measuring process of ``stylefusion bench`` gets: fixed, or the fastest on a probe."""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch


def choose_threads(requested: int = 0, rounds: int = 5) -> dict[str, Any]:
    """The thread count every method gets: ``requested``, or (0) the fastest on a short conv probe.

    On a machine where another process keeps some cores busy (or at a higher priority), using all
    cores makes every parallel op wait for a starved thread — measured here up to 10x slower — so
    the probe compares 1, 2, 4 … up to torch's default, interleaved, and keeps the fastest.
    """
    default = torch.get_num_threads()
    if requested:
        return {"threads": requested, "mode": "fixed", "reason": "--threads", "probe_ms": {}}
    candidates = sorted({1, default} | {t for t in (2, 4, 8, 16) if t < default})
    if len(candidates) == 1:
        return {"threads": default, "mode": "auto", "reason": "one core", "probe_ms": {}}
    gen = torch.Generator().manual_seed(0)
    w = (torch.randn(32, 32, 3, 3, generator=gen) * 0.05).contiguous(memory_format=torch.channels_last)
    inputs = [torch.randn(1, 32, side, side, generator=gen).contiguous(memory_format=torch.channels_last)
              for side in (96, 48)]

    def probe():  # convs and element-wise ops of a small network: each one a parallel region
        with torch.no_grad():
            for x, count in zip(inputs, (6, 40)):
                for _ in range(count):
                    x = torch.nn.functional.conv2d(x, w, None, 1, 1).relu_().add_(1e-3)

    times: dict[int, list[float]] = {t: [] for t in candidates}
    try:
        for t in candidates:
            torch.set_num_threads(t)
            probe()
        for _ in range(rounds):
            for t in candidates:
                torch.set_num_threads(t)
                start = time.perf_counter()
                probe()
                times[t].append((time.perf_counter() - start) * 1e3)
    finally:
        torch.set_num_threads(default)
    medians = {t: statistics.median(v) for t, v in times.items()}
    best = min(candidates, key=lambda t: medians[t])
    if best == default:
        reason = f"all {default} threads are fastest on the probe"
    else:
        reason = (f"{best} thread(s) ran the probe {medians[default] / medians[best]:.1f}x faster than "
                  f"{default}: other work is using the CPUs")
    return {"threads": best, "mode": "auto", "reason": reason, "probe_ms": {str(t): round(m, 3) for t, m in medians.items()}}
