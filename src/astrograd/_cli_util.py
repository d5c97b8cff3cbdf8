"""Helpers shared by the ``astrograd`` sub-commands: JSON output, error handling, progress bars."""

from __future__ import annotations

import errno
import functools
import json
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np

from astrograd._errors import InputError, SimulationError, runtime_checks_as_simulation_errors

F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def advice_as_options(*rewrites: tuple[str, str]) -> Iterator[None]:
    """An InputError or SimulationError of the library whose message matches a pattern of
    ``rewrites`` ((regular expression, replacement), ...) is raised again, as a plain InputError
    or SimulationError (a subclass may take more than a message), with the replacement: the
    library's advice names its parameters ("lower dt"), the command's user has options."""
    try:
        yield
    except (InputError, SimulationError) as err:
        message = str(err)
        for pattern, replacement in rewrites:
            message = re.sub(pattern, replacement, message)
        if message == str(err):
            raise
        raise (InputError if isinstance(err, InputError) else SimulationError)(message) from None


def physical_memory_bytes() -> int | None:
    """This machine's physical memory (bytes), or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def refuse_beyond_memory(what: str, needed_bytes: float, detail: str) -> None:
    """Raise MemoryError (the CLI's "out of memory", exit status 1: a larger machine may run it)
    when ``needed_bytes`` (a lower bound of what ``what`` needs, e.g. "--pairs = 100000") exceeds
    the physical memory; ``detail`` says what was counted."""
    memory = physical_memory_bytes()
    if memory is None or needed_bytes <= memory:
        return
    raise MemoryError(f"{what} needs at least {needed_bytes / 1e9:.3g} GB ({detail}), more than the "
                      f"{memory / 1e9:.3g} GB of this machine")


def check_output(path, option: str, suffix: str | None, example: str) -> None:
    """Before a command's work: an output ``path`` (of the CLI ``option``) that is a directory or
    lies below a file, or (``suffix``, e.g. ".png") names a file of another type, is an InputError
    (found after the run otherwise, as a traceback, or written elsewhere: --plot DIR as DIR.png).
    ``example``: the file name suggested inside a directory. None: nothing to check."""
    from pathlib import Path

    from astrograd.io._paths import file_to_write

    if path is None:
        return
    path = Path(path)
    try:
        if path.is_dir():
            raise InputError(f"{option} {str(path)!r} is a directory; give a file name such as "
                             f"{str(path / example)!r}")
        file_to_write(path, example)  # below an existing file
        _check_writable(path, option)
    except OSError as err:  # a name too long for the file system: a traceback from os.stat
        raise InputError(f"cannot use {option} {str(path)!r}: {err.strerror or err}") from None
    if suffix is not None and path.suffix.lower() != suffix:
        raise InputError(f"{option} {str(path)!r} must be a file name ending in {suffix}")


def _check_writable(path, option: str) -> None:
    """An InputError unless ``path`` (an output file or folder) can be written: an existing one
    itself, else the nearest existing folder above it, where it would be created (found after
    the run otherwise, when the first file is written)."""
    import os

    for p in (path, *path.parents):
        if p.exists():
            if not os.access(p, os.W_OK | (os.X_OK if p.is_dir() else 0)):
                where = "it is" if p == path else f"{str(p)!r} is"
                raise InputError(f"cannot use {option} {str(path)!r}: {where} not writable")
            return


def check_out_folder(path, option: str = "--out", contents: str = "") -> None:
    """Before a command's work, creating nothing: an output folder ``path`` (of the CLI
    ``option``) that is an existing file or lies below one is an InputError (``contents``, e.g.
    "eval.h5 and the figures", says what the folder is for). The folder itself is made by the
    first file written into it (every writer creates its parent folders), so that an option
    that the library refuses leaves no empty folder behind."""
    from pathlib import Path

    path = Path(path)
    try:
        for p in (path, *path.parents):  # the nearest existing one must be a folder
            if p.exists():
                if not p.is_dir():
                    where = "it is a file" if p == path else f"{str(p)!r} is a file"
                    raise InputError(f"cannot use {option} {str(path)!r}: {where}; give a folder"
                                     + (f" for {contents}" if contents else ""))
                break
        _check_writable(path, option)
    except OSError as err:  # a name too long for the file system: a traceback from os.stat
        raise InputError(f"cannot use {option} {str(path)!r}: {err.strerror or err}") from None


def to_jsonable(obj: Any) -> Any:
    """Convert numpy/JAX scalars and arrays (recursively) into plain JSON types."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "shape") and hasattr(obj, "dtype"):
        a = np.asarray(obj)
        return a.item() if a.ndim == 0 else a.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def map_non_finite(obj: Any, fn: Callable[[float], Any]) -> Any:
    """``obj`` (JSON types: dicts, lists, numbers) with each NaN or infinite float replaced by
    ``fn(value)``."""
    if isinstance(obj, float) and not np.isfinite(obj):
        return fn(obj)
    if isinstance(obj, dict):
        return {k: map_non_finite(v, fn) for k, v in obj.items()}
    if isinstance(obj, list):
        return [map_non_finite(v, fn) for v in obj]
    return obj


