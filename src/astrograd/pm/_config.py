"""Static configuration of a particle-mesh simulation (shapes, box, time steps, schemes)."""

from __future__ import annotations

import math
import operator

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from astrograd._errors import (
    InputError,
    check_bool,
    check_choice,
    check_in_range,
    check_int,
    check_positive,
)
from astrograd.cosmo._growth import A_MAX, A_MIN

GRADIENTS = ("spectral", "fd")
DTYPES = ("float32", "float64")


def per_axis(name: str, value, entries: int = 3) -> tuple:
    """``value`` as ``entries`` entries, one per axis (a single value is used for every axis)."""
    if np.ndim(value) == 0:
        value = (value,) * entries
    value = tuple(value)
    if len(value) != entries:
        raise InputError(f"{name} = {value!r} must have {entries} entries (one per axis)")
    return value


def as_integer(value):
    """``value`` as an int if it is an integer or a float with an integral value (16.0 is 16);
    anything else unchanged (a bool too), for :func:`check_int` to refuse."""
    if isinstance(value, bool | np.bool_):
        return value
    try:
        return operator.index(value)
    except TypeError:
        pass
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    return value


def check_counts(name: str, value, minimum: int, what: str, entries: int = 3) -> tuple[int, ...]:
    """3 (``entries``) integers >= ``minimum``, one per axis, else InputError saying each entry
    must be ``what``."""
    value = per_axis(name, value, entries)
    counts = tuple(as_integer(v) for v in value)
    if any(isinstance(n, bool) or not isinstance(n, int) or n < minimum for n in counts):
        raise InputError(f"{name} = {value} is not allowed; each entry must be {what}")
    return counts


#: The box sides a PMConfig takes, Mpc/h: 10 kpc/h to 100 Gpc/h. The fundamental wavenumber 2π/L
#: then lies within 6e-5 to 6e2 h/Mpc, inside the 1e-5 to 1e3 h/Mpc on which the linear power is
#: normalised, and the box is at most ~5 times the observable universe. Far outside it the run
#: was silently meaningless: at 1e30 the linear modes underflow to 0 in float32 (particles never
#: move); at 1e-30 |k|² overflows (an error about k = inf).
BOX_RANGE = (1e-2, 1e5)


def check_box_side(name: str, side) -> float:
    """One box side as a float if it is a number in :data:`BOX_RANGE` (Mpc/h), else InputError."""
    side = check_positive(name, side)
    low, high = BOX_RANGE
    if not low <= side <= high:
        raise InputError(f"{name} = {side:g} is outside the allowed range [{low:g}, {high:g}] Mpc/h (10 kpc/h to "
                         "100 Gpc/h: the linear power is normalised on 1e-5 to 1e3 h/Mpc)")
    return side


#: CIC paint and read-out index the mesh cells with int32.
MAX_CELLS = 2**31 - 1


def check_cells(name: str, shape) -> None:
    """InputError if a mesh of ``shape`` has more cells than int32 indices reach (it was JAX's
    OverflowError traceback while tracing the paint)."""
    if math.prod(shape) > MAX_CELLS:
        raise InputError(f"{name} = {tuple(shape)} has {math.prod(shape)} cells; at most {MAX_CELLS} (2**31 - 1) are "
                         "allowed (int32 cell indices)")


