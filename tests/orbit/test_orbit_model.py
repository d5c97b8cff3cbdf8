"""Ballistic throw: analytic solutions, convergence orders, an independent ODE solver, gradients."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from astrograd._errors import InputError, SimulationError
from astrograd.diff import check_grad
from astrograd.orbit import (
    INTEGRATORS,
    Ballistics,
    ThrowConfig,
    apex,
    check_trajectory,
    initial_velocity,
    landing,
    require_landed,
    simulate,
    steps_for_flight,
    throw,
)

G = 9.81


def analytic(speed, angle_deg, g):
    th = math.radians(angle_deg)
    return {
        "range": speed**2 * math.sin(2 * th) / g,
        "time": 2 * speed * math.sin(th) / g,
        "height": (speed * math.sin(th)) ** 2 / (2 * g),
        "apex_time": speed * math.sin(th) / g,
    }


@pytest.mark.parametrize("integrator", ["leapfrog", "rk4"])
@pytest.mark.parametrize("angle", [12.0, 45.0, 71.0])
def test_drag_free_range_apex_time_match_formulas(x64, integrator, angle):
    # both schemes integrate constant acceleration exactly, and the cubic Hermite interpolant
    # reproduces the parabola, so the formulas hold to round-off at a coarse step (measured: at
    # most 5.1e-15 relative over the six cases)
    speed, dt = 17.0, 0.037
    tr = throw(speed, angle, Ballistics(G), ThrowConfig(dt, steps_for_flight(speed, angle, G, dt), integrator))
    land, top, ref = landing(tr), apex(tr), analytic(speed, angle, G)
    assert bool(land.landed) and bool(top.found)
    assert float(land.distance) == pytest.approx(ref["range"], rel=1e-13)
    assert float(land.time) == pytest.approx(ref["time"], rel=1e-13)
    assert float(top.height) == pytest.approx(ref["height"], rel=1e-13)
    assert float(top.time) == pytest.approx(ref["apex_time"], rel=1e-13)
    assert float(top.distance) == pytest.approx(ref["range"] / 2, rel=1e-13)


def test_euler_range_error_is_first_order_in_dt(x64):
    speed, angle = 20.0, 35.0
    ref = analytic(speed, angle, G)["range"]
    errors = []
    dts = [0.02, 0.01, 0.005, 0.0025]
    for dt in dts:
        tr = throw(speed, angle, Ballistics(G), ThrowConfig(dt, steps_for_flight(speed, angle, G, dt), "euler"))
        errors.append(abs(float(landing(tr).distance) - ref))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    np.testing.assert_allclose(orders, 1.0, atol=0.05)


def _falling_with_drag(k, g, t):
    """Drop from rest with quadratic drag: v = −v_t tanh(g t / v_t), y = −(v_t²/g) ln cosh(g t/v_t)."""
    vt = math.sqrt(g / k)
    return -vt**2 / g * np.log(np.cosh(g * t / vt)), -vt * np.tanh(g * t / vt)


@pytest.mark.parametrize("integrator, order", [("euler", 1), ("leapfrog", 2), ("rk4", 4)])
def test_convergence_order_with_drag_against_exact_fall(x64, integrator, order):
    k, t_end = 0.05, 2.0
    y_exact, v_exact = _falling_with_drag(k, G, t_end)
    errors = []
    for n in (40, 80, 160):
        tr = simulate(jnp.zeros(2), jnp.zeros(2), Ballistics(G, k), ThrowConfig(t_end / n, n, integrator))
        errors.append(abs(float(tr.position[-1, 1]) - y_exact) + abs(float(tr.velocity[-1, 1]) - v_exact))
    measured = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    np.testing.assert_allclose(measured, order, atol=0.15)


def test_range_with_drag_matches_scipy(x64):
    """An independent integrator (scipy's DOP853 with a ground event) for the drag range."""
    speed, angle, k = 25.0, 38.0, 0.03

    def rhs(t, s):
        vx, vy = s[2], s[3]
        sp = math.hypot(vx, vy)
        return [vx, vy, -k * sp * vx, -G - k * sp * vy]

    ground = lambda t, s: s[1]  # noqa: E731
    ground.terminal, ground.direction = True, -1
    v0 = speed * np.array([math.cos(math.radians(angle)), math.sin(math.radians(angle))])
    sol = solve_ivp(rhs, (0, 10), [0, 0, *v0], method="DOP853", rtol=1e-12, atol=1e-12, events=ground)
    t_ref, x_ref = sol.t_events[0][0], sol.y_events[0][0][0]
    dt = 0.01
    tr = throw(speed, angle, Ballistics(G, k), ThrowConfig(dt, steps_for_flight(speed, angle, G, dt), "rk4"))
    land = landing(tr)
    # measured: 7.2e-11 (time) and 8.7e-11 (distance) relative, RK4 at dt = 0.01 s
    assert float(land.time) == pytest.approx(t_ref, rel=2e-9)
    assert float(land.distance) == pytest.approx(x_ref, rel=2e-9)


def _range_fn(config, integrator_params=None):
    def f(p):
        v0 = p["speed"] * jnp.stack([jnp.cos(p["angle"]), jnp.sin(p["angle"])])
        return landing(simulate(jnp.zeros(2), v0, Ballistics(p["g"], p["drag"]), config)).distance

    return f


@pytest.mark.parametrize("integrator", ["euler", "rk4"])
def test_gradient_checks_range_and_trajectory(x64, integrator):
    config = ThrowConfig(0.02, 250, integrator)
    p = {"speed": jnp.array(18.0), "angle": jnp.array(0.7), "g": jnp.array(G), "drag": jnp.array(0.02)}
    # finite differences: measured at most 1.3e-7; reverse vs forward mode (both exact): at most
    # 2.8e-14
    report = check_grad(jax.jit(_range_fn(config)), p, key=jax.random.key(1))
    report.assert_close(rtol=1e-6)
    report.assert_close(rtol=5e-13, pairs=["reverse-forward"])

    def positions(p):
        v0 = p["speed"] * jnp.stack([jnp.cos(p["angle"]), jnp.sin(p["angle"])])
        return simulate(jnp.zeros(2), v0, Ballistics(p["g"], p["drag"]), config).position[::25]

    report = check_grad(jax.jit(positions), p, key=jax.random.key(2))
    report.assert_close(rtol=1e-6)
    report.assert_close(rtol=5e-13, pairs=["reverse-forward"])


def test_range_gradient_matches_analytic_derivatives(x64):
    # R = v² sin 2θ / g: ∂R/∂v = 2R/v, ∂R/∂θ = 2 v² cos 2θ / g, ∂R/∂g = −R/g
    speed, theta = 18.0, 0.6
    config = ThrowConfig(0.02, steps_for_flight(speed, 90.0, G, 0.02), "leapfrog")
    p = {"speed": jnp.array(speed), "angle": jnp.array(theta), "g": jnp.array(G), "drag": jnp.array(0.0)}
    grad = jax.grad(_range_fn(config))(p)
    R = speed**2 * math.sin(2 * theta) / G
    assert float(grad["speed"]) == pytest.approx(2 * R / speed, rel=1e-10)
    assert float(grad["angle"]) == pytest.approx(2 * speed**2 * math.cos(2 * theta) / G, rel=1e-10)
    assert float(grad["g"]) == pytest.approx(-R / G, rel=1e-10)


def test_jit_and_vmap_agree_with_plain_calls(x64):
    config = ThrowConfig(0.02, 200, "rk4")
    angles = jnp.array([20.0, 40.0, 60.0])
    f = lambda a: landing(throw(15.0, a, Ballistics(G, 0.01), config)).distance  # noqa: E731
    looped = np.array([float(f(a)) for a in angles])
    np.testing.assert_allclose(jax.vmap(f)(angles), looped, rtol=1e-13)
    np.testing.assert_allclose(jax.jit(jax.vmap(f))(angles), looped, rtol=1e-13)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: ThrowConfig(0.0, 10), "dt = 0"),
        (lambda: ThrowConfig(-0.1, 10), "dt = -0.1"),
        (lambda: ThrowConfig(float("nan"), 10), "dt = nan"),
        (lambda: ThrowConfig(0.1, 0), "num_steps = 0"),
        (lambda: ThrowConfig(0.1, 10, "verlet"), "unknown integrator 'verlet'"),
        (lambda: Ballistics(-9.81), "g = -9.81"),
        (lambda: Ballistics(float("inf")), "g = inf"),
        (lambda: Ballistics(9.81, -0.1), "drag = -0.1"),
        (lambda: initial_velocity(0.0, 45.0), "speed = 0"),
        (lambda: initial_velocity(float("nan"), 45.0), "speed = nan"),
        (lambda: initial_velocity(10.0, 0.0), r"angle = 0 is outside the allowed range \(0, 90\)"),
        (lambda: initial_velocity(10.0, 90.0), "angle = 90"),
        (lambda: initial_velocity(10.0, -5.0), "angle = -5"),
        (lambda: initial_velocity(10.0, float("nan")), "angle = nan"),
        (lambda: simulate(jnp.zeros(3), jnp.ones(2), Ballistics(G), ThrowConfig(0.1, 5)),
         r"position0 has shape \(3,\); it must be \(2,\)"),
        (lambda: simulate(jnp.zeros(2), 1.0, Ballistics(G), ThrowConfig(0.1, 5)), r"velocity0 has shape \(\)"),
        (lambda: simulate(jnp.zeros(2), jnp.array([np.nan, 1.0]), Ballistics(G), ThrowConfig(0.1, 5)),
         "velocity0 has a non-finite value"),
        (lambda: steps_for_flight(10.0, float("nan"), G, 0.1), r"angle = nan is outside the allowed range \(0, 90\]"),
        (lambda: steps_for_flight(10.0, -30.0, G, 0.1), "angle = -30"),
        (lambda: steps_for_flight(10.0, 45.0, G, 0.1, margin=-1.0), "margin = -1"),
        # a flight of 1e30 steps: was a multi-line MLIR TypeError (fit_gravity(g_true=1e-30))
        (lambda: steps_for_flight(10.0, 60.0, 1e-30, 0.05), r"^the flight lasts 1.73205e\+31 s: .* more than the "
                                                              "10,000,000 allowed"),
    ],
)
def test_bad_input_is_one_line_input_error(make, match):
    with pytest.raises(InputError, match=match) as err:
        make()
    assert "\n" not in str(err.value)