def print_json(obj: Any) -> None:
    """Print one JSON object on one line (the last line of stdout for ``--json``). NaN and
    infinities (e.g. r_hat of a single chain) become null: Python writes them as NaN and
    Infinity, which is not JSON (jq, JavaScript and strict parsers refuse the whole line)."""
    print(json.dumps(map_non_finite(to_jsonable(obj), lambda _: None), allow_nan=False), flush=True)


def fail(message: str, status: int = 2) -> None:
    """Print ``error: message`` to stderr and exit with ``status`` (default 2; no traceback)."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(status)


def _out_of_memory(err: BaseException) -> str | None:
    """The one-line message for a run that ran out of memory (a MemoryError from numpy or
    Python, or XLA's RESOURCE_EXHAUSTED allocating a buffer), or None for another error."""
    if isinstance(err, MemoryError):
        detail = str(err).splitlines()[0] if str(err) else ""
    elif isinstance(err, RuntimeError) and "RESOURCE_EXHAUSTED" in str(err):
        detail = str(err).split("RESOURCE_EXHAUSTED:", 1)[-1].strip().splitlines()[0]
    else:
        return None
    return "out of memory" + (f" ({detail})" if detail else "") + "; try smaller sizes (grid, particles, steps, batch)"


class _QuietCallbackFailure(logging.Filter):
    """Drops JAX's logged traceback of a failed callback: for a failed check the CLI prints the
    check's one-line message instead (other errors keep their traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "jax.pure_callback failed"


def quiet_callback_failures() -> None:
    """Install the filter on JAX's callback logger (once)."""
    logger = logging.getLogger("jax._src.callback")
    if not any(isinstance(f, _QuietCallbackFailure) for f in logger.filters):
        logger.addFilter(_QuietCallbackFailure())


def name_options(message: str, options: Mapping[str, str]) -> str:
    """``message`` with a leading library parameter name (a key of ``options``, followed by a
    space: "v_inf = 0 is not allowed ...") replaced by the CLI option that sets it ("--v-inf =
    0 ..."); the longest matching name wins. Other messages are returned unchanged."""
    for name in sorted(options, key=len, reverse=True):
        if message.startswith(name + " "):
            return options[name] + message[len(name):]
    return message


# the temporary file of io._paths.atomic_replace (".NAME.tmp-PID", beside NAME), and the file name
# and the OS's reason inside an OSError of h5py (which sets no ``filename``)
_ATOMIC_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.tmp-\d+$")
_H5PY_FILE = re.compile(r"name = '(?P<name>[^']*)', errno = \d+, error message = '(?P<reason>[^']*)'")


def _os_error_file(err: OSError) -> tuple[str | None, str | None, bool]:
    """``(file, reason, writing)`` of an OSError: the file it is about (an atomic write's
    temporary given as the file the user named), the OS's reason, and whether the file was being
    written (an atomic write, or h5py creating a file), which a missing file does not say."""
    text = str(err)
    named = err.filename
    filename = None if named is None else str(named) if isinstance(named, int) else os.fsdecode(named)
    reason = err.strerror
    writing = re.search(r"unable to (synchronously )?create file", text, re.IGNORECASE) is not None
    found = _H5PY_FILE.search(text)
    if filename is None and found:
        filename, reason = found["name"], found["reason"]
    if filename is not None:
        temporary = _ATOMIC_TEMPORARY.match(os.path.basename(filename))
        if temporary:
            filename, writing = os.path.join(os.path.dirname(filename), temporary["name"]), True
    return filename, reason, writing


def _cannot_write(filename: str | None, reason: str | None, code: int | None) -> str:
    """The one-line message for a file that could not be written."""
    folder = os.path.dirname(filename or "") or "."
    if code == errno.ENOENT and os.path.isdir(folder):  # the folder exists: it takes no new files (/proc)
        return f"cannot write {filename!r}: files cannot be created in {folder!r} ({reason or 'no such file'})"
    return f"cannot write {filename!r}: {reason or 'the operating system refused it'}"


def handle_errors(fn: F | None = None, *, options: Mapping[str, str] | None = None):
    """Decorator for CLI commands: InputError/SimulationError, and checks that failed inside a
    compiled program, become one-line errors, exit 2. Running out of memory (MemoryError, or
    XLA's RESOURCE_EXHAUSTED) is one line too, with exit status 1: the input may be valid and
    fit a larger machine, so it is not reported as bad input (Python's own exit status for an
    uncaught error is 1 too, as before, minus the traceback).

    ``@handle_errors(options={"learning_rate": "--lr"})``: an InputError of the library that
    names a parameter first is reported with the option as typed (:func:`name_options`), so that
    a command can leave its options' checks to the library instead of repeating them."""
    if fn is None:
        return functools.partial(handle_errors, options=options)
    options = dict(options or {})

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with runtime_checks_as_simulation_errors():  # a check failed inside a compiled program
                return fn(*args, **kwargs)
        except (InputError, SimulationError) as err:
            message = str(err).splitlines()[0] if str(err) else type(err).__name__
            fail(name_options(message, options) if isinstance(err, InputError) else message)
        except OSError as err:
            filename, reason, writing = _os_error_file(err)
            if writing:  # was "file not found: [Errno 2] Unable to ... create file (... '.x.h5.tmp-123' ...)"
                fail(_cannot_write(filename, reason, err.errno))
            if isinstance(err, FileNotFoundError):
                fail(f"file not found: {filename or err}")
            if isinstance(err, NotADirectoryError | IsADirectoryError | FileExistsError | PermissionError):
                # e.g. an output below an existing file: the OS error in one line, not a traceback
                fail(f"cannot use {str(filename)!r}: {reason or type(err).__name__}")
            # another error of the OS about a named file (a name too long, a read-only or full
            # file system) was a traceback; one without a file name (a broken pipe) still is
            if filename is None or reason is None:
                raise
            fail(f"cannot use {str(filename)!r}: {reason}")
        except (MemoryError, RuntimeError) as err:
            message = _out_of_memory(err)
            if message is None:
                raise
            fail(message, status=1)
        except KeyboardInterrupt:  # Ctrl-C: no traceback (a fit with a checkpoint said where it saved)
            print("interrupted", file=sys.stderr, flush=True)
            raise SystemExit(130) from None

    return wrapper  # type: ignore[return-value]


def progress(iterable: Iterable, total: int | None = None, description: str = "", enabled: bool = True):
    """Iterate with a rich progress bar on stderr (transient); plain iteration if disabled."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    with ProgressBar(total, description, enabled) as bar:
        for item in iterable:
            yield item
            bar.advance()


class ProgressBar:
    """A manually advanced progress bar with a status text (e.g. the current loss)."""

    def __init__(self, total: int | None, description: str = "", enabled: bool = True):
        self.enabled = enabled
        self._bar = None
        if total is not None:
            try:
                float(total)
            except OverflowError:  # --steps 10**400: rich's time-remaining column raised it mid-run
                total = None
        console = None
        if enabled:
            from rich.console import Console

            console = Console(stderr=True)
        # stderr not a terminal (a log file, a pipe): rich draws nothing there but a blank line when
        # the bar stops ("\nerror: ..." in `2> log`), so there is no bar
        if console is not None and console.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[status]}"),
                console=console,
                transient=True,
            )
            self._task = self._bar.add_task(description, total=total, status="")
        self._done = 0

    def __enter__(self):
        if self._bar is not None:
            self._bar.start()
        return self

    def advance(self, n: int = 1, status: str | None = None) -> None:
        if self._bar is not None:
            kw = {"status": status} if status is not None else {}
            self._bar.update(self._task, advance=n, **kw)

    def reach(self, n) -> None:
        """Raise the count to ``n`` if it is lower (for callbacks that may repeat or come out of
        order, such as ``jax.debug.callback`` from several devices)."""
        n = int(n)
        if self._bar is not None and n > self._done:
            self._done = n
            self._bar.update(self._task, completed=n)

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.stop()
        return False


class StopBetweenSteps:
    """Ctrl-C (SIGINT) for a loop that saves its state: the loop ends after the current step and
    saves it (:meth:`check` at the top of each step, where the state is whole), so that no
    finished step is lost; a second Ctrl-C stops at once. Only in the main thread (where Python
    runs signal handlers) and when ``enabled`` (a checkpoint is being written); otherwise Ctrl-C
    acts as usual."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("stopping after the current step (Ctrl-C again to stop now)", file=sys.stderr, flush=True)

    def check(self, save: Callable[[int], None], step: int, path) -> None:
        """If Ctrl-C was pressed: ``save(step)``, say where, raise KeyboardInterrupt."""
        if self.requested:
            save(step)
            print(f"interrupted after step {step}; saved to {str(path)!r}: run again with the same settings "
                  "to resume", file=sys.stderr, flush=True)
            raise KeyboardInterrupt

    def __enter__(self):
        if self.enabled:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        if self.enabled:
            signal.signal(signal.SIGINT, signal.SIG_DFL if self._previous is None else self._previous)
        return False
