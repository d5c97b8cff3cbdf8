"""Run by test_pm_devices.py in a fresh process with 4 host (CPU) devices: the split N-body run
and its reverse-time gradients against the single-device code, in float64. Prints one JSON line."""

import json
import os

os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"

import equinox as eqx  # noqa: E402
import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

from astrograd._errors import InputError  # noqa: E402
from astrograd.cosmo import Cosmology, growth_table  # noqa: E402
from astrograd.pm import (  # noqa: E402
    PMConfig,
    kdk_factors,
    linear_modes,
    lpt,
    nbody,
    nbody_snapshots,
    simulate,
    white_noise,
)
from astrograd.pm._decomp import device_mesh  # noqa: E402


def rel(a, b):
    return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))


def initial_state(noise, om, cfg):
    """What ``simulate`` runs before the N-body steps (the same with and without ``devices``):
    noise, Ω_m ↦ (LPT displacements, momenta, KDK factors)."""
    cosmo = eqx.tree_at(lambda c: c.omega_m, Cosmology(), om)
    table = growth_table(cosmo)
    disp, mom = lpt(linear_modes(noise, cosmo, cfg, table), cosmo, cfg, table)
    return disp, mom, kdk_factors(cosmo, cfg, table)


def main():
    out = {"num_devices": len(jax.devices())}
    cosmo = Cosmology()
    # non-cubic, mesh 2× the particle grid, particles that move several cells in 5 steps; the
    # force kernel ("fd" or "spectral") is used by the N-body steps only (not by the LPT initial
    # state, so one initial state serves both; the `simulate` check below would fail otherwise)
    cfgs = {kernel: PMConfig(ptcl_grid=(8, 12, 8), mesh_shape=(16, 24, 16), box_size=(64.0, 96.0, 64.0),
                             a_start=0.1, num_steps=5, dtype="float64", gradient=kernel)
            for kernel in ("fd", "spectral")}
    noise = white_noise(jax.random.key(1), cfgs["fd"])
    # simulate(noise, cosmo(Ω_m), cfg, devices) = nbody(*initial_state(noise, Ω_m), cfg, devices):
    # only the N-body part is split over the devices. Its gradient w.r.t. (noise, Ω_m) is taken
    # by the chain rule: the device-independent part (initial state and its pullback) is compiled
    # once and shared by both kernels and every device count (compiling it inside each
    # jax.grad(simulate) program took most of this script's time); one program per kernel and
    # device count is left for the N-body run (as the auxiliary output) and its gradient.
    state = jax.jit(initial_state, static_argnums=2)(noise, 0.3, cfgs["fd"])
    pullback = jax.jit(lambda x, om, ct: jax.vjp(lambda x, om: initial_state(x, om, cfgs["fd"]), x, om)[1](ct))

    def loss(state, devices, cfg):
        d, p = nbody(*state, cfg, devices=devices)
        return jnp.sum(d**2) + 0.3 * jnp.sum(p * d), (d, p)

    grad_nbody = jax.jit(jax.grad(loss, has_aux=True), static_argnums=(1, 2))

    def grad(devices, cfg):  # ∂ loss / ∂ (noise, Ω_m), and the run
        g_state, run = grad_nbody(state, devices, cfg)
        # gathered on one device (a copy, same bits) so that `pullback` sees the same input
        # sharding whatever the device count, and is not compiled again
        return pullback(noise, 0.3, jax.device_put(g_state, jax.devices()[0])), run

    for kernel, counts in (("fd", (4,)), ("spectral", (2,))):
        cfg = cfgs[kernel]
        g0, (d0, p0) = grad(None, cfg)
        out[kernel] = {"max_disp_cells": float(jnp.max(jnp.abs(d0)) / cfg.cell_size[0])}
        for n in counts:
            g, (d, p) = grad(n, cfg)
            out[kernel][str(n)] = {
                "disp": rel(d, d0), "mom": rel(p, p0), "grad_noise": rel(g[0], g0[0]),
                "grad_omega_m": abs(float(g[1] / g0[1]) - 1), "devices_used": len(d.sharding.device_set),
            }
    # simulate(..., devices=2) itself (cfg: the spectral kernel, from the loop) against the
    # single-device run d0, p0 above
    d, p = jax.jit(lambda x: simulate(x, cosmo, cfg, devices=2))(noise)
    out["simulate"] = {"disp": rel(d, d0), "mom": rel(p, p0), "devices_used": len(d.sharding.device_set)}
    # snapshots (what `astrograd pm run --devices` writes) and the first non-finite particle
    disp, mom, factors = state
    steps = jnp.array([0, 3, 5])
    snap = jax.jit(lambda d, p, n: nbody_snapshots(d, p, factors, cfg, steps, devices=n), static_argnums=2)
    d0, p0, *_ = snap(disp, mom, None)
    d4, p4, bad_step, bad_ptcl = snap(disp, mom, 4)
    out["snapshots"] = {"disp": rel(d4, d0), "mom": rel(p4, p0), "bad_step": int(bad_step)}
    # a NaN in one particle of the initial state: found at step 0, by its global index (on the
    # third device; it used to be found at step 1, by then spread to every particle: particle 0)
    _, _, bad_step, bad_ptcl = snap(disp.at[500, 1].set(jnp.nan), mom, 4)
    out["nan"] = {"bad_step": int(bad_step), "bad_ptcl": int(bad_ptcl)}
    # the first flagged particle over the devices, by global index
    mesh, decomp = device_mesh(cfg, 4)
    first = jax.shard_map(lambda m: decomp.first_true(m), mesh=mesh, in_specs=P(decomp.axis_name), out_specs=P())
    mask = jnp.zeros(cfg.num_ptcl, bool)
    out["first_true"] = {
        "500_and_700": [int(v) for v in first(mask.at[700].set(True).at[500].set(True))],
        "none": [int(v) for v in first(mask)],
    }
    # bad device settings: refused when simulate is traced (jax.eval_shape: the same checks as a
    # call, without running it op by op first)
    errors = {}
    for name, devices in (("three", 3), ("too_many", 5), ("zero", 0)):
        try:
            jax.eval_shape(lambda x, devices=devices: simulate(x, cosmo, cfg, devices=devices), noise)
            errors[name] = None
        except InputError as e:
            errors[name] = str(e)
    try:
        jax.eval_shape(lambda x: simulate(x, cosmo, cfg, adjoint="autodiff", devices=2), noise)
        errors["autodiff"] = None
    except InputError as e:
        errors["autodiff"] = str(e)
    out["errors"] = errors
    print(json.dumps(out))


if __name__ == "__main__":
    main()
