"""Atomic ``.npz`` files with a JSON header: training and fitting checkpoints, model files."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from astrograd._errors import InputError


def sha256_of(*arrays) -> str:
    """Hex SHA-256 of the bytes of ``arrays`` (C order): a short record, for a checkpoint's
    fingerprint, of data or starting values too large to store in its JSON header."""
    digest = hashlib.sha256()
    for a in arrays:
        digest.update(np.ascontiguousarray(np.asarray(a)).tobytes())
    return digest.hexdigest()


def atomic_savez(path: str | os.PathLike, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` and a JSON ``meta`` to ``path`` (npz) via a temporary file in the same
    folder, flushed to disk, then ``os.replace``: a kill at any moment leaves either the old or
    the new file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        np.savez(f, __meta__=np.array(json.dumps(meta)), **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_npz(path: str | os.PathLike, what: str) -> tuple[dict, dict[str, np.ndarray]]:
    """``(meta, arrays)`` of a file written by :func:`atomic_savez`; a one-line InputError naming
    ``what`` (e.g. "checkpoint") if it is missing or not such a file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["__meta__"]))
            arrays = {k: z[k] for k in z.files if k != "__meta__"}
    except (OSError, ValueError, KeyError) as err:
        raise InputError(f"{what} {str(path)!r} cannot be read ({err})") from None
    return meta, arrays
