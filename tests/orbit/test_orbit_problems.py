"""The three inverse problems: recover g, best angle (45° and the drag optimum), learned drag."""

import jax
import numpy as np
import pytest

from astrograd._errors import InputError
from astrograd.orbit import Ballistics, DragNet, ThrowConfig, best_angle, fit_gravity, learn_drag, scan_range


def test_recover_g_from_15_with_adam(x64):
    r = fit_gravity(g_true=2.5, g_init=15.0)
    # measured: relative error 1.6e-10 and loss ratio 1.1e-21 (the loss is quadratic in the error)
    assert r.relative_error < 5e-9
    assert r.g_history[0] == 15.0
    assert r.iterations_to_1e3 is not None and r.iterations_to_1e3 <= r.iterations
    assert r.losses[-1] < 1e-18 * r.losses[0]


def test_recover_g_from_noisy_data_within_statistical_error(x64):
    # y = v_y t − g t²/2 and x does not depend on g, so the least-squares standard error of g is
    # sigma / sqrt(sum (t²/2)²); the Fisher estimate must equal it and the error be a few of those
    r = fit_gravity(noise=0.05, key=jax.random.key(3))
    t = np.asarray(r.observed.time)[np.asarray(r.observed.position[:, 1]) >= 0]
    sigma_g = 0.05 / np.sqrt(np.sum((t**2 / 2) ** 2))
    assert r.g_standard_error == pytest.approx(sigma_g, rel=1e-8)
    assert abs(r.g - 2.5) < 4 * sigma_g


def test_joint_fit_of_g_and_launch_velocity(x64):
    r = fit_gravity(joint=True, learning_rate=0.3, steps=3000, dt=0.1)
    assert r.relative_error < 2e-7  # measured 7.0e-9
    np.testing.assert_allclose(r.velocity0, r.velocity0_true, rtol=2e-7)  # measured 5.5e-9
    assert np.linalg.norm(np.asarray(r.initial.velocity[0]) - r.velocity0_true) > 1.0  # it did move


def test_best_angle_without_drag_is_45_degrees(x64):
    r = best_angle(speed=20.0, drag=0.0, dt=0.05, angle_init_deg=20.0)
    # RK4 and the landing interpolant are exact for the parabola: only the optimiser's stopping
    # tolerance is left (measured: 8.8e-9 degrees, range to 2.2e-16 relative)
    assert abs(r.angle_deg - 45.0) < 2.5e-7
    assert r.range_m == pytest.approx(20.0**2 / 9.81, rel=3e-14)
    assert abs(r.scan_angle_deg - 45.0) <= r.scan_resolution_deg


def _scipy_range(speed, angle_deg, k, g=9.81):
    """The drag range from an independent integrator (scipy's DOP853 with a ground event)."""
    import math

    from scipy.integrate import solve_ivp

    def rhs(t, s):
        sp = math.hypot(s[2], s[3])
        return [s[2], s[3], -k * sp * s[2], -g - k * sp * s[3]]

    ground = lambda t, s: s[1]  # noqa: E731
    ground.terminal, ground.direction = True, -1
    th = math.radians(angle_deg)
    sol = solve_ivp(rhs, (0, 10 * speed / g), [0, 0, speed * math.cos(th), speed * math.sin(th)], method="DOP853",
                    rtol=1e-12, atol=1e-12, events=ground)
    return sol.y_events[0][0][0]


def test_best_angle_with_drag_is_lower_and_matches_brute_force(x64):
    from scipy.optimize import minimize_scalar

    r = best_angle(speed=20.0, drag=0.02, dt=0.05)
    assert r.angle_deg < 44.0
    assert abs(r.angle_deg - r.scan_angle_deg) <= r.scan_resolution_deg
    assert r.range_m >= r.scan_range_m * (1 - 1e-9)
    # the optimum of an independent integrator and optimiser (scipy): measured 1.0e-6 degrees and
    # 1.1e-8 relative in range apart (RK4 at dt = 0.05 s)
    opt = minimize_scalar(lambda a: -_scipy_range(20.0, a, 0.02), bounds=(30.0, 45.0), method="bounded",
                          options={"xatol": 1e-7})
    assert abs(r.angle_deg - opt.x) < 3e-5
    assert r.range_m == pytest.approx(-opt.fun, rel=3e-7)


