"""argparse types shared by the example scripts (imported before JAX, so --help answers at once)."""

import argparse
import math
import os
from pathlib import Path


def int_at_least(minimum: int):
    """An argparse type: an integer >= ``minimum`` (anything else is a usage error, not a traceback)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer >= {minimum}")
        return value

    return parse


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number > 0")
    return value


def add_nuts_arguments(parser: argparse.ArgumentParser, warmup: int) -> None:
    """The positional WARMUP, DRAWS and CHAINS of the NUTS examples (defaults ``warmup``, 300, 2)."""
    parser.add_argument("warmup", metavar="WARMUP", type=int_at_least(1), nargs="?", default=warmup,
                        help="NUTS warm-up steps per chain (default: %(default)s)")
    parser.add_argument("draws", metavar="DRAWS", type=int_at_least(2), nargs="?", default=300,
                        help="NUTS draws per chain (default: %(default)s)")
    parser.add_argument("chains", metavar="CHAINS", type=int_at_least(1), nargs="?", default=2,
                        help="NUTS chains (default: %(default)s)")


def out_folder(text: str) -> Path:
    """An argparse type: a folder to write into (made if missing). Empty text, an existing file,
    a path below a file or a folder that cannot be written is a usage error: the scripts found it
    only when writing their first figure, after the run, with a traceback."""
    if not text:
        raise argparse.ArgumentTypeError("'' is empty; give a folder")
    path = Path(text)
    try:
        for p in (path, *path.parents):  # the nearest existing one must be a writable folder
            if p.exists():
                where = "it" if p == path else repr(str(p))
                if not p.is_dir():
                    raise argparse.ArgumentTypeError(f"{text!r}: {where} is a file; give a folder")
                if not os.access(p, os.W_OK | os.X_OK):
                    raise argparse.ArgumentTypeError(f"{text!r}: {where} is not writable")
                break
    except OSError as err:  # a name too long for the file system
        raise argparse.ArgumentTypeError(f"{text!r}: {err.strerror or err}") from None
    return path
