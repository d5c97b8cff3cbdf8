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

from astrograd._errors import (
    INT32_MAX,
    InputError,
    check_bool,
    check_choice,
    check_finite_array,
    check_in_range,
    check_int,
    check_key,
    check_positive,
    check_seed,
    is_concrete,
)
from astrograd.flow import PERIODIC, FlowConfig, Grid, centred_velocity, make_params, make_state, step
from astrograd.io._paths import file_to_write
from astrograd.learn._nets import UNet, count_parameters
from astrograd.learn._train import load_weights, read_model_meta, save_model, train

SHAPES = ("circle", "square", "diamond", "ellipse")


def control_config(n: int = 64) -> FlowConfig:
    """Periodic ``n × n`` unit cells, dt = 1, no viscosity, FFT projection."""
    check_int("resolution n", n, 8)
    return FlowConfig(
        Grid(n, n, float(n), float(n)),
        PERIODIC,
        1.0,
        advection="semi-lagrangian",
        viscosity_scheme="none",
        pressure_solver="fft",
    )


def shape_distance(shape: int, centre, n: int, radius: float | None = None):
    """Signed distance (cells, negative inside) to the edge of shape index ``shape`` (into
    ``SHAPES``) centred at ``centre`` on an ``(n, n)`` grid of unit cells; every shape has the
    area of a disc of ``radius`` (default n/10). Traceable in ``shape`` and ``centre``."""
    _check_shape_args(shape, centre, n, radius)
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
    return jnp.stack([d_circle, d_square, d_diamond, d_ellipse])[shape]


def _check_shape_args(shape, centre, n, radius) -> None:
    """Raise InputError on a bad resolution, radius, or (when concrete) shape index or centre."""
    check_int("resolution n", n, 1)
    if radius is not None and is_concrete(radius):
        check_positive("radius", radius)
    if is_concrete(shape):
        s = np.asarray(shape)
        if s.dtype.kind not in "iu" or s.ndim or not 0 <= s < len(SHAPES):
            raise InputError(
                f"shape = {shape!r} is not allowed; it must be an index 0 to {len(SHAPES) - 1} into SHAPES {SHAPES}"
            )
    if is_concrete(centre):
        try:
            c = np.asarray(centre, dtype=float)
        except (TypeError, ValueError):
            c = None
        if c is None or c.shape != (2,):
            raise InputError(f"centre = {centre!r} is not allowed; it must be a pair of numbers (x, y)")
        check_finite_array("centre", c)


def _edge(d, edge: float):
    return jax.nn.sigmoid(-d / (0.5 * edge))


def shape_marker(shape: int, centre, n: int, radius: float | None = None, edge: float = 0.75):
    """Marker ``(n, n)`` of shape index ``shape`` (into ``SHAPES``) centred at ``centre``
    (cells): all shapes have the area of a disc of ``radius`` (default n/10); smooth edge of
    width ~``edge`` cells; values in [0, 1]. Traceable in ``shape`` and ``centre``."""
    if is_concrete(edge):
        check_positive("edge", edge)
    return _edge(shape_distance(shape, centre, n, radius), edge)


def draw_pairs(key, count: int, n: int = 64):
    """Shape indices ``(count, 2)`` and centres ``(count, 2, 2)`` (start, target) of
    ``count`` pairs, centres uniform in the middle half of the domain."""
    check_key("key", key)
    check_int("number of pairs", count, 1)
    check_int("resolution n", n, 1)
    ks, kc = jax.random.split(key)
    shapes = jax.random.randint(ks, (count, 2), 0, len(SHAPES))
    centres = jax.random.uniform(kc, (count, 2, 2), minval=0.25 * n, maxval=0.75 * n)
    return shapes, centres


def pair_markers(shapes, centres, n: int):
    """``(start, target)`` markers ``(count, n, n)`` of the pairs given by :func:`draw_pairs`."""
    f = jax.vmap(lambda s, c: shape_marker(s, c, n))
    return f(shapes[:, 0], centres[:, 0]), f(shapes[:, 1], centres[:, 1])


def make_pairs(key, count: int, n: int = 64):
    """``(start (count, n, n), target (count, n, n))`` marker pairs: random shapes at random
    centres in the middle half of the domain (different shape or place for start and target)."""
    return pair_markers(*draw_pairs(key, count, n), n)


