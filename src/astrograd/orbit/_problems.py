"""The three inverse problems of the ballistic throw: recover g, best angle, learn the drag."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from astrograd._errors import (
    InputError,
    SimulationError,
    check_bool,
    check_choice,
    check_in_range,
    check_int,
    check_key,
    check_positive,
)
from astrograd.inverse import fisher, fit, sensitivity
from astrograd.io._npz import sha256_of
from astrograd.orbit._model import (
    INTEGRATORS,
    Ballistics,
    ThrowConfig,
    Trajectory,
    check_trajectory,
    initial_velocity,
    simulate,
    steps_for_flight,
    throw,
)
from astrograd.orbit._observables import landing, require_landed

__all__ = [
    "AngleSearch",
    "DragNet",
    "DragLearning",
    "GravityFit",
    "best_angle",
    "fit_gravity",
    "learn_drag",
    "scan_range",
]


def _check_steps(name: str, steps) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps <= 0:
        raise InputError(f"{name} = {steps!r} is not allowed; it must be an integer > 0")
    return int(steps)


def _require_steps_in_air(dt, traj: Trajectory, what: str, purpose: str, needed: int = 1,
                          observed: bool = False) -> None:
    """InputError naming ``dt`` unless ``traj`` is above ground at ``needed`` steps after the
    launch at least (``observed``: say the steps are observations)."""
    in_air = int(np.count_nonzero(np.asarray(traj.position[1:, 1]) >= 0))
    if in_air < needed:
        raise InputError(
            f"dt = {float(dt):g} s is too long for {what}: the ball is {'observed ' if observed else ''}in the air "
            f"at {in_air} step(s) after the launch ({purpose} needs at least {needed}); lower dt"
        )


# ---------------------------------------------------------------------------------------------
# 1. Recover g (and optionally the launch velocity) from an observed trajectory
# ---------------------------------------------------------------------------------------------


@dataclass
class GravityFit:
    """Result of :func:`fit_gravity`.

    g: fitted gravity (m/s²); g_true; relative_error = |g − g_true| / g_true.
    velocity0: fitted (joint fit) or known launch velocity (2,) m/s; velocity0_true.
    iterations: optimiser updates taken (stops when the gradient norm reaches ``tol``).
    iterations_to_1e3: first iteration after which |g − g_true|/g_true stays below 1e-3
      (None if never). losses: (iterations+1,) mean squared position error (m²).
    g_history: (iterations+1,) g after each update.
    observed / fitted / initial: trajectories (data, final model, starting guess).
    g_standard_error: Cramér–Rao standard error of g (m/s²) from the Fisher matrix of the fitted
      parameters for the given noise (marginalised over the velocity in a joint fit); None when
      noise = 0.
    """

    g: float
    g_true: float
    relative_error: float
    velocity0: np.ndarray
    velocity0_true: np.ndarray
    iterations: int
    iterations_to_1e3: int | None
    losses: np.ndarray
    g_history: np.ndarray
    observed: Trajectory
    fitted: Trajectory
    initial: Trajectory
    joint: bool = False
    g_standard_error: float | None = None


def fit_gravity(
    *,
    g_true: float = 2.5,
    g_init: float = 15.0,
    speed: float = 10.0,
    angle_deg: float = 60.0,
    dt: float = 0.05,
    integrator: str = "rk4",
    noise: float = 0.0,
    key: jax.Array | None = None,
    joint: bool = False,
    speed_init: float | None = None,
    angle_init_deg: float | None = None,
    optimizer: str = "adam",
    learning_rate: float | None = None,
    steps: int = 2000,
    tol: float = 1e-7,
    checkpoint=None,
    progress: bool = False,
) -> GravityFit:
    """Recover g from a trajectory thrown under ``g_true`` (m/s²), starting at ``g_init``.

    The observation is the whole sampled path (positions at every step until the ball lands;
    plus Gaussian noise of standard deviation ``noise`` metres drawn with ``key``, which is refused
    with ``noise = 0``). The loss is the
    mean squared distance between observed and simulated positions (m²), differentiated through
    every integrator step. ``joint=True`` also fits the launch velocity vector, starting from
    ``speed_init`` at ``angle_init_deg`` (defaults: 20 % slower and 10° flatter than the truth).
    optimizer: ``"adam"`` (with ``learning_rate``, default 0.1) or ``"lbfgs"`` (line search, so
    no ``learning_rate``; the joint fit is ill-conditioned — g and v_y are strongly correlated —
    and L-BFGS needs far fewer steps).
    """
    # the checked numbers, not the raw values: numeric text ("2.5") passed the check and was a
    # TypeError later
    g_true, g_init, speed, dt = (check_positive(name, value) for name, value in
                                 (("g_true", g_true), ("g_init", g_init), ("speed", speed), ("dt", dt)))
    check_choice("optimizer", optimizer, ("adam", "lbfgs"))
    joint = check_bool("joint", joint)  # "no" would be truthy
    # settings the fit does not use were accepted and ignored
    if optimizer == "lbfgs" and learning_rate is not None:
        raise InputError(
            f"learning_rate = {learning_rate!r} is not allowed with optimizer 'lbfgs'; it uses a line search"
        )
    for name, value in (("speed_init", speed_init), ("angle_init_deg", angle_init_deg)):
        if value is not None and not joint:
            raise InputError(f"{name} = {value!r} is not allowed without joint=True; it starts the joint fit")
    if optimizer == "adam":
        learning_rate = check_positive("learning_rate", 0.1 if learning_rate is None else learning_rate)
    noise = check_positive("noise", noise, allow_zero=True)
    angle_deg = check_in_range("angle", angle_deg, 0.0, 90.0, low_open=True, high_open=True)
    check_choice("integrator", integrator, INTEGRATORS)
    steps = _check_steps("steps", steps)
    if noise > 0 and key is None:
        raise InputError("noise > 0 needs an explicit PRNG key (key=jax.random.key(...))")
    if key is not None:
        check_key("key", key)
        if noise == 0:  # it used to be accepted and ignored
            raise InputError("key is not allowed with noise = 0; it draws the noise on the observations")
    if speed_init is not None:
        speed_init = check_positive("speed_init", speed_init)
    if angle_init_deg is not None:
        angle_init_deg = check_in_range("angle_init_deg", angle_init_deg, 0.0, 90.0, low_open=True, high_open=True)

    v0_true = initial_velocity(speed, angle_deg)
    config = ThrowConfig(dt, steps_for_flight(speed, angle_deg, g_true, dt, margin=1.0), integrator)
    observed = simulate(jnp.zeros(2), v0_true, Ballistics(g_true), config)
    check_trajectory(observed)
    # a dt as long as the flight left only the launch point, which no g changes: the loss was 0
    # and g_init came back as the result (0 iterations, no error); the joint fit has 3 unknowns
    _require_steps_in_air(dt, observed, "this throw", f"the {'joint ' if joint else ''}fit", needed=2 if joint else 1,
                          observed=True)
    in_air = np.flatnonzero(np.asarray(observed.position[:, 1]) >= 0)
    data = observed.position[in_air]
    if noise > 0:
        # a variance noise² of 0 or inf was refused later as "noise_covariance contains 0.0", or
        # stopped the fit with "loss or gradient became non-finite"
        finfo = np.finfo(data.dtype)
        low, high = float(np.sqrt(finfo.tiny)), float(np.sqrt(finfo.max))
        if not low <= noise <= high:
            raise InputError(
                f"noise = {noise:g} is not allowed; its variance noise² is not a finite number > 0 in {finfo.dtype}: "
                f"it must be 0 or lie in [{low:.3g}, {high:.3g}] m"
            )
        data = data + noise * jax.random.normal(key, data.shape, dtype=data.dtype)

    if joint:
        v_guess = initial_velocity(
            0.8 * speed if speed_init is None else speed_init,
            max(angle_deg - 10.0, 1.0) if angle_init_deg is None else angle_init_deg,
        )
        params0 = {"g": jnp.asarray(g_init, dtype=float), "v0": v_guess}
    else:
        params0 = {"g": jnp.asarray(g_init, dtype=float)}

    def model(p):
        v0 = p["v0"] if joint else v0_true
        return simulate(jnp.zeros(2, dtype=v0.dtype), v0, Ballistics(p["g"]), config)

    def loss(p):
        sim = model(p).position[in_air]
        return jnp.mean(jnp.sum((sim - data) ** 2, axis=-1))

    try:
        res = fit(loss, params0, optimizer=optimizer, learning_rate=learning_rate, steps=steps, tol=tol,
                  checkpoint=checkpoint, progress=progress, description="fit g",
                  fingerprint={"problem": "fit_gravity", "data_sha256": sha256_of(data), "joint": joint,
                               "dt": dt, "integrator": integrator})
    except SimulationError:
        # "loss or gradient became non-finite ... at step 0" (or 1) named neither the starting guess
        # nor the learning rate; checked here, where it failed, so that a fit that runs pays nothing
        _check_fit_start(loss, params0, "g_init" if speed_init is None else "the starting guess",
                         learning_rate if optimizer == "adam" else None)
        raise
    g_hist = np.asarray(res.params_history["g"])
    rel_hist = np.abs(g_hist - g_true) / g_true
    bad = np.flatnonzero(rel_hist >= 1e-3)
    first_good = 0 if bad.size == 0 else int(bad[-1]) + 1
    g_fit = float(res.params["g"])
    if not g_fit > 0:  # was "g = -3.16886 is not allowed" (the CLI: "--g", best-angle's option)
        ended = f"ended at g = {g_fit:g} m/s² after {res.steps} steps, which is not a gravity > 0"
        if optimizer == "adam":
            raise InputError(f"learning_rate = {learning_rate:g} is too large for this fit: Adam {ended}; give a "
                             "smaller learning rate")
        raise InputError(f"the L-BFGS fit {ended}; give a starting guess g_init nearer the truth")
    fitted = model(res.params)
    check_trajectory(fitted)
    g_error = None
    if noise > 0:
        # ravel order of the dict is g first, then v0
        S = sensitivity(lambda p: model(p).position[in_air], res.params, mode="forward")
        g_error = float(np.sqrt(np.linalg.inv(np.asarray(fisher(S, noise**2)))[0, 0]))
    return GravityFit(
        g=g_fit,
        g_true=float(g_true),
        relative_error=abs(g_fit - g_true) / g_true,
        velocity0=np.asarray(res.params["v0"] if joint else v0_true),
        velocity0_true=np.asarray(v0_true),
        iterations=res.steps,
        iterations_to_1e3=first_good if first_good < len(g_hist) else None,
        losses=res.losses,
        g_history=g_hist,
        observed=observed,
        fitted=fitted,
        initial=model(params0),
        joint=joint,
        g_standard_error=g_error,
    )


def _check_fit_start(loss, params0: dict, start_name: str, learning_rate: float | None) -> None:
    """An InputError naming the starting guess (``start_name``, e.g. "g_init") if the loss (m²) or
    its gradient is not finite there, or the Adam ``learning_rate`` if it is not finite after the
    first step, which moves each parameter by the learning rate (Adam's first update is
    ``learning_rate * grad / (|grad| + eps)``): the simulated positions overflow. Nothing if both
    are finite."""

    def finite(tree) -> bool:
        return all(bool(np.all(np.isfinite(np.asarray(a)))) for a in jax.tree.leaves(tree))

    value_and_grad = jax.jit(jax.value_and_grad(loss))
    value, grad = value_and_grad(params0)
    g0 = float(params0["g"])
    if not (finite(value) and finite(grad)):
        shown = f"g_init = {g0:g}" if start_name == "g_init" else start_name + f" (g = {g0:g} m/s²)"
        raise InputError(f"{shown} is not allowed for this throw; the loss or its gradient is not a finite number "
                         f"there (loss = {float(value):g} m²): the simulated positions overflow. Give a starting "
                         "guess nearer the observed trajectory")
    if learning_rate is None:
        return
    params1 = jax.tree.map(lambda p, d: p - learning_rate * jnp.sign(d), params0, grad)
    value1, grad1 = value_and_grad(params1)
    if not (finite(params1) and finite(value1) and finite(grad1)):
        raise InputError(f"learning_rate = {learning_rate:g} is not allowed for this fit; Adam's first step moves g "
                         f"by the learning rate, from {g0:g} to {float(params1['g']):g} m/s², where the loss or its "
                         "gradient is not a finite number (the simulated positions overflow). Give a smaller "
                         "learning rate")


# ---------------------------------------------------------------------------------------------
# 2. The throw angle of maximum range
# ---------------------------------------------------------------------------------------------


@dataclass
class AngleSearch:
    """Result of :func:`best_angle`.

    angle_deg: optimum found by gradient ascent (degrees); range_m: its range (m).
    iterations: ascent steps; angle_history_deg: (iterations+1,) angles along the ascent.
    scan_angle_deg / scan_range_m: brute-force optimum (a 0.5° grid, then 177 angles spaced
    ``scan_resolution_deg`` centred on the coarse maximum). scan_angles_deg / scan_ranges_m:
    the coarse scan, for plotting. analytic_angle_deg / analytic_range_m: 45° and v²/g when drag = 0.
    """

    angle_deg: float
    range_m: float
    iterations: int
    angle_history_deg: np.ndarray
    scan_angle_deg: float
    scan_range_m: float
    scan_resolution_deg: float
    scan_angles_deg: np.ndarray
    scan_ranges_m: np.ndarray
    speed: float
    drag: float
    g: float
    analytic_angle_deg: float | None = None
    analytic_range_m: float | None = None
    best_trajectory: Trajectory | None = None


def _range_config(speed, g, dt, integrator) -> ThrowConfig:
    # long enough for the steepest throw (90°): every angle lands within the same static config
    return ThrowConfig(dt, steps_for_flight(speed, 90.0, g, dt), integrator)


def _range_scanner(speed, params: Ballistics, config: ThrowConfig):
    @jax.jit
    def ranges(angles_deg):
        def one(angle):
            v0 = initial_velocity(speed, angle)
            res = landing(simulate(jnp.zeros(2, dtype=v0.dtype), v0, params, config))
            return res.distance, res.landed

        return jax.vmap(one)(angles_deg)

    def scan(angles_deg) -> np.ndarray:
        try:
            a = np.asarray(angles_deg, dtype=float)
        except (TypeError, ValueError):
            raise InputError(f"angles_deg = {angles_deg!r} is not allowed; it must be a 1-D array of numbers") from None
        if a.ndim != 1 or a.size == 0:
            raise InputError(f"angles_deg has shape {a.shape}; it must be a 1-D array of at least one angle")
        outside = ~((a > 0) & (a < 90))
        if outside.any():
            check_in_range("angle", a[outside][0], 0.0, 90.0, low_open=True, high_open=True)
        dist, landed = ranges(jnp.asarray(angles_deg, dtype=float))
        if not bool(np.all(np.asarray(landed))):
            raise SimulationError(
                f"some scanned throws had not landed by t = {config.dt * config.num_steps:.6g} s; "
                "increase num_steps"
            )
        return np.asarray(dist)

    return scan


def scan_range(speed, angles_deg, params: Ballistics, config: ThrowConfig) -> np.ndarray:
    """Ranges (m) for a 1-D array of angles (degrees), one vmapped run; raises SimulationError
    if a throw did not land within ``config``."""
    return _range_scanner(speed, params, config)(angles_deg)


def best_angle(
    *,
    speed: float = 20.0,
    drag: float = 0.0,
    g: float = 9.81,
    dt: float = 0.02,
    integrator: str = "rk4",
    angle_init_deg: float = 30.0,
    learning_rate: float = 0.15,
    steps: int = 500,
    tol: float = 1e-9,
    scan_resolution_deg: float = 0.005,
    progress: bool = False,
) -> AngleSearch:
    """Angle of maximum range at fixed launch speed (m/s), by gradient ascent on the range.

    The range comes from :func:`landing` (differentiable), normalised by v²/g; the angle is
    optimised in radians by plain gradient ascent (``optax.sgd``) until the gradient norm is
    below ``tol``. The answer is checked against a brute-force scan of the same simulator.
    drag: quadratic drag coefficient k (1/m), >= 0.
    """
    # the checked numbers: numeric text ("20") passed the checks and was a TypeError later
    speed = check_positive("speed", speed)
    drag = check_positive("drag", drag, allow_zero=True)
    g = check_positive("g", g)
    dt = check_positive("dt", dt)
    learning_rate = check_positive("learning_rate", learning_rate)
    scan_resolution_deg = check_positive("scan_resolution_deg", scan_resolution_deg)
    angle_init_deg = check_in_range("angle", angle_init_deg, 0.0, 90.0, low_open=True, high_open=True)
    check_choice("integrator", integrator, INTEGRATORS)
    steps = _check_steps("steps", steps)

    params = Ballistics(g, drag)
    config = _range_config(speed, g, dt, integrator)
    scale = speed**2 / g
    # a dt longer than the flight at the starting angle put the landing at the launch point: the
    # range was 0 for every nearby angle, the gradient 0, and angle_init came back (0 steps)
    start = throw(speed, angle_init_deg, params, config)
    check_trajectory(start)
    _require_steps_in_air(dt, start, f"the throw at {float(angle_init_deg):g}°", "the range")

    def negative_range(theta):
        v0 = speed * jnp.stack([jnp.cos(theta), jnp.sin(theta)])
        return -landing(simulate(jnp.zeros(2, dtype=v0.dtype), v0, params, config)).distance / scale

    res = fit(negative_range, jnp.asarray(math.radians(angle_init_deg), dtype=float), optimizer="sgd",
              learning_rate=learning_rate, steps=steps, tol=tol, progress=progress,
              description="best angle")
    angle = math.degrees(float(res.params))
    if not 0.0 < angle < 90.0:
        raise InputError(f"gradient ascent left (0°, 90°) (angle {angle:.4g}°); lower learning_rate")
    best_tr = throw(speed, angle, params, config)
    check_trajectory(best_tr)
    best_land = landing(best_tr)
    require_landed(best_land, best_tr)

    scan = _range_scanner(speed, params, config)
    coarse = np.arange(1.0, 89.5, 0.5)  # 177 angles
    coarse_ranges = scan(coarse)
    c = coarse[int(np.argmax(coarse_ranges))]
    # the same number of angles again (one compilation), centred on the coarse maximum
    fine = c + scan_resolution_deg * (np.arange(coarse.size) - coarse.size // 2)
    fine = fine[(fine > 0) & (fine < 90)]
    fine = np.concatenate([fine, np.full(coarse.size - fine.size, c)])
    fine_ranges = scan(fine)
    j = int(np.argmax(fine_ranges))
    no_drag = drag == 0.0
    return AngleSearch(
        angle_deg=angle,
        range_m=float(best_land.distance),
        iterations=res.steps,
        angle_history_deg=np.degrees(np.asarray(res.params_history)),
        scan_angle_deg=float(fine[j]),
        scan_range_m=float(fine_ranges[j]),
        scan_resolution_deg=float(scan_resolution_deg),
        scan_angles_deg=coarse,
        scan_ranges_m=coarse_ranges,
        speed=float(speed),
        drag=float(drag),
        g=float(g),
        analytic_angle_deg=45.0 if no_drag else None,
        analytic_range_m=speed**2 / g if no_drag else None,
        best_trajectory=best_tr,
    )


# ---------------------------------------------------------------------------------------------
# 3. Learn an unknown drag force with a network inside the integrator
# ---------------------------------------------------------------------------------------------


class DragNet(eqx.Module):
    """Unknown force per unit mass f(v) (m/s²) as an MLP of the velocity (m/s).

    ``depth`` hidden layers of ``width`` units (tanh); ``depth = 0`` is a linear model
    f(v) = A v + b (``width`` unused), which can learn a linear drag but not |v| v.

    Inputs are divided by ``velocity_scale`` and outputs multiplied by ``acceleration_scale`` so
    the network works with numbers of order one. The total acceleration is (0, −g) + f(v).
    """

    mlp: eqx.nn.MLP
    velocity_scale: float = eqx.field(static=True)
    acceleration_scale: float = eqx.field(static=True)

    def __init__(self, key, *, width=32, depth=2, velocity_scale=20.0, acceleration_scale=10.0):
        check_key("key", key)
        check_int("width", width, 1)
        check_int("depth", depth, 0)
        velocity_scale = check_positive("velocity_scale", velocity_scale)
        acceleration_scale = check_positive("acceleration_scale", acceleration_scale)
        mlp = eqx.nn.MLP(2, 2, width, depth, activation=jax.nn.tanh, key=key)
        # start from "no drag": a zero last layer
        last = mlp.layers[-1]
        mlp = eqx.tree_at(lambda m: (m.layers[-1].weight, m.layers[-1].bias), mlp,
                          (jnp.zeros_like(last.weight), jnp.zeros_like(last.bias)))
        self.mlp = mlp
        self.velocity_scale = float(velocity_scale)
        self.acceleration_scale = float(acceleration_scale)

    def __call__(self, velocity: Float[Array, "2"]) -> Float[Array, "2"]:
        return self.acceleration_scale * self.mlp(velocity / self.velocity_scale)


@dataclass
class DragLearning:
    """Result of :func:`learn_drag`.

    drag_relative_error: RMS of |f_learned(v) − f_true(v)| over the velocities visited by the
      training throws, divided by the RMS of |f_true(v)| there.
    train_position_rms / test_position_rms: RMS position error (m) of the trained model on the
      training throws and on a held-out throw; *_no_drag: the same for the drag-free model.
    losses: training loss history (m²). speeds: (m,) speeds (m/s) of the velocities visited by
      the training throws, with learned_drag / true_drag: |f(v)| (m/s²) there, for plotting.
    """

    model: DragNet
    drag_relative_error: float
    train_position_rms: float
    train_position_rms_no_drag: float
    test_position_rms: float
    test_position_rms_no_drag: float
    iterations: int
    losses: np.ndarray
    train_throws: list[tuple[float, float]]
    test_throw: tuple[float, float]
    observed: list[Trajectory] = field(default_factory=list)
    learned: list[Trajectory] = field(default_factory=list)
    no_drag: list[Trajectory] = field(default_factory=list)
    speeds: np.ndarray | None = None
    learned_drag: np.ndarray | None = None
    true_drag: np.ndarray | None = None


def _split(batch: Trajectory) -> list[Trajectory]:
    return [Trajectory(batch.time[k], batch.position[k], batch.velocity[k]) for k in range(batch.time.shape[0])]


def _throw_pair(name: str, pair, whole: bool = False) -> tuple[float, float]:
    """``(speed, angle)`` as floats; a one-line InputError naming ``pair`` otherwise."""
    try:
        s, a = pair
        return float(s), float(a)
    except (TypeError, ValueError):
        what = f"{name} = {pair!r}" if whole else f"{name} entry {pair!r}"
        raise InputError(f"{what} is not allowed; it must be a (speed, angle) pair of numbers") from None


def learn_drag(
    *,
    drag: float = 0.02,
    g: float = 9.81,
    dt: float = 0.05,
    integrator: str = "rk4",
    train_throws: tuple[tuple[float, float], ...] = ((20.0, 30.0), (20.0, 60.0), (14.0, 45.0)),
    test_throw: tuple[float, float] = (18.0, 50.0),
    width: int = 32,
    depth: int = 2,
    learning_rate: float = 3e-3,
    steps: int = 1500,
    key: jax.Array | None = None,
    checkpoint=None,
    progress: bool = False,
) -> DragLearning:
    """Learn the drag force f(v) from trajectories made with quadratic drag k |v| v.

    Data: the trajectories (positions while above ground) of ``train_throws`` — pairs
    (speed m/s, angle degrees) — integrated with true drag ``drag`` (1/m). Model: the same
    integrator with acceleration (0, −g) + DragNet(v), g known; trained with Adam on the mean
    squared position error through the whole unrolled trajectories. Validated on a held-out throw
    and against the true force law. key: PRNG key for the network weights (required).
    checkpoint: file for save/resume of the training (``astrograd.inverse.fit``); a checkpoint of
    other data, network or learning rate is refused.
    """
    # the checked numbers: numeric text ("0.02") passed the checks and was a TypeError later
    drag = check_positive("drag", drag, allow_zero=True)
    g = check_positive("g", g)
    dt = check_positive("dt", dt)
    learning_rate = check_positive("learning_rate", learning_rate)
    check_choice("integrator", integrator, INTEGRATORS)
    steps = _check_steps("steps", steps)
    width = check_int("width", width, 1)
    depth = check_int("depth", depth, 0)  # as DragNet: 0 is a linear model f(v) = A v + b
    try:
        throws = [_throw_pair("train_throws", t) for t in train_throws]
    except TypeError:
        raise InputError(f"train_throws = {train_throws!r} is not allowed; it must be (speed, angle) pairs") from None
    if not throws:
        raise InputError("train_throws is empty; give at least one (speed, angle) pair")
    test = _throw_pair("test_throw", test_throw, whole=True)
    for s, a in [*throws, test]:
        initial_velocity(s, a)  # validates speed > 0 and angle in (0°, 90°)
    if key is None:
        raise InputError("learn_drag needs an explicit PRNG key for the network weights (key=jax.random.key(...))")
    check_key("key", key)

    all_throws = [*throws, test]
    num_steps = max(steps_for_flight(s, a, g, dt, margin=1.0) for s, a in all_throws)
    config = ThrowConfig(dt, num_steps, integrator)
    truth = Ballistics(g, drag)
    v0s = jnp.stack([initial_velocity(s, a) for s, a in all_throws])
    x0s = jnp.zeros_like(v0s)

    def net_acceleration(position, velocity, net):
        del position
        return jnp.stack([jnp.zeros_like(velocity[0]), -jnp.asarray(g, velocity.dtype)]) + net(velocity)

    run_truth = jax.vmap(lambda x0, v0: simulate(x0, v0, truth, config))
    observed_all = run_truth(x0s, v0s)
    # a dt as long as a flight left only its launch point, which no network changes: that throw
    # added nothing to the loss (identically 0 when it was every training throw, and the
    # untrained network came back) or to the held-out check
    for (s, a), tr, role in zip(all_throws, _split(observed_all), ["training"] * len(throws) + ["held-out"],
                                strict=True):
        check_trajectory(tr)  # first: a NaN path is not "in the air" either
        _require_steps_in_air(dt, tr, f"the {role} throw ({s:g} m/s, {a:g}°)", "learning the drag")
    weights = (observed_all.position[..., 1] >= 0).astype(v0s.dtype)  # (throws, N+1)

    def run_net(net, x0, v0):
        return jax.vmap(lambda a, b: simulate(a, b, net, config, net_acceleration))(x0, v0)

    n_train = len(throws)

    def position_ms(pos, target, w):
        return jnp.sum(w * jnp.sum((pos - target) ** 2, axis=-1)) / jnp.sum(w)

    def loss(net):
        sim = run_net(net, x0s[:n_train], v0s[:n_train])
        return position_ms(sim.position, observed_all.position[:n_train], weights[:n_train])

    net0 = DragNet(key, width=width, depth=depth, acceleration_scale=g)
    res = fit(loss, net0, optimizer="adam", learning_rate=learning_rate, steps=steps, checkpoint=checkpoint,
              progress=progress, history=False, description="learn drag",
              fingerprint={"problem": "learn_drag", "drag": drag, "g": g, "dt": dt, "integrator": integrator,
                           "train_throws": throws})
    net = res.params

    learned_all = run_net(net, x0s, v0s)
    no_drag_all = jax.vmap(lambda x0, v0: simulate(x0, v0, Ballistics(g, 0.0), config))(x0s, v0s)

    def rms(sim, sl):
        return float(jnp.sqrt(position_ms(sim.position[sl], observed_all.position[sl], weights[sl])))

    train, test = slice(0, n_train), slice(n_train, n_train + 1)
    # drag law on the velocities the training throws visited (while in the air)
    visited = observed_all.velocity[:n_train].reshape(-1, 2)[np.asarray(weights[:n_train]).ravel() > 0]
    true_f = jax.vmap(lambda v: -drag * jnp.linalg.norm(v) * v)(visited)
    learned_f = jax.vmap(net)(visited)
    denom = float(jnp.sqrt(jnp.mean(jnp.sum(true_f**2, axis=-1))))
    drag_err = float(jnp.sqrt(jnp.mean(jnp.sum((learned_f - true_f) ** 2, axis=-1)))) / (denom if denom > 0 else 1.0)

    return DragLearning(
        model=net,
        drag_relative_error=drag_err,
        train_position_rms=rms(learned_all, train),
        train_position_rms_no_drag=rms(no_drag_all, train),
        test_position_rms=rms(learned_all, test),
        test_position_rms_no_drag=rms(no_drag_all, test),
        iterations=res.steps,
        losses=res.losses,
        train_throws=throws,
        test_throw=(float(test_throw[0]), float(test_throw[1])),
        observed=_split(observed_all),
        learned=_split(learned_all),
        no_drag=_split(no_drag_all),
        speeds=np.asarray(jnp.linalg.norm(visited, axis=-1)),
        learned_drag=np.asarray(jnp.linalg.norm(learned_f, axis=-1)),
        true_drag=np.asarray(jnp.linalg.norm(true_f, axis=-1)),
    )