def test_learned_drag_beats_no_drag_on_held_out_throw(x64):
    r = learn_drag(steps=200, width=16, key=jax.random.key(0))
    assert r.losses[-1] < 1e-2 * r.losses[0]
    assert r.test_position_rms < 0.15 * r.test_position_rms_no_drag
    assert r.train_position_rms < 0.1 * r.train_position_rms_no_drag
    assert r.drag_relative_error < 0.5


def test_checkpoints_resume_and_refuse_other_data(x64, tmp_path):
    """fit_gravity and learn_drag resume from a checkpoint to the uninterrupted result, and refuse
    one written for other data (the settings that make the data are in its fingerprint)."""
    ckpt = tmp_path / "g.npz"
    full = fit_gravity(steps=40, tol=0.0)
    fit_gravity(steps=20, tol=0.0, checkpoint=ckpt)
    resumed = fit_gravity(steps=40, tol=0.0, checkpoint=ckpt)
    assert resumed.g == full.g and resumed.iterations == full.iterations
    with pytest.raises(InputError, match=r"different fit \(extra differ\)"):
        fit_gravity(steps=40, tol=0.0, checkpoint=ckpt, g_true=3.0)
    ckpt = tmp_path / "drag.npz"
    learn_drag(steps=2, width=4, depth=1, key=jax.random.key(0), checkpoint=ckpt)
    with pytest.raises(InputError, match=r"different fit \(extra differ\)"):
        learn_drag(steps=4, width=4, depth=1, key=jax.random.key(0), checkpoint=ckpt, drag=0.03)


def test_learn_drag_accepts_depth_zero_as_a_linear_model(x64):
    """DragNet takes depth = 0 (one linear layer); learn_drag refused it ("an integer > 0")."""
    r = learn_drag(steps=5, depth=0, key=jax.random.key(0))
    assert len(r.model.mlp.layers) == 1 and r.model.mlp.layers[0].weight.shape == (2, 2)
    assert r.iterations == 5 and r.losses[-1] < r.losses[0]
    with pytest.raises(InputError, match=r"depth = -1 is not allowed; it must be an integer >= 0"):
        learn_drag(steps=5, depth=-1, key=jax.random.key(0))
    with pytest.raises(InputError, match=r"depth = -1 is not allowed; it must be an integer >= 0"):
        DragNet(jax.random.key(0), depth=-1)


