"""Atomic ``.npz`` files with a JSON header: training and fitting checkpoints, model files."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile

import numpy as np

from astrograd._errors import InputError
from astrograd.io._paths import atomic_replace, file_to_read, file_to_write


def sha256_of(*arrays) -> str:
    """Hex SHA-256 of the bytes of ``arrays`` (C order): a short record, for a checkpoint's
    fingerprint, of data or starting values too large to store in its JSON header."""
    digest = hashlib.sha256()
    for a in arrays:
        digest.update(np.ascontiguousarray(np.asarray(a)).tobytes())
    return digest.hexdigest()


def args_record(args) -> dict:
    """What a checkpoint records of the data a loss or density reads (``args`` of
    :func:`astrograd.inverse.fit` and :func:`astrograd.inverse.sample`): each leaf's shape and
    dtype, and a SHA-256 of the values (None without args). A typed PRNG key is recorded by its
    key data (numpy cannot hold it)."""
    import jax
    import jax.numpy as jnp

    def as_numpy(x):
        is_key = isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)
        return np.asarray(jax.random.key_data(x) if is_key else x)

    leaves = [as_numpy(x) for x in jax.tree.leaves(args)]
    return {"args": [[list(x.shape), str(x.dtype)] for x in leaves],
            "args_sha256": sha256_of(*leaves) if leaves else None}


def as_stored(obj):
    """``obj`` as a checkpoint's JSON header gives it back (tuples as lists, numpy as Python):
    the form to compare a run's settings with a stored header in."""
    from astrograd._cli_util import map_non_finite, to_jsonable

    try:
        # NaN and infinities as the text "nan", "inf", "-inf": stored as numbers, a NaN never
        # compared equal to itself, so a checkpoint whose fingerprint held one was always refused
        return json.loads(json.dumps(map_non_finite(to_jsonable(obj), repr)))
    except (TypeError, ValueError) as err:  # e.g. an object in a user's fingerprint
        raise InputError(f"a checkpoint's settings and fingerprint must be JSON-able (numbers, strings, lists, "
                         f"dicts): {err}") from None


def key_list(key) -> list:
    """A PRNG key's bits as a list, for a JSON header (a typed ``jax.random.key`` or a legacy
    uint32 ``PRNGKey``)."""
    import jax

    if jax.numpy.issubdtype(jax.numpy.asarray(key).dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return np.asarray(key).tolist()


def differing_keys(stored: dict, given: dict, *, only_given: bool = False) -> list[str]:
    """Keys whose values differ between a stored fingerprint and ``given`` (both as
    :func:`as_stored` gives them), in ``given``'s order, then keys only ``stored`` has (unless
    ``only_given``: a partial fingerprint checked early)."""
    keys = [k for k in given if k not in stored or stored[k] != given[k]]
    return keys if only_given else keys + sorted(k for k in stored if k not in given)


def atomic_savez(path: str | os.PathLike, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` and a JSON ``meta`` to ``path`` (npz) via a temporary file in the same
    folder, flushed to disk, then ``os.replace``: a kill at any moment leaves either the old or
    the new file."""
    path = file_to_write(path, "checkpoint.npz")
    try:
        text = json.dumps(meta)
    except (TypeError, ValueError) as err:  # before any file is touched
        raise InputError(f"cannot write {str(path)!r}: its metadata is not JSON ({err})") from None
    arrays = {name: _storable(path, name, value) for name, value in arrays.items()}
    with atomic_replace(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, __meta__=np.array(text), **arrays)  # object arrays were refused above
        f.flush()
        os.fsync(f.fileno())


# names that np.savez takes as its own arguments (an array "allow_pickle" was read as the flag
# and silently not written, one named "file" was a TypeError) or that hold the header
_RESERVED_NAMES = ("__meta__", "file", "allow_pickle")


def _storable(path, name, value) -> np.ndarray:
    """``value`` as an array that :func:`load_npz` reads back, else a one-line InputError
    before any file is touched."""
    if not isinstance(name, str) or name in _RESERVED_NAMES:
        raise InputError(f"cannot write {str(path)!r}: the array name {name!r} is not allowed; use a text name "
                         f"other than {', '.join(_RESERVED_NAMES)}")
    a = np.asarray(value)
    if a.dtype.hasobject:  # pickled by np.savez, then refused by load_npz (allow_pickle=False)
        raise InputError(f"cannot write {str(path)!r}: array {name!r} holds Python objects; it must be numbers, "
                         "booleans or text")
    return a


def _open_npz(path) -> np.lib.npyio.NpzFile:
    """``np.load`` of an npz archive; a ValueError for a ``.npy`` file, which np.load reads as one
    array (it was a TypeError from ``with`` on that array), and for any other file, which np.load
    takes for a pickle (its message advised ``allow_pickle=``, no option of a command)."""
    with open(path, "rb") as f:
        magic = f.read(6)
    if not magic.startswith(b"PK") and magic != b"\x93NUMPY":
        raise ValueError("it is not an .npz archive")
    z = np.load(path, allow_pickle=False)
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise ValueError("it holds a single .npy array, not an .npz archive")
    return z


def load_npz(path: str | os.PathLike, what: str) -> tuple[dict, dict[str, np.ndarray]]:
    """``(meta, arrays)`` of a file written by :func:`atomic_savez`; a one-line InputError naming
    ``what`` (e.g. "checkpoint") if it is missing or not such a file."""
    path = file_to_read(path, what, "a .npz file")
    try:
        with _open_npz(path) as z:
            meta = json.loads(str(z["__meta__"]))
            arrays = {k: z[k] for k in z.files if k != "__meta__"}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:  # a truncated file: BadZipFile
        raise InputError(f"{what} {str(path)!r} cannot be read ({err})") from None
    if not isinstance(meta, dict):
        raise InputError(f"{what} {str(path)!r} cannot be read (its header is not a JSON object)")
    return meta, arrays
