"""Kick-drift-kick N-body integration in the scale factor with growth-consistent (FastPM-style)
factors; one ``lax.scan``; reverse mode by reverse-time integration (``custom_vjp``)."""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from astrograd._errors import InputError, check_choice, check_finite_if_concrete, forward_mode_refused, is_concrete
from astrograd.cosmo import Cosmology, E, GrowthTable, growth_table
from astrograd.cosmo._growth import check_scale_factors
from astrograd.pm._config import PMConfig, check_particles
from astrograd.pm._decomp import SINGLE, Decomposition, device_mesh
from astrograd.pm._gravity import _acceleration, acceleration_autodiff, acceleration_with_vjp

ADJOINTS = ("reverse_time", "autodiff")


class KDKFactors(eqx.Module):
    """Per-step factors (each shape (num_steps,)) of p += kick1 F; x += drift p; F(x); p += kick2 F.

    F = −∇∇⁻²δ (Mpc/h); p = a² E dx/d ln a (Mpc/h); x in Mpc/h. With G_p(a) = a² E dD1/d ln a:
    kick1 = [G_p(a_c) − G_p(a_i)] / D1(a_i), drift = [D1(a_f) − D1(a_i)] / G_p(a_c),
    kick2 = [G_p(a_f) − G_p(a_c)] / D1(a_f), a_c = (a_i + a_f) / 2, so linear growth is exact.
    """

    kick1: Float[Array, " s"]
    drift: Float[Array, " s"]
    kick2: Float[Array, " s"]


def kdk_factors(
    cosmo: Cosmology, config: PMConfig, table: GrowthTable | None = None, a_steps=None
) -> KDKFactors:
    """Growth-consistent KDK factors for the steps ``a_steps`` (default ``config.a_steps``)."""
    if a_steps is not None:
        if np.ndim(a_steps) != 1 or np.shape(a_steps)[0] < 2:
            raise InputError(f"a_steps has shape {np.shape(a_steps)}; give a 1D sequence of at least 2 scale factors")
        check_scale_factors(a_steps, "a_steps")
        if is_concrete(a_steps) and not np.all(np.diff(np.asarray(a_steps, dtype=np.float64)) > 0):
            raise InputError(f"a_steps = {np.asarray(a_steps).tolist()} is not allowed; the scale factors must "
                             "increase from one step to the next")
    table = growth_table(cosmo) if table is None else table
    a_steps = jnp.asarray(config.a_steps if a_steps is None else a_steps, dtype=jnp.result_type(cosmo.omega_m))
    a_i, a_f = a_steps[:-1], a_steps[1:]
    a_c = 0.5 * (a_i + a_f)

    def g_p(a):
        return a**2 * E(cosmo, a) * table.dD1_dlna(a)

    dtype = config.float_dtype
    return KDKFactors(
        kick1=((g_p(a_c) - g_p(a_i)) / table.D1(a_i)).astype(dtype),
        drift=((table.D1(a_f) - table.D1(a_i)) / g_p(a_c)).astype(dtype),
        kick2=((g_p(a_f) - g_p(a_c)) / table.D1(a_f)).astype(dtype),
    )


def _lagrangian(config: PMConfig, decomp: Decomposition):
    return decomp.particles(config.lagrangian_positions())


def _force(disp, config: PMConfig, autodiff: bool = False, decomp: Decomposition = SINGLE):
    if autodiff:
        return acceleration_autodiff(config.lagrangian_positions() + disp, config)
    return _acceleration(_lagrangian(config, decomp) + disp, config, decomp)


def _kdk(carry, factors, config, autodiff: bool = False, decomp: Decomposition = SINGLE):
    disp, mom, acc = carry
    k1, dr, k2 = factors
    mom = mom + k1 * acc
    disp = disp + dr * mom
    acc = _force(disp, config, autodiff, decomp)
    mom = mom + k2 * acc
    return disp, mom, acc