@pytest.mark.slow
def test_learned_drag_long_training(x64):
    r = learn_drag(steps=1500, key=jax.random.key(0))
    assert r.drag_relative_error < 0.25
    assert r.test_position_rms < 0.06 * r.test_position_rms_no_drag
    assert r.train_position_rms < 0.02 * r.train_position_rms_no_drag


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: fit_gravity(g_init=-1.0), "g_init = -1"),
        (lambda: fit_gravity(angle_deg=90.0), "angle = 90"),
        (lambda: fit_gravity(noise=0.1), "explicit PRNG key"),
        (lambda: fit_gravity(steps=0), "steps = 0"),
        (lambda: fit_gravity(integrator="midpoint"), "unknown integrator 'midpoint'"),
        # the starting guesses of the joint fit were reported as "speed" and "angle"
        (lambda: fit_gravity(joint=True, speed_init=-1.0), "speed_init = -1 is not allowed"),
        (lambda: fit_gravity(joint=True, angle_init_deg=95.0), r"angle_init_deg = 95 is outside the allowed range"),
        # settings the fit does not use were accepted and ignored (L-BFGS runs a line search; the
        # starting guesses belong to the joint fit), and joint="no" ran a joint fit
        (lambda: fit_gravity(optimizer="lbfgs", learning_rate=0.5),
         "learning_rate = 0.5 is not allowed with optimizer 'lbfgs'; it uses a line search"),
        (lambda: fit_gravity(speed_init=8.0), "speed_init = 8.0 is not allowed without joint=True"),
        (lambda: fit_gravity(angle_init_deg=50.0), "angle_init_deg = 50.0 is not allowed without joint=True"),
        (lambda: fit_gravity(joint="no"), "joint = 'no' is not allowed; it must be True or False"),
        # a dt as long as the flight left only the launch point (no g changes it): the loss was
        # 0 and g_init came back as the fitted g, after 0 iterations
        (lambda: fit_gravity(dt=10.0), r"^dt = 10 s is too long for this throw: the ball is observed in the air "
                                       r"at 0 step\(s\) after the launch \(the fit needs at least 1\); lower dt$"),
        (lambda: fit_gravity(dt=4.0, joint=True), r"at 1 step\(s\) after the launch \(the joint fit needs at least 2"),
        # the same for the other two problems: best_angle's range was 0 at every nearby angle (the
        # starting angle came back after 0 steps) and learn_drag's loss identically 0 (the untrained
        # network came back); a held-out throw that is never in the air validated nothing
        (lambda: best_angle(dt=3.0), r"^dt = 3 s is too long for the throw at 30°: the ball is in the air at "
                                     r"0 step\(s\) after the launch \(the range needs at least 1\); lower dt$"),
        (lambda: learn_drag(dt=3.0, key=jax.random.key(0)),
         r"^dt = 3 s is too long for the training throw \(20 m/s, 30°\): the ball is in the air at 0 step"),
        (lambda: learn_drag(dt=0.5, test_throw=(2.0, 10.0), key=jax.random.key(0)),
         r"^dt = 0.5 s is too long for the held-out throw \(2 m/s, 10°\)"),
        (lambda: best_angle(speed=0.0), "speed = 0"),
        (lambda: best_angle(drag=float("nan")), "drag = nan"),
        (lambda: best_angle(angle_init_deg=0.0), "angle = 0"),
        (lambda: learn_drag(train_throws=((10.0, 95.0),), key=jax.random.key(0)), "angle = 95"),
        (lambda: learn_drag(dt=-0.01, key=jax.random.key(0)), "dt = -0.01"),
        (lambda: learn_drag(), "explicit PRNG key"),
        (lambda: learn_drag(key=5), "key = 5 is not allowed; it must be one PRNG key"),
        (lambda: learn_drag(train_throws=(20.0, 30.0), key=jax.random.key(0)), "train_throws entry 20.0"),
        (lambda: learn_drag(test_throw=(18.0,), key=jax.random.key(0)), r"test_throw = \(18.0,\)"),
        (lambda: fit_gravity(noise=0.1, key=jax.random.split(jax.random.key(0))), "key = an array of dtype key"),
        (lambda: scan_range(10.0, [30.0, 120.0], Ballistics(9.81), ThrowConfig(0.05, 60)), "angle = 120"),
        (lambda: scan_range(10.0, [float("nan")], Ballistics(9.81), ThrowConfig(0.05, 60)), "angle = nan"),
        (lambda: scan_range(10.0, [[30.0, 45.0]], Ballistics(9.81), ThrowConfig(0.05, 60)),
         r"angles_deg has shape \(1, 2\)"),
        (lambda: DragNet(jax.random.key(0), width=0), "width = 0"),
        (lambda: DragNet(jax.random.key(0), velocity_scale=0.0), "velocity_scale = 0"),
        (lambda: DragNet(None), "key = None"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(InputError, match=match):
        call()


def test_fit_gravity_refuses_a_key_without_noise():
    # no noise is drawn with noise = 0: the key was accepted and ignored
    with pytest.raises(InputError, match="key is not allowed with noise = 0; it draws the noise"):
        fit_gravity(key=jax.random.key(3))


def test_drag_net_refuses_a_bool_scale():
    with pytest.raises(InputError, match="velocity_scale = True is not allowed; it must be a finite number > 0"):
        DragNet(jax.random.key(0), velocity_scale=True)
    with pytest.raises(InputError, match="acceleration_scale = False is not allowed"):
        DragNet(jax.random.key(0), acceleration_scale=False)


def test_numeric_text_settings_give_the_same_results_as_numbers(x64):
    # the checks read "2.5" as a number but the raw text went on: a numpy UFuncTypeError
    # (fit_gravity's g_true) or a TypeError (best_angle's speed and g, learn_drag's drag)
    a, b = fit_gravity(steps=3), fit_gravity(steps=3, g_true="2.5", g_init="15", speed="10", dt="0.05")
    np.testing.assert_array_equal(a.g_history, b.g_history)
    assert b.relative_error == a.relative_error
    a = best_angle(steps=2, speed=20.0, g=9.81, dt=0.05, drag=0.01)
    b = best_angle(steps=2, speed="20", g="9.81", dt="0.05", drag="0.01")
    assert (b.angle_deg, b.range_m, b.analytic_range_m) == (a.angle_deg, a.range_m, a.analytic_range_m)
    a = learn_drag(steps=2, width=4, key=jax.random.key(0))
    b = learn_drag(steps=2, width=4, key=jax.random.key(0), drag="0.02", g="9.81", dt="0.05")
    np.testing.assert_array_equal(a.losses, b.losses)