def test_numpy_integer_steps_and_numeric_strings_are_accepted():
    # ThrowConfig refused a numpy integer with "it must be an integer > 0"
    config = ThrowConfig(0.1, np.int64(5))
    assert config.num_steps == 5 and type(config.num_steps) is int
    assert throw(10.0, 45.0, Ballistics(G), config).position.shape == (6, 2)
    # steps_for_flight checked "10" as the number 10 and then failed with a TypeError on the string
    assert steps_for_flight("10", 45.0, G, 0.1) == steps_for_flight(10.0, 45.0, G, 0.1)


def test_throw_config_time_step_is_stored_as_a_number():
    # "0.05" passed the check and the run failed with "can't multiply sequence by non-int of type
    # 'float'"; True was taken as a time step of 1 s
    config = ThrowConfig("0.05", 4)
    assert type(config.dt) is float and config == ThrowConfig(0.05, 4)
    np.testing.assert_allclose(np.asarray(throw(10.0, 45.0, Ballistics(G), config).time), 0.05 * np.arange(5))
    with pytest.raises(InputError, match="dt = True is not allowed; it must be a finite number > 0"):
        ThrowConfig(True, 4)
    with pytest.raises(InputError, match="dt = 'fast' is not a number"):
        ThrowConfig("fast", 4)


