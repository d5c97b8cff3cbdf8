"""Paths given to the file helpers: one-line errors for a directory or a missing file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from astrograd._errors import InputError


def file_to_write(path: str | os.PathLike, example: str) -> Path:
    """``path`` as a Path, unless it is a directory (an InputError suggesting a file name
    ``example`` inside it) or lies below a file (an InputError naming that file: its folder could
    never be created). The caller creates the folder when it is about to write."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"cannot write {str(path)!r}: it is a directory; give a file name such as "
                         f"{str(path / example)!r}")
    for parent in path.parents:  # the nearest existing ancestor must be a folder
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"cannot write {str(path)!r}: {str(parent)!r} is a file, not a folder")
            break
    return path


def file_to_read(path: str | os.PathLike, what: str, kind: str, missing_hint: str = "") -> Path:
    """``path`` as a Path if it is an existing file, else an InputError naming ``what`` it was
    meant to be (e.g. "checkpoint") and the ``kind`` of file wanted (e.g. "an HDF5 file");
    ``missing_hint`` is added when it does not exist (e.g. how to make one)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{what} {str(path)!r} is a directory; give {kind}")
    if not path.is_file():
        raise InputError(f"{what} {str(path)!r} does not exist{'; ' + missing_hint if missing_hint else ''}")
    return path


@contextmanager
def atomic_replace(path: Path) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder (created) to write the file to; when the block
    ends without an error the temporary replaces ``path`` (``os.replace``), else it is removed:
    a failed or interrupted write (a full disk, Ctrl-C) leaves the previous file, and no
    temporary, behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