def _run(disp, mom, factors: KDKFactors, config: PMConfig, autodiff: bool = False, decomp: Decomposition = SINGLE):
    acc = _force(disp, config, autodiff, decomp)
    xs = (factors.kick1, factors.drift, factors.kick2)
    carry, _ = jax.lax.scan(lambda c, f: (_kdk(c, f, config, autodiff, decomp), None), (disp, mom, acc), xs)
    return carry


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _nbody_reverse_time(disp, mom, factors, config, decomp):
    d, p, _ = _run(disp, mom, factors, config, decomp=decomp)
    return d, p


def _fwd(disp, mom, factors, config, decomp):
    d, p, acc = _run(disp, mom, factors, config, decomp=decomp)
    return (d, p), (d, p, acc, factors)


def _unstep(carry, factors, config):
    """The exact algebraic inverse of one KDK step (used to walk back in time)."""
    disp, mom, acc = carry
    k1, dr, k2 = factors
    mom = mom - k2 * acc
    disp = disp - dr * mom
    acc = _force(disp, config)
    mom = mom - k1 * acc
    return disp, mom, acc


def _bwd(config, decomp, residuals, cotangents):
    disp, mom, acc, factors = residuals
    disp_bar, mom_bar = cotangents
    k1s, drs, k2s = factors.kick1, factors.drift, factors.kick2
    k2_prev = jnp.concatenate([jnp.zeros_like(k2s[:1]), k2s[:-1]])
    # one extra step, taken first (the scan runs in reverse): with zero factors it stays at the
    # final state and only back-propagates through the final force, J(d)ᵀ (kick2[-1] p̄), so
    # that the force and its VJP appear once in the program
    zero = jnp.zeros_like(k1s[:1])
    xs = tuple(jnp.concatenate([f, e]) for f, e in ((k1s, zero), (drs, zero), (k2s, zero), (k2_prev, k2s[-1:])))

    def back(carry, xs):
        d, p, a, d_bar, p_bar = carry
        k1, dr, k2, k2p = xs
        g_k2 = jnp.vdot(p_bar, a)
        p_half = p - k2 * a
        d_prev = d - dr * p_half
        g_dr = jnp.vdot(d_bar, p_half)
        p_bar = p_bar + dr * d_bar
        a_prev, x_bar = acceleration_with_vjp(_lagrangian(config, decomp) + d_prev, (k1 + k2p) * p_bar, config, decomp)
        p_prev = p_half - k1 * a_prev
        g_k1 = jnp.vdot(p_bar, a_prev)
        return (d_prev, p_prev, a_prev, d_bar + x_bar, p_bar), (g_k1, g_dr, g_k2)

    init = (disp, mom, acc, disp_bar, mom_bar)
    carry, grads = jax.lax.scan(back, init, xs, reverse=True)
    # each device summed over its own particles
    g_k1, g_dr, g_k2 = (decomp.psum(g) for g in grads)
    return carry[3], carry[4], KDKFactors(kick1=g_k1[:-1], drift=g_dr[:-1], kick2=g_k2[:-1])


_nbody_reverse_time.defvjp(_fwd, _bwd)


def nbody(
    disp: Float[Array, "n 3"],
    mom: Float[Array, "n 3"],
    factors: KDKFactors,
    config: PMConfig,
    adjoint: str = "reverse_time",
    devices=None,
) -> tuple[Float[Array, "n 3"], Float[Array, "n 3"]]:
    """Integrate particles from the first to the last scale factor of ``factors``.

    disp: displacements from the Lagrangian grid (N, 3), Mpc/h. mom: p = a² E dx/d ln a (N, 3).
    adjoint: "reverse_time" (reverse mode walks the KDK steps back in time: memory independent
    of the number of steps; no forward mode) or "autodiff" (JAX differentiates the scan and the
    force directly: reverse mode stores every step; forward mode (jvp, jacfwd) works).
    devices: None (one device) or a device count, a sequence of devices or a one-axis
    ``jax.sharding.Mesh``: the particles are split in equal blocks and the force mesh in slabs
    over the devices (``astrograd.pm._decomp``; "reverse_time" only). The result is the same as
    on one device up to the order of floating-point sums.
    Returns the displacements and momenta at the end.
    """
    check_choice("adjoint", adjoint, ADJOINTS)
    check_particles(config, disp=disp, mom=mom)
    _check_factors(factors)
    for name, array in (("disp", disp), ("mom", mom), ("factors.kick1", factors.kick1),
                        ("factors.drift", factors.drift), ("factors.kick2", factors.kick2)):
        check_finite_if_concrete(name, array)
    disp, mom = _as_state(disp, mom, config)
    if adjoint == "autodiff" and devices is None:
        d, p, _ = _run(disp, mom, factors, config, autodiff=True)
        return d, p
    with forward_mode_refused("adjoint = 'reverse_time'", "use adjoint='autodiff' (one device) for jvp/jacfwd"):
        if devices is not None:
            if adjoint != "reverse_time":
                raise InputError(f"adjoint = {adjoint!r} is not allowed with devices; use 'reverse_time'")
            return _nbody_sharded(disp, mom, factors, config, devices)
        return _nbody_reverse_time(disp, mom, factors, config, SINGLE)