def path_marker(shapes, centres, fraction, n: int, edge: float = 0.75):
    """The marker a fraction ``fraction`` ∈ [0, 1] of the way from start to target along a
    reference path: the centre moves on the straight line between the two centres and the
    outline morphs by blending the two signed distances, so every marker on the path is a sharp
    shape of about the same area (reachable by advection, unlike a cross-fade)."""
    if is_concrete(fraction):
        check_in_range("fraction", fraction, 0.0, 1.0)
    if is_concrete(edge):
        check_positive("edge", edge)
    c = (1.0 - fraction) * centres[0] + fraction * centres[1]
    d0, d1 = shape_distance(shapes[0], c, n), shape_distance(shapes[1], c, n)
    d = (1.0 - fraction) * d0 + fraction * d1
    # blended distances enclose up to ~10 % less area; incompressible advection keeps the area,
    # so shift the level set until it does too (Newton on the offset)
    area = (1.0 - fraction) * _edge(d0, edge).sum() + fraction * _edge(d1, edge).sum()
    offset = jnp.zeros((), d.dtype)
    for _ in range(4):
        m = _edge(d - offset, edge)
        offset = offset + (area - m.sum()) / (jnp.sum(m * (1.0 - m)) / (0.5 * edge))
    return _edge(d - offset, edge)


def smoothed_error(final, target, scales):
    """``Σ_σ ‖G_σ ∗ (final − target)‖² / ‖G_σ ∗ target‖²`` over the Gaussian widths ``scales``
    (cells; 0 = no smoothing) on the periodic grid. The wide scales reach markers that do not
    overlap their target (the plain squared error has no gradient pulling a marker across empty
    space); σ = 0 alone is the relative squared error."""
    scales = tuple(scales)
    if not scales:
        raise InputError("scales is empty; give at least one Gaussian width (0 = no smoothing)")
    _check_nonzero_target(target)
    for sigma in scales:
        check_positive("scale", sigma, allow_zero=True)
    n0, n1 = final.shape[-2:]
    k0 = 2 * jnp.pi * jnp.fft.fftfreq(n0)[:, None]
    k1 = 2 * jnp.pi * jnp.fft.fftfreq(n1)[None, :]
    k2 = (k0**2 + k1**2).astype(final.dtype)
    d2 = jnp.abs(jnp.fft.fft2(final - target)) ** 2
    t2 = jnp.abs(jnp.fft.fft2(target)) ** 2
    total = 0.0
    for sigma in scales:
        g2 = jnp.exp(-k2 * float(sigma) ** 2)
        total = total + jnp.sum(g2 * d2, axis=(-2, -1)) / jnp.sum(g2 * t2, axis=(-2, -1))
    return total


LOSSES = ("multiscale", "mse")
OP_TARGETS = ("path", "blend")


def loss_scales(n: int, loss: str) -> tuple[float, ...]:
    """Gaussian widths of :func:`smoothed_error`: ``(0, n/32, n/16, n/8, n/4)`` for
    ``multiscale``, ``(0,)`` for ``mse``."""
    return (0.0, n / 32, n / 16, n / 8, n / 4) if loss == "multiscale" else (0.0,)


def curl_velocity(psi):
    """Divergence-free staggered velocity from a stream function ``psi (n, n)`` on the cell
    corners of a periodic unit grid: ``vx = ∂ψ/∂y`` ``(n, n+1)``, ``vy = −∂ψ/∂x`` ``(n+1, n)``."""
    vx = jnp.roll(psi, -1, axis=0) - psi
    vy = -(jnp.roll(psi, -1, axis=1) - psi)
    return jnp.concatenate([vx, vx[:, :1]], axis=1), jnp.concatenate([vy, vy[:1]], axis=0)


def _small_head(net: UNet) -> UNet:
    return eqx.tree_at(lambda x: (x.head.weight, x.head.bias), net, (0.01 * net.head.weight, 0.0 * net.head.bias))


class ControlNets(eqx.Module):
    """OP: U-Net (marker, target, remaining fraction) -> next marker (residual on the marker).
    CFE: U-Net (marker, prediction, ux, uy) -> stream function ψ (1 channel)."""

    op: UNet
    cfe: UNet

    def __init__(self, *, channels: int = 16, levels: int = 3, key):
        check_key("key", key)
        k1, k2 = jax.random.split(key)
        # small output layers: the OP starts close to "no change", the CFE close to "no force"
        self.op = _small_head(UNet(3, 1, channels=channels, levels=levels, key=k1))
        self.cfe = _small_head(UNet(4, 1, channels=channels, levels=levels, key=k2))

    def predict(self, marker, target, remaining):
        tau = jnp.full_like(marker, 1.0) * remaining
        return marker + self.op(jnp.stack([marker, target, tau]))[0]

    def stream_function(self, marker, prediction, vx, vy):
        ux, uy = centred_velocity(vx, vy)
        return self.cfe(jnp.stack([marker, prediction, ux, uy]))[0]