def test_not_landed_and_blow_up_are_reported_with_time(x64):
    tr = throw(20.0, 60.0, Ballistics(G), ThrowConfig(0.01, 100, "rk4"))  # 1 s of a 3.5 s flight
    with pytest.raises(SimulationError, match=r"had not landed by t = 1 s"):
        require_landed(landing(tr), tr)
    # explicit Euler is unstable for stiff drag (k |v| dt >> 1): the solution overflows
    tr = simulate(
        jnp.zeros(2), jnp.array([30.0, 30.0]), Ballistics(G, 50.0), ThrowConfig(0.1, 50, "euler"), check=False
    )
    with pytest.raises(SimulationError, match=r"non-finite position or velocity at t = "):
        check_trajectory(tr)


@pytest.mark.parametrize(
    "speed, drag, dt, integrator",
    [
        (20.0, 10.0, 0.02, "euler"),  # k |v| dt = 4 > 2: explicit Euler is unstable
        (20.0, 1e6, 0.02, "rk4"),  # stiff drag
        (20.0, 1e300, 0.02, "rk4"),  # drag overflows at once
        (1e200, 0.02, 0.02, "rk4"),  # |v|^2 overflows
        (1e160, 0.0, 0.02, "leapfrog"),  # no drag: the position overflows after a few steps
        (20.0, 0.02, 1e300, "rk4"),  # dt * v overflows
    ],
)
def test_simulate_never_returns_non_finite_values(x64, speed, drag, dt, integrator):
    """Accepted but extreme inputs returned inf/NaN trajectories; now a SimulationError names the
    time of the first non-finite state (under jit the trajectory is returned for the caller)."""
    config = ThrowConfig(dt, 50, integrator)
    with pytest.raises(SimulationError, match=r"^non-finite position or velocity at t = \S+ s \(step \d+,"):
        throw(speed, 35.0, Ballistics(G, drag), config)
    v0 = initial_velocity(speed, 35.0)
    with pytest.raises(SimulationError, match=r"non-finite position or velocity at t = "):
        simulate(jnp.zeros(2), v0, Ballistics(G, drag), config)
    traced = jax.jit(lambda v: simulate(jnp.zeros(2), v, Ballistics(G, drag), config))(v0)
    assert not np.isfinite(np.asarray(traced.velocity)).all()
    with pytest.raises(InputError, match="check = 'yes' is not allowed; it must be True or False"):
        simulate(jnp.zeros(2), v0, Ballistics(G, drag), config, check="yes")