def _as_state(disp, mom, config: PMConfig):
    """``disp`` and ``mom`` as arrays of one float dtype, at least the run's: an integer array,
    or a float32 one in a float64 run, was a raw TypeError of the scan (its carry changed dtype)."""
    dtype = jnp.result_type(config.float_dtype, disp, mom)
    return jnp.asarray(disp, dtype), jnp.asarray(mom, dtype)


def _check_factors(factors: KDKFactors) -> None:
    """The three factors 1D and of one length, the number of steps (static: under jit too; a
    (steps, 3) factor would broadcast over the axes silently)."""
    shapes = [tuple(np.shape(f)) for f in (factors.kick1, factors.drift, factors.kick2)]
    if len(shapes[0]) != 1 or len(set(shapes)) != 1:
        raise InputError(f"factors have shapes kick1 {shapes[0]}, drift {shapes[1]}, kick2 {shapes[2]}; each must "
                         "be (num_steps,), one value per step (from kdk_factors)")


def _nbody_sharded(disp, mom, factors, config: PMConfig, devices):
    mesh, decomp = device_mesh(config, devices)
    ptcl = jax.sharding.PartitionSpec(decomp.axis_name)
    fn = jax.shard_map(
        lambda d, p, f: _nbody_reverse_time(d, p, f, config, decomp),
        mesh=mesh,
        in_specs=(ptcl, ptcl, jax.sharding.PartitionSpec()),
        out_specs=(ptcl, ptcl),
    )
    return fn(disp, mom, factors)


def nbody_backward(disp, mom, factors: KDKFactors, config: PMConfig):
    """Run the KDK steps of ``factors`` backwards from (disp, mom) at their end (a test of
    reversibility: returns the state at their start)."""
    check_particles(config, disp=disp, mom=mom)
    _check_factors(factors)
    disp, mom = _as_state(disp, mom, config)
    acc = _force(disp, config)
    xs = (factors.kick1, factors.drift, factors.kick2)
    (d, p, _), _ = jax.lax.scan(lambda c, f: (_unstep(c, f, config), None), (disp, mom, acc), xs, reverse=True)
    return d, p


def nbody_snapshots(disp, mom, factors: KDKFactors, config: PMConfig, snap_steps, devices=None, on_step=None):
    """Forward run that keeps the state after each step count in ``snap_steps`` (int array (S,))
    and the first step at which a non-finite value appeared (0: the initial state; −1 if none),
    with the first particle that has one (−1 if none). ``devices``: as in
    :func:`nbody`. ``on_step``: a host function called with the number of steps done after each
    step (``jax.debug.callback``: for a progress bar; with several devices it is called once per
    device, in no guaranteed order, so use it to raise a count to at least that number).

    Returns (disp (S, N, 3), mom (S, N, 3), first_bad_step, first_bad_particle).
    """
    check_particles(config, disp=disp, mom=mom)
    _check_factors(factors)
    _check_snap_steps(snap_steps, factors.kick1.shape[0])
    snap_steps = jnp.asarray(snap_steps, dtype=jnp.int32)
    disp, mom = _as_state(disp, mom, config)
    if devices is None:
        return _snapshots(disp, mom, factors, snap_steps, config, SINGLE, on_step)
    mesh, decomp = device_mesh(config, devices)
    ptcl, whole = jax.sharding.PartitionSpec(decomp.axis_name), jax.sharding.PartitionSpec()
    snaps = jax.sharding.PartitionSpec(None, decomp.axis_name)
    fn = jax.shard_map(
        lambda d, p, f, s: _snapshots(d, p, f, s, config, decomp, on_step),
        mesh=mesh,
        in_specs=(ptcl, ptcl, whole, whole),
        out_specs=(snaps, snaps, whole, whole),
    )
    return fn(disp, mom, factors, snap_steps)