def rfft_shape(shape) -> tuple[int, ...]:
    """The shape of ``jnp.fft.rfftn`` of a real array of ``shape``."""
    return (*shape[:-1], shape[-1] // 2 + 1)


def check_shape(name: str, array, shape, what: str) -> None:
    """InputError unless ``array`` has ``shape`` (static: checked under jit too); ``what`` says
    what that shape is."""
    if tuple(np.shape(array)) != tuple(shape):
        raise InputError(f"{name} has shape {tuple(np.shape(array))}; it must be {what}")


def check_particles(config: PMConfig, **arrays) -> None:
    """Each array (N, 3): one row per particle of ``config`` (static: checked under jit too)."""
    want = (config.num_ptcl, 3)
    for name, array in arrays.items():
        check_shape(name, array, want, f"{want}, one row per particle of ptcl_grid = {config.ptcl_grid}")


class PMConfig(eqx.Module):
    """Everything that fixes shapes and program structure; hashable and static under ``jit``.

    ptcl_grid: particles per axis (Lagrangian grid), e.g. (16, 27, 16).
    mesh_shape: force-mesh cells per axis, an integer multiple of ``ptcl_grid`` on each axis.
    box_size: periodic box side lengths in Mpc/h (non-cubic allowed).
    a_start, a_stop: scale factors of the initial conditions and of the end of the run.
    num_steps: number of kick-drift-kick steps, uniform in a.
    lpt_order: 1 (Zel'dovich) or 2 for the initial displacements.
    gradient: "fd" (default; central difference i sin(kΔ)/Δ, as FastPM) or "spectral" (i k). With
      a mesh an even multiple of the particle grid, "spectral" amplifies near-Nyquist aliases of
      the particle lattice and biases the large-scale force high (docs/pm.md).
    compensate_cic: divide the density by the CIC window twice (paint and read-out).
    dtype: "float32" (default) or "float64" (requires jax_enable_x64).
    """

    ptcl_grid: tuple[int, int, int] = eqx.field(static=True)
    mesh_shape: tuple[int, int, int] = eqx.field(static=True)
    box_size: tuple[float, float, float] = eqx.field(static=True)
    a_start: float = eqx.field(static=True)
    a_stop: float = eqx.field(static=True)
    num_steps: int = eqx.field(static=True)
    lpt_order: int = eqx.field(static=True)
    gradient: str = eqx.field(static=True)
    compensate_cic: bool = eqx.field(static=True)
    dtype: str = eqx.field(static=True)

    def __init__(
        self,
        ptcl_grid=(16, 16, 16),
        mesh_shape=None,
        box_size=(100.0, 100.0, 100.0),
        a_start: float = 1.0 / 64.0,
        a_stop: float = 1.0,
        num_steps: int = 63,
        lpt_order: int = 2,
        gradient: str = "fd",
        compensate_cic: bool = False,
        dtype: str = "float32",
    ):
        ptcl_grid = check_counts("ptcl_grid", ptcl_grid, 2, "an integer >= 2")
        multiple = f"a positive integer multiple of ptcl_grid = {ptcl_grid}"
        mesh_shape = tuple(2 * n for n in ptcl_grid) if mesh_shape is None else check_counts(
            "mesh_shape", mesh_shape, 1, multiple)
        box_size = tuple(check_box_side("box_size", side) for side in per_axis("box_size", box_size))
        for n, m in zip(ptcl_grid, mesh_shape, strict=True):
            if m < n or m % n:
                raise InputError(f"mesh_shape = {mesh_shape} is not allowed; each entry must be {multiple}")
        check_cells("mesh_shape", mesh_shape)  # the particle grid is no larger
        # the growth factors are tabulated on [A_MIN, A_MAX] (clipped outside)
        a_start = check_in_range("a_start", a_start, A_MIN, A_MAX)
        a_stop = check_in_range("a_stop", a_stop, A_MIN, A_MAX)
        if not a_start < a_stop:
            raise InputError(f"a_start = {a_start:g} is not allowed; it must be smaller than a_stop = {a_stop:g}")
        num_steps = check_int("num_steps", as_integer(num_steps), 1)
        if as_integer(lpt_order) not in (1, 2) or isinstance(lpt_order, bool):
            raise InputError(f"lpt_order = {lpt_order!r} is not allowed; choose 1 or 2")
        compensate_cic = check_bool("compensate_cic", compensate_cic)  # 1 or "no" refused
        check_choice("gradient", gradient, GRADIENTS)
        check_choice("dtype", dtype, DTYPES)
        self.ptcl_grid = ptcl_grid
        self.mesh_shape = mesh_shape
        self.box_size = box_size
        self.a_start = float(a_start)
        self.a_stop = float(a_stop)
        self.num_steps = int(num_steps)
        self.lpt_order = int(lpt_order)
        # as str: an equal np.dtype("float32") would hash differently (a config is a static jit argument)
        self.gradient = str(gradient)
        self.compensate_cic = bool(compensate_cic)
        self.dtype = str(dtype)

    @property
    def num_ptcl(self) -> int:
        return math.prod(self.ptcl_grid)

    @property
    def ptcl_spacing(self) -> tuple[float, float, float]:
        """Lagrangian particle spacing per axis, Mpc/h."""
        return tuple(b / n for b, n in zip(self.box_size, self.ptcl_grid, strict=True))

    @property
    def cell_size(self) -> tuple[float, float, float]:
        """Force-mesh cell size per axis, Mpc/h."""
        return tuple(b / n for b, n in zip(self.box_size, self.mesh_shape, strict=True))

    @property
    def volume(self) -> float:
        return math.prod(self.box_size)

    @property
    def a_steps(self) -> np.ndarray:
        """The num_steps + 1 scale factors of the time steps (uniform in a)."""
        return np.linspace(self.a_start, self.a_stop, self.num_steps + 1)

    @property
    def float_dtype(self):
        """The dtype of the run. InputError for "float64" while JAX's float64 is off: the run
        was silently float32 (with a UserWarning per array)."""
        if self.dtype == "float64" and jax.dtypes.canonicalize_dtype(np.float64) != np.float64:
            raise InputError("dtype = 'float64' needs JAX's float64 (off: the run would be float32); call "
                             "jax.config.update('jax_enable_x64', True) first, or use dtype = 'float32'")
        return jnp.dtype(self.dtype)

    def lagrangian_positions(self):
        """Unperturbed particle positions q (N, 3) in Mpc/h, C order of the particle grid.

        q = i × spacing + cell_size / 2: half a mesh cell off the mesh nodes, so that the CIC
        weights of an unperturbed particle are smooth functions of its displacement.
        """
        axes = [
            jnp.arange(n, dtype=self.float_dtype) * s + 0.5 * c
            for n, s, c in zip(self.ptcl_grid, self.ptcl_spacing, self.cell_size, strict=True)
        ]
        q = jnp.stack(jnp.meshgrid(*axes, indexing="ij"), axis=-1)
        return q.reshape(-1, 3)


def cli_omega_m_range() -> tuple[float, float]:
    """(lowest, highest) --omega-m of the ``astrograd pm`` commands' flat ΛCDM, whose growth table
    needs E² = Ω_m a⁻³ + 1 − Ω_m > 0 up to A_MAX (highest: A_MAX³ / (A_MAX³ − 1), excluded) and
    dark energy negligible at A_MIN (:data:`astrograd.cosmo._growth.MAX_EARLY_DE_RATIO`)."""
    from astrograd.cosmo._growth import MAX_EARLY_DE_RATIO

    return A_MIN**3 / (MAX_EARLY_DE_RATIO + A_MIN**3), A_MAX**3 / (A_MAX**3 - 1.0)


def cli_cosmology(omega_m: float, sigma8: float):
    """The cosmology of the ``astrograd pm`` commands: Ω_b = min(0.05, Ω_m/2), h = 0.7, n_s = 0.96,
    flat ΛCDM. An --omega-m for which it has no growth table is refused here, naming the option
    (the table's message named omega_k, w0 and wa, which no option sets), before the run: under a
    traced cosmology (`pm reconstruct`) the table was not checked and --omega-m 1.5 ran on it."""
    from astrograd.cosmo import Cosmology
    from astrograd.cosmo._growth import NUM_STEPS, _check_expansion

    omega_b = min(0.05, 0.5 * omega_m) if omega_m > 0 else 0.05
    cosmo = Cosmology(omega_m=omega_m, omega_b=omega_b, sigma8=sigma8)
    try:
        _check_expansion(cosmo, NUM_STEPS, jnp.result_type(float))
    except InputError:
        low, high = cli_omega_m_range()
        why = (f"above it Ω_Λ = 1 − Ω_m makes the universe stop expanding before a = {A_MAX:g}, the end of the "
               "growth table" if omega_m > 1 else f"below it dark energy is not negligible at a = {A_MIN:g}, where "
               "the growth equations start in the matter era")
        raise InputError(f"--omega-m = {omega_m:g} is not allowed; it must be in ({low:.3g}, {high:.6g}) for the "
                         f"flat ΛCDM cosmology of the pm commands: {why}") from None
    return cosmo


def cli_config(ptcl_grid: int, mesh_factor: int, box: float, a_start: float, a_stop: float, steps: int,
               **kwargs) -> PMConfig:
    """A cubic :class:`PMConfig` from the ``astrograd pm`` options (``--mesh-factor`` checked)."""
    if isinstance(mesh_factor, bool) or int(mesh_factor) != mesh_factor or mesh_factor < 1:
        raise InputError(f"--mesh-factor = {mesh_factor} is not allowed; it must be an integer >= 1")
    check_box_side("--box", box)
    check_int("--ptcl-grid", ptcl_grid, 2)  # named as the option, not as the config field
    check_int("--steps", steps, 1)
    mesh = ptcl_grid * int(mesh_factor)
    if mesh**3 > MAX_CELLS:  # the config's message named its mesh_shape
        raise InputError(f"--ptcl-grid {ptcl_grid} × --mesh-factor {int(mesh_factor)} is not allowed: a mesh of "
                         f"{mesh}³ = {mesh**3} cells; at most {MAX_CELLS} (2**31 - 1) are allowed (int32 cell "
                         "indices)")
    # the config's messages named a_stop, which `pm reconstruct` sets as --a-stop (`pm run` checks
    # its last snapshot, passed as a_stop, itself)
    check_in_range("--a-start", a_start, A_MIN, A_MAX)
    check_in_range("--a-stop", a_stop, A_MIN, A_MAX)
    if not a_start < a_stop:
        raise InputError(f"--a-start = {a_start:g} is not allowed; it must be smaller than --a-stop = {a_stop:g}")
    # the steps' scale factors are rounded to the run's float dtype (kdk_factors): with Δa below its
    # spacing near a_stop, steps start to repeat a scale factor and have zero length, each still a
    # force evaluation (`pm run --steps 100000000` was run, most of its steps doing nothing).
    # Δa >= that spacing keeps every rounded scale factor distinct.
    a_dtype = jnp.result_type(float)
    spacing = float(np.spacing(np.nextafter(np.asarray(a_stop, a_dtype), np.asarray(0, a_dtype))))
    max_steps = max(1, int((a_stop - a_start) // spacing))
    if steps > max_steps:
        raise InputError(f"--steps = {steps} is not allowed; it must be an integer in [1, {max_steps}]: its steps of "
                         f"Δa = {(a_stop - a_start) / steps:.3g} are shorter than the spacing {spacing:.3g} of "
                         f"{a_dtype} scale factors below {a_stop:g}, which the run cannot resolve (steps of zero "
                         "length, each still a force evaluation)")
    return PMConfig(ptcl_grid=ptcl_grid, mesh_shape=ptcl_grid * int(mesh_factor), box_size=box, a_start=a_start,
                    a_stop=a_stop, num_steps=steps, **kwargs)