def test_simulate_check_names_the_first_non_finite_time(x64):
    """The time reported is that of the first non-finite sample, found independently here."""
    config = ThrowConfig(0.1, 50, "euler")
    v0 = jnp.array([30.0, 30.0])
    raw = simulate(jnp.zeros(2), v0, Ballistics(G, 50.0), config, check=False)
    first = int(np.flatnonzero(~np.isfinite(np.asarray(raw.velocity)).all(axis=1))[0])
    with pytest.raises(SimulationError, match=rf"at t = {first * 0.1:.6g} s \(step {first},"):
        simulate(jnp.zeros(2), v0, Ballistics(G, 50.0), config)


def test_not_landed_and_no_apex_give_the_last_sample(x64):
    """As documented: without a crossing, landing and apex report the last sample (landing gave a
    time inside the last interval: its start, 0.45 s of 0.5 s, for a ball still rising)."""
    for steps in (10, 60):  # still rising at 0.5 s; past the apex but in the air at 3 s
        tr = throw(20.0, 60.0, Ballistics(G), ThrowConfig(0.05, steps, "rk4"))
        land = landing(tr)
        assert not bool(land.landed)
        assert float(land.time) == float(tr.time[-1]) and float(land.distance) == float(tr.position[-1, 0])
    top = apex(throw(20.0, 60.0, Ballistics(G), ThrowConfig(0.05, 10, "rk4")))
    assert not bool(top.found) and float(top.time) == 0.5
    # differentiable as before, also where it falls back
    g = jax.grad(lambda s: landing(throw(s, 60.0, Ballistics(G), ThrowConfig(0.05, 10, "rk4"))).distance)(20.0)
    assert float(g) == pytest.approx(0.5 * math.cos(math.radians(60.0)), rel=1e-12)


