"""Shared helpers of the benchmark scripts: timing, strict JSON, usage errors (``from _timing import timed``)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


def int_at_least(minimum: int):
    """An argparse type: an integer >= ``minimum``; anything else is a usage error (exit status 2)
    rather than a traceback, a ZeroDivisionError or a timing of Infinity after the run."""
    import argparse

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer >= {minimum}")
        return value

    return parse


def int_list_at_least(minimum: int):
    """An argparse type: comma-separated integers, each >= ``minimum`` ("128,256")."""
    import argparse

    one = int_at_least(minimum)

    def parse(text: str) -> list[int]:
        try:
            return [one(part) for part in text.split(",")]
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a comma-separated list of integers >= {minimum}") from None

    return parse


def timed(fn, *args, repeats: int = 3) -> tuple[float, float]:
    """(first call incl. compilation, best of ``repeats`` later calls) in seconds: the minimum is
    the least disturbed by other processes on a shared machine."""
    import jax  # here, not at the top: scripts that import this module set XLA_FLAGS before JAX starts

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
    import jax

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


@contextmanager
def input_errors_as_usage_errors() -> Iterator[None]:
    """Around a script's ``__main__`` code: an astrograd InputError (a size too small for the
    scene, say) becomes ``error: <message>`` on stderr and exit status 2, as argparse reports a
    bad option, instead of a traceback."""
    # here, not at the top: the peer benchmarks import this module under an interpreter without astrograd
    from astrograd._errors import InputError

    try:
        yield
    except InputError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def exit_on_usage_error_of(proc: subprocess.CompletedProcess) -> None:
    """Exit with the usage error of a case run as ``python SCRIPT --case ...`` (status 2 and a last
    stderr line ``error: ...``, from :func:`input_errors_as_usage_errors`): the other cases would
    fail the same way."""
    lines = proc.stderr.strip().splitlines()
    if proc.returncode == 2 and lines and lines[-1].startswith("error: "):
        print(lines[-1], file=sys.stderr, flush=True)
        raise SystemExit(2)