def _apply_control(s, psi, params, config: FlowConfig):
    """``v ← v + curl ψ`` then one solver step: (new state, force energy mean(Δvx²) + mean(Δvy²))."""
    dvx, dvy = curl_velocity(psi)
    s = eqx.tree_at(lambda t: (t.vx, t.vy), s, (s.vx + dvx, s.vy + dvy))
    return step(s, params, config), jnp.mean(dvx**2) + jnp.mean(dvy**2)


def _network_control(nets: ControlNets, s, target, remaining):
    """(OP prediction, CFE stream function) at state ``s``."""
    pred = nets.predict(s.marker, target, remaining)
    return pred, nets.stream_function(s.marker, pred, s.vx, s.vy)


def controlled_rollout(nets: ControlNets, start, target, config: FlowConfig, num_steps: int, psi_direct=None):
    """Run ``num_steps`` controlled steps from ``start`` at rest. With ``psi_direct``
    ``(num_steps, n, n)`` the given stream functions are used instead of the networks.
    Returns ``(final marker (n, n), force energy Σ_k mean(Δvx²) + mean(Δvy²))``."""
    check_int("num_steps", num_steps, 1)
    params = make_params(config, 0.0, dtype=start.dtype)
    s0 = make_state(config, marker=start, dtype=start.dtype)
    shape = (num_steps, config.grid.ny, config.grid.nx)
    if psi_direct is not None and jnp.shape(psi_direct) != shape:
        raise InputError(f"psi_direct has shape {jnp.shape(psi_direct)}; it must be (num_steps, n, n) = {shape}")

    def body(s, k):
        if psi_direct is None:
            _, psi = _network_control(nets, s, target, (num_steps - k).astype(start.dtype) / num_steps)
        else:
            psi = psi_direct[k]
        return _apply_control(s, psi, params, config)

    if psi_direct is None:
        # Fully unrolled: XLA on CPU runs convolutions inside a while loop several times slower
        # (64×64, 16 steps, U-Nets 16 ch × 3 levels, batch 8: one end-to-end gradient 63 s as a
        # checkpointed scan, 3.0 s unrolled; benchmarks/bench_learn_control.py). Compile time
        # grows with num_steps instead.
        final, force = jax.lax.scan(body, s0, jnp.arange(num_steps), unroll=True)
    else:
        final, force = jax.lax.scan(jax.checkpoint(body), s0, jnp.arange(num_steps))
    return final.marker, jnp.sum(force)


def _check_nonzero_target(target) -> None:
    """A concrete target that is zero everywhere in a pair has no relative error (0/0: NaN)."""
    if is_concrete(target):
        empty = np.flatnonzero(np.abs(np.asarray(target)).reshape(-1, *np.shape(target)[-2:]).sum(axis=(-2, -1)) == 0)
        if empty.size:
            raise InputError(f"target {int(empty[0])} is zero everywhere; a relative error needs a marker in it")


def relative_mae(final, target):
    """``Σ|final − target| / Σ|target|`` per pair (last two axes)."""
    _check_nonzero_target(target)
    return jnp.abs(final - target).sum(axis=(-2, -1)) / jnp.abs(target).sum(axis=(-2, -1))


def control_objective(final, target, force, force_weight: float, scales):
    """The objective of end-to-end training and of direct optimisation, per pair:
    ``smoothed_error(final, target, scales) + force_weight × force``."""
    return smoothed_error(final, target, scales) + force_weight * force