def test_gradient_check_through_network_inside_integrator(x64):
    from astrograd.orbit import DragNet

    net = DragNet(jax.random.key(4), width=6, depth=1)
    # the zero last layer (the "no drag" start) is perturbed so every weight matters
    net = jax.tree.map(lambda w: w + 0.1 if eqx.is_inexact_array(w) else w, net)
    config = ThrowConfig(0.05, 40, "rk4")

    def acceleration(position, velocity, net):
        return jnp.array([0.0, -G]) + net(velocity)

    def loss(net):
        tr = simulate(jnp.zeros(2), jnp.array([12.0, 9.0]), net, config, acceleration)
        return jnp.sum(tr.position**2)

    weights, static = eqx.partition(net, eqx.is_inexact_array)  # check_grad needs array leaves
    report = check_grad(jax.jit(lambda w: loss(eqx.combine(w, static))), weights, key=jax.random.key(5))
    report.assert_close(rtol=2e-7)  # measured 7.0e-9 (finite differences)
    report.assert_close(rtol=3e-14, pairs=["reverse-forward"])  # measured 1.4e-15


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Ballistics(True), "g = True is not allowed; it must be a finite number > 0"),
        (lambda: Ballistics(9.81, np.True_), "drag = np.True_ is not allowed; it must be a finite number >= 0"),
        (lambda: Ballistics(9.81, False), "drag = False is not allowed"),
    ],
)
def test_ballistics_refuses_a_bool_as_a_number(make, match):
    # True was taken as g = 1 m/s² (check_positive reads it as 1.0)
    with pytest.raises(InputError, match=match) as err:
        make()
    assert "\n" not in str(err.value)


def test_apex_gradient_matches_analytic_and_finite_differences(x64):
    """The apex had no gradient check. Drag-free: H = v² sin²θ / (2g), t_top = v sin θ / g;
    ∂H/∂v = 2H/v, ∂H/∂θ = v² sin θ cos θ / g, ∂H/∂g = −H/g (leapfrog is exact here). With drag:
    reverse = forward = central differences (all integrators)."""
    speed, theta = 18.0, 0.6
    config = ThrowConfig(0.02, steps_for_flight(speed, 90.0, G, 0.02), "leapfrog")

    def top(p, config=config):
        v0 = p["speed"] * jnp.stack([jnp.cos(p["angle"]), jnp.sin(p["angle"])])
        a = apex(simulate(jnp.zeros(2), v0, Ballistics(p["g"], p["drag"]), config))
        return jnp.stack([a.height, a.time])

    p = {"speed": jnp.array(speed), "angle": jnp.array(theta), "g": jnp.array(G), "drag": jnp.array(0.0)}
    jac = jax.jacrev(top)(p)
    H = speed**2 * math.sin(theta) ** 2 / (2 * G)
    assert float(jac["speed"][0]) == pytest.approx(2 * H / speed, rel=1e-10)
    assert float(jac["angle"][0]) == pytest.approx(speed**2 * math.sin(theta) * math.cos(theta) / G, rel=1e-10)
    assert float(jac["g"][0]) == pytest.approx(-H / G, rel=1e-10)
    assert float(jac["g"][1]) == pytest.approx(-speed * math.sin(theta) / G**2, rel=1e-10)
    p["drag"] = jnp.array(0.02)
    for integrator in INTEGRATORS:
        c = ThrowConfig(0.02, 250, integrator)
        report = check_grad(jax.jit(lambda q, c=c: top(q, c)), p, key=jax.random.key(7))
        report.assert_close(rtol=1e-6)  # measured at most 5.9e-8 (finite differences)
        report.assert_close(rtol=5e-12, pairs=["reverse-forward"])  # measured at most 3.4e-13


def test_leapfrog_range_gradient_matches_finite_differences(x64):
    """Leapfrog with drag (its predicted closing kick) was only checked without drag."""
    config = ThrowConfig(0.02, 250, "leapfrog")
    p = {"speed": jnp.array(18.0), "angle": jnp.array(0.7), "g": jnp.array(G), "drag": jnp.array(0.02)}
    report = check_grad(jax.jit(_range_fn(config)), p, key=jax.random.key(1))
    report.assert_close(rtol=1e-7)  # measured 7.2e-9
    report.assert_close(rtol=1e-13, pairs=["reverse-forward"])  # measured 4.4e-15


def test_same_throw_twice_is_bit_identical(x64):
    for integrator in INTEGRATORS:
        config = ThrowConfig(0.02, 100, integrator)
        a, b = (throw(20.0, 35.0, Ballistics(G, 0.02), config) for _ in range(2))
        for x, y in zip(a, b, strict=True):
            assert np.asarray(x).tobytes() == np.asarray(y).tobytes()
