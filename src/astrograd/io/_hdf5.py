from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from astrograd._errors import InputError
from astrograd.io._paths import atomic_replace, file_to_read, file_to_write


def _write_group(group: h5py.Group, content: Mapping[str, Any], attrs: Mapping[str, Any] | None) -> None:
    for name, value in content.items():
        if isinstance(value, Mapping):
            sub = group.require_group(name)
            # "attrs" holds the group's attributes when it is a mapping (None: none); any other
            # value is a dataset of that name (it was dropped without a word)
            sub_attrs = value.get("attrs")
            is_attrs = sub_attrs is None or isinstance(sub_attrs, Mapping)
            _write_group(sub, {k: v for k, v in value.items() if k != "attrs" or not is_attrs},
                         sub_attrs if is_attrs else None)
        else:
            group.create_dataset(name, data=_storable(group, name, value, "dataset"))
    for name, value in (attrs or {}).items():
        group.attrs[name] = value if isinstance(value, str) else _storable(group, name, value, "attribute")


def _storable(group: h5py.Group, name: str, value: Any, kind: str) -> np.ndarray:
    """``value`` as the array h5py writes, else a one-line InputError naming the dataset or
    attribute and what HDF5 can store: an object or unicode array (h5py's TypeError "Object dtype
    dtype('O') has no native HDF5 equivalent") or a ragged list (numpy's ValueError). Only the
    value is judged here; h5py's own errors (a name already taken, say) stay its own."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        array = None
    if array is None or array.dtype.kind in "OU":
        where = f"{group.name.rstrip('/')}/{name}"
        what = f"dtype {value.dtype}" if isinstance(value, np.ndarray) else f"type {type(value).__name__}"
        # (a dataset of text is not written: read_h5 would give it back as bytes, not str)
        allowed = "numbers, booleans or one string" if kind == "attribute" else "numbers or booleans"
        raise InputError(
            f"cannot write the HDF5 {kind} {where!r} ({what}): it must be {allowed}, in a rectangular array"
        )
    return array


def write_h5(path: str | Path, datasets: Mapping[str, Any], attrs: Mapping[str, Any] | None = None) -> Path:
    """Write arrays (and nested groups: a mapping value becomes a group, its ``"attrs"`` key
    that group's attributes) to ``path``, overwriting it. Returns the path.

    The file is written under a temporary name in the same folder and then renamed: an error
    or a kill while writing (a value HDF5 cannot store, a full disk, Ctrl-C) leaves the previous
    file as it was, not a half-written one."""
    path = file_to_write(path, "out.h5")
    with atomic_replace(path) as tmp, h5py.File(tmp, "w") as f:
        _write_group(f, datasets, attrs)
    return path


def read_h5(path: str | Path, required: tuple[str, ...] = ()) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read the top-level datasets and attributes of ``path``.

    Raises InputError if the file cannot be opened or a ``required`` dataset is missing.
    """
    path = file_to_read(path, "file", "an HDF5 file")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise InputError(f"cannot read {str(path)!r} as HDF5 ({err})") from None
    with f:
        data = {k: np.asarray(v) for k, v in f.items() if isinstance(v, h5py.Dataset)}
        attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}
    missing = [name for name in required if name not in data]
    if missing:
        raise InputError(f"{str(path)!r} lacks dataset(s) {', '.join(missing)}; required: {', '.join(required)}")
    return data, attrs
