"""Steering a passive marker to a target shape: an observation predictor (OP) and a
control-force estimator (CFE), both U-Nets, with the differentiable flow solver in the loop.

Scene: ``n × n`` cells of unit size on a periodic square, inviscid, FFT pressure projection,
semi-Lagrangian advection, ``dt = 1``, ``num_steps`` steps. At each step:
  prediction = OP(marker, target, remaining / num_steps)          (the marker one step ahead)
  ψ          = CFE(marker, prediction, centred velocity)           (a stream function on corners)
  v          ← v + curl ψ   (exactly divergence-free on the staggered grid), then one solver step.
Shapes of equal area (circle, square, diamond, ellipse) with smooth edges at random positions
give start/target pairs; training and held-out pairs are drawn from different keys.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from astrograd._errors import InputError, check_positive
from astrograd.flow import PERIODIC, FlowConfig, Grid, centred_velocity, make_params, make_state, step
from astrograd.learn._nets import UNet, count_parameters
from astrograd.learn._train import load_weights, read_model_meta, save_model, train

SHAPES = ("circle", "square", "diamond", "ellipse")


def _check_int(name, v, low):
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise InputError(f"{name} = {v!r} is not allowed; it must be an integer >= {low}")
    return v


def control_config(n: int = 64) -> FlowConfig:
    """Periodic ``n × n`` unit cells, dt = 1, no viscosity, FFT projection."""
    _check_int("resolution n", n, 8)
    return FlowConfig(
        Grid(n, n, float(n), float(n)),
        PERIODIC,
        1.0,
        advection="semi-lagrangian",
        viscosity_scheme="none",
        pressure_solver="fft",
    )


def shape_marker(shape: int, centre, n: int, radius: float | None = None, edge: float = 0.75):
    """Marker ``(n, n)`` of shape index ``shape`` (into ``SHAPES``) centred at ``centre``
    (cells): all shapes have the area of a disc of ``radius`` (default n/10); smooth edge of
    width ~``edge`` cells; values in [0, 1]. Traceable in ``shape`` and ``centre``."""
    radius = n / 10 if radius is None else radius
    x = jnp.arange(n) + 0.5
    xx, yy = jnp.meshgrid(x, x, indexing="xy")
    dx, dy = xx - centre[0], yy - centre[1]
    r = radius
    d_circle = jnp.sqrt(dx**2 + dy**2) - r
    h = 0.5 * r * jnp.sqrt(jnp.pi)
    d_square = jnp.maximum(jnp.abs(dx), jnp.abs(dy)) - h
    d_diamond = (jnp.abs(dx) + jnp.abs(dy)) / jnp.sqrt(2.0) - h
    a, b = 1.6 * r, r / 1.6
    d_ellipse = (jnp.sqrt((dx / a) ** 2 + (dy / b) ** 2) - 1.0) * b
    d = jnp.stack([d_circle, d_square, d_diamond, d_ellipse])[shape]
    return jax.nn.sigmoid(-d / (0.5 * edge))


def make_pairs(key, count: int, n: int = 64):
    """``(start (count, n, n), target (count, n, n))`` marker pairs: random shapes at random
    centres in the middle half of the domain (different shape or place for start and target)."""
    _check_int("number of pairs", count, 1)
    ks, kc = jax.random.split(key)
    shapes = jax.random.randint(ks, (count, 2), 0, len(SHAPES))
    centres = jax.random.uniform(kc, (count, 2, 2), minval=0.25 * n, maxval=0.75 * n)
    f = jax.vmap(lambda s, c: shape_marker(s, c, n))
    return f(shapes[:, 0], centres[:, 0]), f(shapes[:, 1], centres[:, 1])


def curl_velocity(psi):
    """Divergence-free staggered velocity from a stream function ``psi (n, n)`` on the cell
    corners of a periodic unit grid: ``vx = ∂ψ/∂y`` ``(n, n+1)``, ``vy = −∂ψ/∂x`` ``(n+1, n)``."""
    vx = jnp.roll(psi, -1, axis=0) - psi
    vy = -(jnp.roll(psi, -1, axis=1) - psi)
    return jnp.concatenate([vx, vx[:, :1]], axis=1), jnp.concatenate([vy, vy[:1]], axis=0)


class ControlNets(eqx.Module):
    """OP: U-Net (marker, target, remaining fraction) -> next marker (residual on the marker).
    CFE: U-Net (marker, prediction, ux, uy) -> stream function ψ (1 channel)."""

    op: UNet
    cfe: UNet

    def __init__(self, *, channels: int = 16, levels: int = 3, key):
        k1, k2 = jax.random.split(key)
        self.op = UNet(3, 1, channels=channels, levels=levels, key=k1)
        self.cfe = UNet(4, 1, channels=channels, levels=levels, key=k2)

    def predict(self, marker, target, remaining):
        tau = jnp.full_like(marker, 1.0) * remaining
        return marker + self.op(jnp.stack([marker, target, tau]))[0]

    def stream_function(self, marker, prediction, vx, vy):
        ux, uy = centred_velocity(vx, vy)
        return self.cfe(jnp.stack([marker, prediction, ux, uy]))[0]


def controlled_rollout(nets: ControlNets, start, target, config: FlowConfig, num_steps: int, psi_direct=None):
    """Run ``num_steps`` controlled steps from ``start`` at rest. With ``psi_direct``
    ``(num_steps, n, n)`` the given stream functions are used instead of the networks.
    Returns ``(final marker (n, n), force energy Σ_k mean(Δvx²) + mean(Δvy²))``."""
    params = make_params(config, 0.0, dtype=start.dtype)
    s0 = make_state(config, marker=start, dtype=start.dtype)

    def body(s, k):
        if psi_direct is None:
            remaining = (num_steps - k).astype(start.dtype) / num_steps
            pred = nets.predict(s.marker, target, remaining)
            psi = nets.stream_function(s.marker, pred, s.vx, s.vy)
        else:
            psi = psi_direct[k]
        dvx, dvy = curl_velocity(psi)
        s = eqx.tree_at(lambda t: (t.vx, t.vy), s, (s.vx + dvx, s.vy + dvy))
        s = step(s, params, config)
        return s, jnp.mean(dvx**2) + jnp.mean(dvy**2)

    final, force = jax.lax.scan(jax.checkpoint(body), s0, jnp.arange(num_steps))
    return final.marker, jnp.sum(force)


def relative_mae(final, target):
    """``Σ|final − target| / Σ|target|`` per pair (last two axes)."""
    return jnp.abs(final - target).sum(axis=(-2, -1)) / jnp.abs(target).sum(axis=(-2, -1))


def _end_to_end_loss(nets, start, target, config, num_steps, force_weight):
    def one(s, t):
        final, force = controlled_rollout(nets, s, t, config, num_steps)
        return jnp.mean((final - t) ** 2) + force_weight * force

    return jnp.mean(jax.vmap(one)(start, target))


@dataclass
class ControlSettings:
    n: int = 64
    num_steps: int = 16
    channels: int = 16
    levels: int = 3
    train_pairs: int = 256
    test_pairs: int = 16
    batch: int = 8
    op_steps: int = 300
    cfe_steps: int = 300
    e2e_steps: int = 200
    learning_rate: float = 1e-3
    force_weight: float = 1e-3
    seed: int = 0

    def check(self):
        _check_int("resolution n", self.n, 8)
        if self.n % 2**self.levels:
            raise InputError(f"resolution n = {self.n} must be divisible by 2**levels = {2**self.levels}")
        for name in ("num_steps", "channels", "train_pairs", "test_pairs", "batch"):
            _check_int(name, getattr(self, name), 1)
        for name in ("op_steps", "cfe_steps", "e2e_steps", "levels"):
            _check_int(name, getattr(self, name), 0)
        check_positive("learning rate", self.learning_rate)
        check_positive("force weight", self.force_weight, allow_zero=True)


def train_control(
    settings: ControlSettings,
    out: str | Path,
    *,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 25,
    progress: bool = True,
) -> dict:
    """Staged training; writes the model file ``out`` and returns a summary.

    Stage 1 (OP, supervised): from a start marker and ``remaining`` steps, predict the blend
    ``m + (target − m) / remaining``. Stage 2 (CFE through one solver step, OP frozen): the
    marker after one controlled step from rest should match the OP prediction. Stage 3 (both, end
    to end through all ``num_steps`` steps): mean squared error of the final marker plus
    ``force_weight`` × the force energy. ``checkpoint``: each stage resumes from
    ``<checkpoint>.stage<k>``.
    """
    s = settings
    s.check()
    config = control_config(s.n)
    key = jax.random.key(s.seed)
    start, target = make_pairs(jax.random.fold_in(key, 10), s.train_pairs, s.n)
    nets = ControlNets(channels=s.channels, levels=s.levels, key=jax.random.fold_in(key, 1))
    n_pairs = s.train_pairs
    fp = {k: getattr(s, k) for k in s.__dataclass_fields__}
    ck = (lambda k: None) if checkpoint is None else (lambda k: f"{checkpoint}.stage{k}")
    t0 = time.perf_counter()
    summary = {}

    def draw(k):
        ki, kr = jax.random.split(k)
        return jax.random.randint(ki, (s.batch,), 0, n_pairs), jax.random.randint(kr, (s.batch,), 1, s.num_steps + 1)

    def op_loss(op_nets, b):
        idx, rem = b
        m, t = start[idx], target[idx]
        r = rem.astype(m.dtype)[:, None, None]
        goal = m + (t - m) / r
        pred = jax.vmap(op_nets.predict)(m, t, r[:, 0, 0] / s.num_steps)
        return jnp.mean((pred - goal) ** 2)

    res = train(
        op_loss,
        nets,
        draw,
        steps=s.op_steps,
        key=jax.random.fold_in(key, 2),
        learning_rate=s.learning_rate,
        checkpoint=ck(1),
        checkpoint_every=checkpoint_every,
        progress=progress,
        description="control OP",
        fingerprint=fp,
    )
    nets = res.model
    summary["op_loss"] = _first_last(res.losses)

    params = make_params(config, 0.0, dtype=start.dtype)
    op_frozen = jax.lax.stop_gradient(nets.op)

    def cfe_loss(cfe, b):
        idx, rem = b
        m, t = start[idx], target[idx]

        def one(m1, t1, r):
            full = eqx.tree_at(lambda x: x.cfe, nets, cfe)
            full = eqx.tree_at(lambda x: x.op, full, op_frozen)
            pred = full.predict(m1, t1, r / s.num_steps)
            st = make_state(config, marker=m1, dtype=m1.dtype)
            psi = full.stream_function(m1, pred, st.vx, st.vy)
            dvx, dvy = curl_velocity(psi)
            st = eqx.tree_at(lambda x: (x.vx, x.vy), st, (dvx, dvy))
            return jnp.mean((step(st, params, config).marker - pred) ** 2) + s.force_weight * (
                jnp.mean(dvx**2) + jnp.mean(dvy**2)
            )

        return jnp.mean(jax.vmap(one)(m, t, rem.astype(m.dtype)))

    res = train(
        cfe_loss,
        nets.cfe,
        draw,
        steps=s.cfe_steps,
        key=jax.random.fold_in(key, 3),
        learning_rate=s.learning_rate,
        checkpoint=ck(2),
        checkpoint_every=checkpoint_every,
        progress=progress,
        description="control CFE",
        fingerprint=fp,
    )
    nets = eqx.tree_at(lambda x: x.cfe, nets, res.model)
    summary["cfe_loss"] = _first_last(res.losses)

    def e2e_loss(both, b):
        idx, _ = b
        return _end_to_end_loss(both, start[idx], target[idx], config, s.num_steps, s.force_weight)

    res = train(
        e2e_loss,
        nets,
        draw,
        steps=s.e2e_steps,
        key=jax.random.fold_in(key, 4),
        learning_rate=s.learning_rate,
        checkpoint=ck(3),
        checkpoint_every=checkpoint_every,
        progress=progress,
        description="control end-to-end",
        fingerprint=fp,
    )
    nets = res.model
    summary["e2e_loss"] = _first_last(res.losses)
    meta = {"kind": "control", "settings": fp}
    save_model(out, nets, meta)
    summary.update({"out": str(out), "parameters": count_parameters(nets), "seconds": time.perf_counter() - t0})
    return summary


def _first_last(losses):
    return [float(losses[0]), float(losses[-1])] if len(losses) else []


def load_control(path: str | Path) -> tuple[ControlNets, ControlSettings]:
    meta = read_model_meta(path)
    if meta.get("kind") != "control":
        raise InputError(f"{str(path)!r} is not a control-train model file (kind {meta.get('kind')!r})")
    s = ControlSettings(**meta["settings"])
    return load_weights(path, ControlNets(channels=s.channels, levels=s.levels, key=jax.random.key(0))), s


def direct_optimisation(
    start,
    target,
    config,
    num_steps: int,
    *,
    iterations: int = 100,
    learning_rate: float = 0.05,
    force_weight: float = 1e-3,
):
    """Optimise the ``num_steps`` stream functions of one instance with Adam through the solver
    (same loss as end-to-end training). Returns ``(final marker, losses (iterations,))``."""
    n = start.shape[-1]
    psi0 = jnp.zeros((num_steps, n, n), start.dtype)
    opt = optax.adam(learning_rate)

    def loss(psi):
        final, force = controlled_rollout(None, start, target, config, num_steps, psi_direct=psi)
        return jnp.mean((final - target) ** 2) + force_weight * force

    @jax.jit
    def run(psi):
        def body(carry, _):
            p, st = carry
            v, g = jax.value_and_grad(loss)(p)
            u, st = opt.update(g, st, p)
            return (optax.apply_updates(p, u), st), v

        (p, _), losses = jax.lax.scan(body, (psi, opt.init(psi)), None, length=iterations)
        final, _ = controlled_rollout(None, start, target, config, num_steps, psi_direct=p)
        return final, losses

    return run(psi0)


def evaluate_control(
    model: str | Path,
    *,
    pairs: int | None = None,
    direct_iterations: int = 100,
    direct_learning_rate: float = 0.05,
    direct_pairs: int | None = None,
    seed: int | None = None,
) -> dict:
    """Held-out evaluation: relative MAE of the final marker for (a) no control, (b) the
    networks, (c) direct per-instance optimisation (``direct_iterations`` Adam steps), with the
    time per instance of (b) and (c) (after compilation)."""
    nets, s = load_control(model)
    _check_int("direct iterations", direct_iterations, 1)
    pairs = s.test_pairs if pairs is None else _check_int("pairs", pairs, 1)
    direct_pairs = min(pairs, 4) if direct_pairs is None else _check_int("direct pairs", direct_pairs, 0)
    config = control_config(s.n)
    seed = s.seed if seed is None else seed
    start, target = make_pairs(jax.random.fold_in(jax.random.key(seed), 20), pairs, s.n)
    rollout = eqx.filter_jit(jax.vmap(lambda m, t: controlled_rollout(nets, m, t, config, s.num_steps)[0]))
    rollout(start[:1], target[:1]).block_until_ready()
    t0 = time.perf_counter()
    finals = rollout(start, target).block_until_ready()
    net_time = (time.perf_counter() - t0) / pairs
    result = {
        "pairs": pairs,
        "n": s.n,
        "num_steps": s.num_steps,
        "mae_uncontrolled": np.asarray(relative_mae(start, target)),
        "mae_networks": np.asarray(relative_mae(finals, target)),
        "seconds_per_instance_networks": net_time,
        "start": np.asarray(start),
        "target": np.asarray(target),
        "final_networks": np.asarray(finals),
    }
    direct_maes, direct_finals, times = [], [], []
    for i in range(direct_pairs):
        t0 = time.perf_counter()
        final, losses = direct_optimisation(
            start[i],
            target[i],
            config,
            s.num_steps,
            iterations=direct_iterations,
            learning_rate=direct_learning_rate,
            force_weight=s.force_weight,
        )
        final.block_until_ready()
        times.append(time.perf_counter() - t0)
        direct_maes.append(float(relative_mae(final, target[i])))
        direct_finals.append(np.asarray(final))
    result["mae_direct"] = np.asarray(direct_maes)
    result["final_direct"] = np.asarray(direct_finals)
    # The first direct run includes compilation; report the others when there are any.
    result["seconds_per_instance_direct"] = float(np.mean(times[1:] if len(times) > 1 else times)) if times else None
    result["direct_iterations"] = direct_iterations
    return result
