"""Shared timing helper of the benchmark scripts (run as scripts: ``from _timing import timed``)."""

from __future__ import annotations

import json
import math
import time

import jax


def timed(fn, *args, repeats: int = 3) -> tuple[float, float]:
    """(first call incl. compilation, best of ``repeats`` later calls) in seconds: the minimum is
    the least disturbed by other processes on a shared machine."""
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return first, best


def compile_and_time(fn, *args, repeats: int = 2) -> tuple[float, list[float]]:
    """Compile the jitted ``fn`` ahead of time, then run it ``repeats`` times: (compile seconds,
    run seconds of each repeat)."""
    t0 = time.perf_counter()
    compiled = fn.lower(*args).compile()
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        times.append(time.perf_counter() - t0)
    return compile_s, times


def strict_json(obj) -> str:
    """``obj`` as one line of strict JSON: NaN and infinities (an r_hat or ESS of a single chain,
    a Strouhal number with no period measured) become null, which every JSON parser reads;
    Python's default writes NaN, which is not JSON."""
    def clean(x):
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [clean(v) for v in x]
        if isinstance(x, float) and not math.isfinite(x):
            return None
        return x

    return json.dumps(clean(obj), allow_nan=False)