def _end_to_end_loss(nets, start, target, config, num_steps, force_weight, scales):
    def one(s, t):
        final, force = controlled_rollout(nets, s, t, config, num_steps)
        return control_objective(final, t, force, force_weight, scales)

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
    op_steps: int = 200
    cfe_steps: int = 200
    e2e_steps: int = 400
    learning_rate: float = 1e-3
    force_weight: float = 1e-3
    seed: int = 0
    loss: str = "multiscale"
    op_target: str = "path"
    e2e_final_learning_rate: float = 1e-4
    clip_norm: float = 1.0

    def check(self):
        """Raise InputError on a bad setting; numbers are kept as the Python int or float they
        hold (a numpy integer made the model file's JSON header fail after all the training)."""
        self.n = check_int("resolution n", self.n, 8)
        self.levels = check_int("levels", self.levels, 0)
        if self.n % 2**self.levels:
            raise InputError(f"resolution n = {self.n} must be divisible by 2**levels = {2**self.levels}")
        for name in ("num_steps", "channels", "train_pairs", "test_pairs", "batch"):
            setattr(self, name, check_int(name, getattr(self, name), 1))
        for name in ("op_steps", "cfe_steps", "e2e_steps"):
            setattr(self, name, check_int(name, getattr(self, name), 0))
        # check_positive refuses a bool (True was taken as 1.0) and reads numeric text as the
        # number it holds, like every other config; the settings keep the float (the loss and
        # the checkpoint fingerprint use it)
        for field, name, zero in (
            ("learning_rate", "learning rate", False),
            ("force_weight", "force weight", True),
            ("e2e_final_learning_rate", "end-to-end final learning rate", False),
            ("clip_norm", "clip norm", False),
        ):
            setattr(self, field, check_positive(name, getattr(self, field), allow_zero=zero))
        check_choice("loss", self.loss, LOSSES)
        check_choice("OP target", self.op_target, OP_TARGETS)
        self.seed = check_seed(self.seed)


