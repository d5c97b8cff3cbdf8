"""Range, apex and time of flight of a sampled trajectory (differentiable, cubic Hermite)."""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

from astrograd._errors import SimulationError
from astrograd.orbit._model import Trajectory

__all__ = ["Apex", "Landing", "apex", "landing", "require_landed"]

_NEWTON_ITERATIONS = 4


class Landing(NamedTuple):
    """First ground crossing (y = 0, descending) after launch.

    time: time of flight (s). distance: range x at landing (m). landed: False if the trajectory
    never came back to the ground (then time and distance are those of the last sample).
    """

    time: Float[Array, ""]
    distance: Float[Array, ""]
    landed: Bool[Array, ""]


class Apex(NamedTuple):
    """Highest point: ``time`` (s), ``distance`` x (m), ``height`` y (m); ``found``: False if
    the vertical velocity never turned from > 0 to <= 0 (then the values of the last sample)."""

    time: Float[Array, ""]
    distance: Float[Array, ""]
    height: Float[Array, ""]
    found: Bool[Array, ""]


def _hermite(p0, m0, p1, m1, h, s):
    """Cubic Hermite interpolant on [0, 1] with end values p and end slopes m (per unit time h)."""
    s2, s3 = s * s, s * s * s
    return (2 * s3 - 3 * s2 + 1) * p0 + (s3 - 2 * s2 + s) * h * m0 + (-2 * s3 + 3 * s2) * p1 + (s3 - s2) * h * m1


def _hermite_ds(p0, m0, p1, m1, h, s):
    s2 = s * s
    return (6 * s2 - 6 * s) * p0 + (3 * s2 - 4 * s + 1) * h * m0 + (-6 * s2 + 6 * s) * p1 + (3 * s2 - 2 * s) * h * m1


def _hermite_ds2(p0, m0, p1, m1, h, s):
    return (12 * s - 6) * p0 + (6 * s - 4) * h * m0 + (-12 * s + 6) * p1 + (6 * s - 2) * h * m1


def _interval(mask: Bool[Array, " n"]):
    """Index i >= 1 of the first True entry of mask[1:], and whether there is one."""
    found = jnp.any(mask[1:])
    i = 1 + jnp.argmax(mask[1:])
    return jnp.where(found, i, mask.shape[0] - 1), found


def landing(traj: Trajectory) -> Landing:
    """Time of flight and range: the first sample interval in which the height changes from
    ``>= 0`` to ``< 0``; inside it the crossing of the cubic Hermite interpolant of (y, v_y) is
    found by Newton's method, and x is interpolated the same way with (x, v_x). Exact for
    drag-free flight sampled exactly (the path is a parabola); O(dt⁴) otherwise.
    Differentiable with respect to everything that shaped the trajectory.
    """
    t, pos, vel = traj
    y = pos[:, 1]
    crossing = jnp.concatenate([jnp.zeros(1, bool), (y[:-1] >= 0) & (y[1:] < 0)])
    i, landed = _interval(crossing)
    h = t[i] - t[i - 1]
    y0, y1, vy0, vy1 = y[i - 1], y[i], vel[i - 1, 1], vel[i, 1]
    s = y0 / (y0 - y1)  # linear guess, in [0, 1)
    for _ in range(_NEWTON_ITERATIONS):
        slope = _hermite_ds(y0, vy0, y1, vy1, h, s)
        s = jnp.clip(s - _hermite(y0, vy0, y1, vy1, h, s) / jnp.where(slope == 0, -1.0, slope), 0.0, 1.0)
    x = _hermite(pos[i - 1, 0], vel[i - 1, 0], pos[i, 0], vel[i, 0], h, s)
    # not landed: the last sample, as documented (the interpolant of the last interval gave a
    # time inside it, e.g. its start for a ball still rising)
    return Landing(jnp.where(landed, t[i - 1] + s * h, t[-1]), jnp.where(landed, x, pos[-1, 0]), landed)


def apex(traj: Trajectory) -> Apex:
    """Highest point: the first interval where v_y changes from > 0 to <= 0; inside it the
    maximum of the cubic Hermite interpolant of (y, v_y) (Newton on its derivative)."""
    t, pos, vel = traj
    vy = vel[:, 1]
    turn = jnp.concatenate([jnp.zeros(1, bool), (vy[:-1] > 0) & (vy[1:] <= 0)])
    i, found = _interval(turn)
    h = t[i] - t[i - 1]
    y0, y1, vy0, vy1 = pos[i - 1, 1], pos[i, 1], vy[i - 1], vy[i]
    s = vy0 / jnp.where(vy0 - vy1 == 0, 1.0, vy0 - vy1)
    for _ in range(_NEWTON_ITERATIONS):
        curv = _hermite_ds2(y0, vy0, y1, vy1, h, s)
        s = jnp.clip(s - _hermite_ds(y0, vy0, y1, vy1, h, s) / jnp.where(curv == 0, -1.0, curv), 0.0, 1.0)
    height = _hermite(y0, vy0, y1, vy1, h, s)
    x = _hermite(pos[i - 1, 0], vel[i - 1, 0], pos[i, 0], vel[i, 0], h, s)
    last = (t[-1], pos[-1, 0], pos[-1, 1])  # not found: the last sample, as for landing
    return Apex(*(jnp.where(found, a, b) for a, b in zip((t[i - 1] + s * h, x, height), last, strict=True)), found)


def require_landed(result: Landing, traj: Trajectory) -> None:
    """Raise SimulationError if the trajectory did not reach the ground (concrete values only)."""
    if not bool(np.asarray(result.landed)):
        raise SimulationError(
            f"the projectile had not landed by t = {float(traj.time[-1]):.6g} s (height "
            f"{float(traj.position[-1, 1]):.6g} m); increase num_steps or dt"
        )
