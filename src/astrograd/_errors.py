"""Input validation shared by every simulator: one-line errors naming the value and what is allowed."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal

import numpy as np

__all__ = [
    "FitStepError",
    "InputError",
    "SimulationError",
    "check_choice",
    "check_finite_array",
    "check_in_range",
    "check_finite_if_concrete",
    "check_int",
    "check_key",
    "check_positive",
    "is_concrete",
    "runtime_check_message",
    "runtime_checks_as_simulation_errors",
]


class InputError(ValueError):
    """Bad user input. The message is one line: the offending value and what is allowed.

    The CLI turns it into ``error: <message>`` on stderr and exit status 2.
    """


class SimulationError(RuntimeError):
    """A run that went unphysical (negative density, non-finite values, step cap hit).

    The message names the time and place where it happened. The CLI exits with status 2.
    """


class FitStepError(SimulationError):
    """A check that failed inside the loss of ``astrograd.inverse.fit`` (``equinox.error_if``,
    such as a solver's step cap). ``step``: the optimiser step whose loss failed; ``params``: the
    parameters it was evaluated at (the pytree given to ``fit``); ``cause`` (also ``__cause__``):
    the exception the compiled update raised. A caller rewords it by type and attributes, not by
    its message."""

    def __init__(self, message: str, step: int, cause: BaseException, params):
        super().__init__(message)
        self.step, self.cause, self.params = step, cause, params

    def __reduce__(self):  # pickling (e.g. from a worker process) needs every argument of __init__
        return type(self), (str(self), self.step, self.cause, self.params)


def _fmt(value) -> str:
    try:
        return f"{float(value):.6g}"
    except OverflowError:  # an int beyond float (10**400): its repr has hundreds of digits, or fails
        return f"{Decimal(value):.6g}"
    except (TypeError, ValueError):
        return repr(value)


def check_positive(name: str, value, *, allow_zero: bool = False, strict: bool = False) -> float:
    """Return ``float(value)`` if it is finite and > 0 (>= 0 with ``allow_zero``), else raise. A
    bool is refused (``True`` would read as 1.0); numeric text such as "0.5" is read as a number,
    unless ``strict`` (for a library argument, where text is a caller's mistake: "40" passed
    here and failed later in arithmetic)."""
    allowed = "a finite number >= 0" if allow_zero else "a finite number > 0"
    if isinstance(value, bool | np.bool_):
        raise InputError(f"{name} = {value!r} is not allowed; it must be {allowed}")
    if strict and isinstance(value, str | bytes):
        raise InputError(f"{name} = {value!r} is text; it must be {allowed}")
    try:
        v = float(value)
    except OverflowError:  # an int beyond float (10**400): was an OverflowError traceback
        v = math.inf
    except (TypeError, ValueError):
        # with allow_zero, "a positive number" refused 0, which is allowed
        raise InputError(f"{name} = {value!r} is not a number; it must be "
                         f"{allowed if allow_zero else 'a positive number'}") from None
    ok = math.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        raise InputError(f"{name} = {_fmt(value)} is not allowed; it must be {allowed}")
    return v


#: The largest int32: the most steps a loop's int32 counter holds, the most cells an int32 index reaches.
INT32_MAX = 2**31 - 1


def check_int(name: str, value, minimum: int, maximum: int | None = None) -> int:
    """Return ``int(value)`` if it is an integer (not a bool) >= ``minimum`` (and <= ``maximum``,
    e.g. the largest int32 count a loop holds), else raise."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InputError(f"{name} = {value!r} is not allowed; it must be an integer >= {minimum}")
    if maximum is not None and value > maximum:
        raise InputError(f"{name} = {value!r} is not allowed; it must be an integer in [{minimum}, {maximum}]")
    return int(value)


def real_array(name: str, values, allowed: str) -> np.ndarray:
    """``values`` as a float numpy array (integers converted), else a one-line InputError saying
    it must be ``allowed`` (e.g. "a 1D array of real numbers"): ragged lists, strings, None,
    booleans and complex numbers are refused."""
    try:
        a = np.asarray(values)
    except (TypeError, ValueError):  # ragged
        raise InputError(f"{name} is not allowed; it must be {allowed}") from None
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise InputError(f"{name} holds {a.dtype} values; it must be {allowed}")
    return a.astype(float)


def is_real_number(value) -> bool:
    """True for one real number (a Python or numpy number, a 0-d array), False for a bool, a
    string, None, a complex number or an array with more than one element."""
    if isinstance(value, bool | np.bool_ | str | bytes) or np.ndim(value) != 0:
        return False
    try:
        float(value)
    except OverflowError:  # an int beyond float (10**400) is a real number, if not a finite float
        return True
    except (TypeError, ValueError):
        return False
    return not np.iscomplexobj(value)


def check_bool(name: str, value) -> bool:
    """Return ``bool(value)`` if it is a bool (numpy's too), else raise: a string such as "no"
    would be truthy."""
    if not isinstance(value, bool | np.bool_):
        raise InputError(f"{name} = {value!r} is not allowed; it must be True or False")
    return bool(value)


def check_seed(seed, name: str = "seed") -> int:
    """Return ``int(seed)`` if it is an integer (not a bool) that ``jax.random.key`` takes (int64),
    else raise InputError (JAX itself raises an OverflowError traceback)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not -(2**63) <= seed < 2**63:
        raise InputError(f"{name} = {seed!r} is not allowed; it must be an integer in [-2**63, 2**63 - 1]")
    return int(seed)


def check_key(name: str, key) -> None:
    """Raise unless ``key`` is one JAX PRNG key: ``jax.random.key(seed)``, or the legacy
    ``jax.random.PRNGKey(seed)`` (uint32, shape (2,))."""
    import jax

    dtype, shape = getattr(key, "dtype", None), getattr(key, "shape", None)
    typed = dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key) and shape == ()
    legacy = dtype == np.uint32 and shape == (2,)
    if not (typed or legacy):
        got = f"{key!r}" if dtype is None else f"an array of dtype {dtype} and shape {shape}"
        raise InputError(f"{name} = {got} is not allowed; it must be one PRNG key, e.g. jax.random.key(0)")


def check_in_range(
    name: str,
    value,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``float(value)`` if it lies in the interval, else raise naming the interval. A bool
    is refused (``True`` would read as 1.0), as in :func:`check_positive`."""
    if isinstance(value, bool | np.bool_):
        raise InputError(f"{name} = {value!r} is not a number")
    try:
        v = float(value)
    except OverflowError:  # an int beyond float (10**400): was an OverflowError traceback
        v = math.inf if value > 0 else -math.inf
    except (TypeError, ValueError):
        raise InputError(f"{name} = {value!r} is not a number") from None
    lo_ok = v > low if low_open else v >= low
    hi_ok = v < high if high_open else v <= high
    if not (math.isfinite(v) and lo_ok and hi_ok):
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise InputError(f"{name} = {_fmt(value)} is outside the allowed range {interval}")
    return v


def check_choice(name: str, value, allowed: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``allowed``, else raise listing the choices."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise InputError(f"unknown {name} {value!r}; choose one of: {', '.join(allowed)}")
    return value


def check_finite_array(name: str, array) -> np.ndarray:
    """Raise naming the first non-finite entry (flat C-order index) of a concrete array."""
    a = np.asarray(array)
    try:
        bad = ~np.isfinite(a)
    except TypeError:  # text, None or objects: was numpy's "ufunc 'isfinite' not supported" TypeError
        raise InputError(f"{name} holds {a.dtype} values; it must be an array of numbers") from None
    if bad.any():
        idx = np.unravel_index(int(np.flatnonzero(bad)[0]), a.shape) if a.ndim else ()
        raise InputError(f"{name} has a non-finite value {a[idx]!r} at index {tuple(int(i) for i in idx)}")
    return a


def is_concrete(*values) -> bool:
    """True unless a leaf of ``values`` is a JAX tracer (an abstract value under ``jit``,
    ``grad`` or ``vmap``): whether a check can look at the numbers. An array that a traced
    function closes over is concrete and is checked."""
    import jax  # here, not at the top: the CLI imports this module for `--help`, which needs no JAX

    return not any(isinstance(v, jax.core.Tracer) for v in jax.tree.leaves(values))


def check_finite_if_concrete(name: str, array) -> None:
    """:func:`check_finite_array` of a concrete ``array``; nothing under tracing. numpy, not
    jnp: a jnp reduction would be staged when called inside a trace."""
    if is_concrete(array):
        check_finite_array(name, array)


def runtime_check_message(err: BaseException) -> str | None:
    """The message of a check that failed inside a compiled program, or None.

    A failed ``equinox.error_if`` (e.g. the adaptive loop's step cap) reaches Python as a
    ``JaxRuntimeError`` whose text is a long dump; this returns just the check's first line."""
    found = re.search(r"EquinoxRuntimeError: ([^\n]+)", str(err))
    return found.group(1).strip() if found else None


@contextmanager
def runtime_checks_as_simulation_errors(prefix: str = "") -> Iterator[None]:
    """Turn a check that fails inside a compiled program (see :func:`runtime_check_message`)
    into a one-line ``SimulationError(prefix + message)``; other errors pass unchanged. JAX
    raises such a failure as a RuntimeError or a ValueError, depending on where it surfaces."""
    try:
        yield
    except (RuntimeError, ValueError) as err:
        message = runtime_check_message(err)
        if message is None:
            raise
        raise SimulationError(prefix + message) from None


class ForwardModeError(InputError, TypeError):
    """Forward-mode autodiff (jvp, jacfwd) of a computation that has reverse mode only (an
    InputError, and a TypeError like JAX's own error that it replaces)."""


def is_forward_mode_error(err: BaseException) -> bool:
    """Whether ``err`` is :class:`ForwardModeError` or JAX's own TypeError for the forward mode of
    a ``custom_vjp`` (raised where jvp meets one traced earlier, e.g. inside a user's jit)."""
    return isinstance(err, ForwardModeError) or (
        isinstance(err, TypeError) and "can't apply forward-mode autodiff (jvp) to a custom_vjp function" in str(err)
    )


@contextmanager
def forward_mode_refused(what: str, instead: str):
    """JAX's TypeError for forward-mode autodiff (jvp, jacfwd, linearize) of a ``custom_vjp``
    as a one-line ForwardModeError naming ``what`` has reverse mode only and what to use ``instead``."""
    try:
        yield
    except TypeError as err:
        if isinstance(err, ForwardModeError) or not is_forward_mode_error(err):
            raise  # a ForwardModeError raised inside already names the right part
        raise ForwardModeError(f"{what} has reverse mode only (grad, vjp, jacrev), not forward-mode autodiff "
                               f"(jvp, jacfwd); {instead}") from None