def train_control(
    settings: ControlSettings,
    out: str | Path,
    *,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 25,
    progress: bool = True,
) -> dict:
    """Staged training; writes the model file ``out`` and returns a summary.

    Stage 1 (OP, supervised): from a marker ``k`` steps along the pair's reference path
    (:func:`path_marker`; ``op_target="path"``) predict the marker at step ``k + 1``
    (``op_target="blend"``: from the start marker, the cross-fade ``m + (target − m)/remaining``).
    Stage 2 (CFE through one solver step, OP frozen): from a path marker, with the velocity left
    by one controlled step from the previous path marker (at rest for ``k = 0``), the marker
    after one controlled step should match the OP prediction (squared error + force). Stage 3
    (both, end to end through all ``num_steps`` steps): :func:`control_objective` of the final
    marker, gradients clipped to ``clip_norm``, the learning rate decaying on a cosine to
    ``e2e_final_learning_rate`` (through 16 chaotic steps a constant 1e-3 made the loss jump
    back up after ~100 updates). ``checkpoint``: each stage resumes from ``<checkpoint>.stage<k>``.
    """
    s = settings
    s.check()
    checkpoint_every = check_int("checkpoint_every", checkpoint_every, 1)  # before the pairs are made
    progress = check_bool("progress", progress)  # "no" would be truthy
    out = file_to_write(out, "control.npz")  # before training, not when saving its result
    config = control_config(s.n)
    key = jax.random.key(s.seed)
    pair_key = jax.random.fold_in(key, 10)
    shapes, centres = draw_pairs(pair_key, s.train_pairs, s.n)
    start, target = pair_markers(shapes, centres, s.n)
    nets = ControlNets(channels=s.channels, levels=s.levels, key=jax.random.fold_in(key, 1))
    n_pairs, N = s.train_pairs, s.num_steps
    scales = loss_scales(s.n, s.loss)
    fp = {k: getattr(s, k) for k in s.__dataclass_fields__}
    ck = (lambda k: None) if checkpoint is None else (lambda k: f"{checkpoint}.stage{k}")
    t0 = time.perf_counter()
    summary = {}
    path = jax.vmap(lambda sh, c, f: path_marker(sh, c, f, s.n))

    def draw(k):
        ki, kr = jax.random.split(k)
        return jax.random.randint(ki, (s.batch,), 0, n_pairs), jax.random.randint(kr, (s.batch,), 1, N + 1)

    def along(idx, rem, ahead=0.0):
        """Path markers ``N − rem`` steps (plus ``ahead`` × one step) along the reference path."""
        f = (N - rem).astype(start.dtype) / N
        return path(shapes[idx], centres[idx], f + ahead / N)

    def op_loss(op_nets, b):
        idx, rem = b
        t = target[idx]
        r = rem.astype(t.dtype)
        if s.op_target == "path":
            m, goal = along(idx, rem), along(idx, rem, 1.0)
        else:
            m = start[idx]
            goal = m + (t - m) / r[:, None, None]
        pred = jax.vmap(op_nets.predict)(m, t, r / N)
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

    def controlled_step(full, st, t1, r):
        pred, psi = _network_control(full, st, t1, r / N)
        return *_apply_control(st, psi, params, config), pred

    def cfe_loss(cfe, b):
        idx, rem = b
        t = target[idx]
        full = eqx.tree_at(lambda x: x.op, eqx.tree_at(lambda x: x.cfe, nets, cfe), op_frozen)

        def one(p1, m1, t1, r):
            st = make_state(config, marker=m1, dtype=m1.dtype)
            if s.op_target == "path":
                # the velocity left by a controlled step from the previous path marker (none at k = 0)
                prev = make_state(config, marker=p1, dtype=p1.dtype)
                warm, _, _ = controlled_step(jax.lax.stop_gradient(full), prev, t1, jnp.minimum(r + 1, N))
                moving = (r < N).astype(m1.dtype)
                st = eqx.tree_at(lambda x: (x.vx, x.vy), st, (moving * warm.vx, moving * warm.vy))
            nxt, force, pred = controlled_step(full, st, t1, r)
            return jnp.mean((nxt.marker - pred) ** 2) + s.force_weight * force

        if s.op_target == "path":
            prev, m = along(idx, jnp.minimum(rem + 1, N)), along(idx, rem)
        else:
            prev = m = start[idx]
        return jnp.mean(jax.vmap(one)(prev, m, t, rem.astype(t.dtype)))

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
        return _end_to_end_loss(both, start[idx], target[idx], config, N, s.force_weight, scales)

    res = train(
        e2e_loss,
        nets,
        draw,
        steps=s.e2e_steps,
        key=jax.random.fold_in(key, 4),
        learning_rate=s.learning_rate,
        final_learning_rate=s.e2e_final_learning_rate,
        clip_norm=s.clip_norm,
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


def read_control_settings(path: str | Path) -> ControlSettings:
    """The settings of a control-train model file (its header only; the weights are not read)."""
    meta = read_model_meta(path)
    if meta.get("kind") != "control":
        raise InputError(f"{str(path)!r} is not a control-train model file (kind {meta.get('kind')!r})")
    try:
        return ControlSettings(**meta["settings"])
    except (KeyError, TypeError) as err:
        raise InputError(f"{str(path)!r} is not a valid control-train model file (bad settings: {err})") from None


def evaluation_bytes_per_pair(s: ControlSettings) -> tuple[int, int]:
    """Lower bounds of the memory (bytes) one held-out pair takes in :func:`evaluate_control`, for
    the networks and for direct optimisation: all pairs run as one vmapped call. Networks: the
    float32 start, target, final marker, the solver's marker, vx, vy and pressure, and three
    images of ``channels`` channels (a convolution's input and output, the skip connection of the
    top level). Measured at 64² and 16 channels: 2.0 MB per pair, against 0.9 MB counted here.
    Direct: the ``num_steps`` stream functions, their gradient and Adam's two moments."""
    image = 4 * s.n * s.n
    return image * (7 + 3 * s.channels), image * 4 * s.num_steps


def training_bytes(s: ControlSettings) -> int:
    """A lower bound of the memory (bytes) :func:`train_control` takes: the float32 start and
    target markers of the training pairs; per pair of a batch, the images of
    :func:`evaluation_bytes_per_pair` once for every step the gradient goes back through (all
    ``num_steps`` in stage 3); one 3×3 ``channels``-to-``channels`` convolution per network with
    its Adam moments."""
    image = 4 * s.n * s.n
    steps = s.num_steps if s.e2e_steps else 1
    return image * (2 * s.train_pairs + s.batch * steps * (7 + 3 * s.channels)) + 2 * 3 * 9 * s.channels**2 * 4


def load_control(path: str | Path) -> tuple[ControlNets, ControlSettings]:
    s = read_control_settings(path)
    # the skeleton only gives the structure and shapes: built abstractly and filled with numpy
    # zeros, since an eager ControlNets compiles a random draw for each weight shape (seconds)
    skeleton = jax.tree.map(
        lambda x: np.zeros(x.shape, x.dtype) if isinstance(x, jax.ShapeDtypeStruct) else x,
        eqx.filter_eval_shape(ControlNets, channels=s.channels, levels=s.levels, key=jax.random.key(0)),
    )
    return load_weights(path, skeleton), s


def direct_optimisation(
    start,
    target,
    config,
    num_steps: int,
    *,
    iterations: int = 100,
    learning_rate: float = 0.05,
    force_weight: float = 1e-3,
    scales=(0.0,),
):
    """Optimise the ``num_steps`` stream functions of one instance with Adam through the solver
    (the objective of end-to-end training, :func:`control_objective`). Pure and traceable (vmap
    it over instances). Returns ``(final marker, losses (iterations,))``."""
    check_int("num_steps", num_steps, 1)
    check_int("iterations", iterations, 0)
    if is_concrete(learning_rate):
        check_positive("learning rate", learning_rate)
    if is_concrete(force_weight):
        check_positive("force weight", force_weight, allow_zero=True)
    n = start.shape[-1]
    psi0 = jnp.zeros((num_steps, n, n), start.dtype)
    opt = optax.adam(learning_rate)

    def loss(psi):
        final, force = controlled_rollout(None, start, target, config, num_steps, psi_direct=psi)
        return control_objective(final, target, force, force_weight, scales)

    def body(carry, _):
        p, st = carry
        v, g = jax.value_and_grad(loss)(p)
        u, st = opt.update(g, st, p)
        return (optax.apply_updates(p, u), st), v

    (p, _), losses = jax.lax.scan(body, (psi0, opt.init(psi0)), None, length=iterations)
    final, _ = controlled_rollout(None, start, target, config, num_steps, psi_direct=p)
    return final, losses


def _compiled_time(fn, *args):
    """Compile ``fn`` for ``args`` ahead of time, then run it once: (result, seconds of the run)."""
    compiled = jax.jit(fn).lower(*args).compile()
    t0 = time.perf_counter()
    out = jax.block_until_ready(compiled(*args))
    return out, time.perf_counter() - t0


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
    networks, (c) direct per-instance optimisation (``direct_iterations`` Adam steps on the
    training objective), with the time per instance of (b) and (c): each batch of instances run
    as one compiled, vmapped call (compilation excluded), divided by the number of instances.
    pairs: held-out pairs (default: ``test_pairs`` of the model's settings). direct_pairs: the
    first of them also solved by (c) (default: up to 4; at most ``pairs``)."""
    nets, s = load_control(model)
    # lax.scan's length: 10**20 was an MLIR TypeError traceback
    check_int("direct iterations", direct_iterations, 1, INT32_MAX)
    check_positive("direct learning rate", direct_learning_rate)
    if seed is not None:
        check_seed(seed)
    pairs = s.test_pairs if pairs is None else check_int("pairs", pairs, 1)
    if direct_pairs is None:
        direct_pairs = min(pairs, 4)
    else:  # more than the pairs was silently cut down to them
        direct_pairs = check_int("direct pairs", direct_pairs, 0)
        if direct_pairs > pairs:
            raise InputError(
                f"direct pairs = {direct_pairs} is not allowed; it must be at most the number of held-out "
                f"pairs = {pairs}"
            )
    config = control_config(s.n)
    seed = s.seed if seed is None else seed
    start, target = make_pairs(jax.random.fold_in(jax.random.key(seed), 20), pairs, s.n)
    params, static = eqx.partition(nets, eqx.is_array)

    def run_nets(p, m, t):
        net = eqx.combine(p, static)
        return jax.vmap(lambda a, b: controlled_rollout(net, a, b, config, s.num_steps)[0])(m, t)

    finals, net_seconds = _compiled_time(run_nets, params, start, target)
    result = {
        "pairs": pairs,
        "n": s.n,
        "num_steps": s.num_steps,
        "mae_uncontrolled": np.asarray(relative_mae(start, target)),
        "mae_networks": np.asarray(relative_mae(finals, target)),
        "seconds_per_instance_networks": net_seconds / pairs,
        "start": np.asarray(start),
        "target": np.asarray(target),
        "final_networks": np.asarray(finals),
    }
    result["mae_direct"] = np.zeros(0)
    result["final_direct"] = np.zeros((0, s.n, s.n))
    result["seconds_per_instance_direct"] = None
    if direct_pairs:
        scales = loss_scales(s.n, s.loss)

        def run_direct(m, t):
            return jax.vmap(
                lambda a, b: direct_optimisation(
                    a,
                    b,
                    config,
                    s.num_steps,
                    iterations=direct_iterations,
                    learning_rate=direct_learning_rate,
                    force_weight=s.force_weight,
                    scales=scales,
                )[0]
            )(m, t)

        final, seconds = _compiled_time(run_direct, start[:direct_pairs], target[:direct_pairs])
        result["mae_direct"] = np.asarray(relative_mae(final, target[:direct_pairs]))
        result["final_direct"] = np.asarray(final)
        result["seconds_per_instance_direct"] = seconds / direct_pairs
    result["direct_iterations"] = direct_iterations
    return result