def _check_snap_steps(snap_steps, num_steps: int) -> None:
    """``snap_steps``: a 1D array; if concrete, of integers from 0 to ``num_steps`` (a snapshot
    never reached would come back as zeros)."""
    if np.ndim(snap_steps) != 1:
        raise InputError(f"snap_steps has shape {np.shape(snap_steps)}; give a 1D sequence of step counts")
    if not is_concrete(snap_steps):
        return
    steps = np.asarray(snap_steps)
    ok = np.isfinite(steps) & (steps == np.round(steps)) & (steps >= 0) & (steps <= num_steps)
    if not ok.all():
        raise InputError(f"snap_steps = {steps[~ok][0].item()!r} is not allowed; each entry must be an integer "
                         f"step count from 0 to {num_steps}")


def _snapshots(disp, mom, factors: KDKFactors, snap_steps, config: PMConfig, decomp: Decomposition,
               on_step=None):
    acc = _force(disp, config, decomp=decomp)
    empty = jnp.zeros((snap_steps.size, *disp.shape), disp.dtype)
    buf_d = jnp.where((snap_steps == 0)[:, None, None], disp[None], empty)
    buf_p = jnp.where((snap_steps == 0)[:, None, None], mom[None], jnp.zeros_like(buf_d))

    def body(carry, xs):
        state, bd, bp, bad_step, bad_ptcl = carry
        n, f = xs
        state = _kdk(state, f, config, decomp=decomp)
        d, p, a = state
        take = (snap_steps == n + 1)[:, None, None]
        bd = jnp.where(take, d[None], bd)
        bp = jnp.where(take, p[None], bp)
        finite = jnp.all(jnp.isfinite(d), axis=1) & jnp.all(jnp.isfinite(p), axis=1)
        any_bad, first = decomp.first_true(~finite)
        newly = (bad_step < 0) & any_bad
        bad_ptcl = jnp.where(newly, first, bad_ptcl)
        bad_step = jnp.where(newly, n + 1, bad_step)
        if on_step is not None:
            jax.debug.callback(on_step, n + 1)
        return (state, bd, bp, bad_step, bad_ptcl), None

    steps = jnp.arange(factors.kick1.shape[0], dtype=jnp.int32)
    # non-finite initial conditions are step 0 (they were reported after the first step)
    finite = jnp.all(jnp.isfinite(disp), axis=1) & jnp.all(jnp.isfinite(mom), axis=1)
    any_bad, first = decomp.first_true(~finite)
    init = ((disp, mom, acc), buf_d, buf_p, jnp.where(any_bad, 0, -1).astype(jnp.int32),
            jnp.where(any_bad, first, -1).astype(jnp.int32))
    (_, bd, bp, bad_step, bad_ptcl), _ = jax.lax.scan(
        body, init, (steps, (factors.kick1, factors.drift, factors.kick2))
    )
    return bd, bp, bad_step, bad_ptcl


def positions(disp: Float[Array, "n 3"], config: PMConfig) -> Float[Array, "n 3"]:
    """Particle positions q + disp wrapped into the periodic box [0, L) (Mpc/h); ``disp`` (..., N, 3)."""
    want = (config.num_ptcl, 3)
    if tuple(np.shape(disp)[-2:]) != want:
        raise InputError(f"disp has shape {np.shape(disp)}; it must end with {want}, one row per particle of "
                         f"ptcl_grid = {config.ptcl_grid}")
    box = jnp.asarray(config.box_size, dtype=disp.dtype)
    x = jnp.mod(config.lagrangian_positions() + disp, box)
    # a tiny negative x rounds up to exactly L in mod (float32: -1e-6 mod 64 = 64); x - L is 0 there
    return jnp.where(x < box, x, x - box)


