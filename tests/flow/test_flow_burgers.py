"""Burgers 1D against the Cole–Hopf solution (computed here), and the book's fit."""

import jax.numpy as jnp
import numpy as np
import pytest

from astrograd._errors import InputError
from astrograd.flow import burgers


def cole_hopf(x, t, nu):
    """Exact solution of u_t + u u_x = nu u_xx with u(x, 0) = -sin(pi x) (Cole–Hopf):
    u = -∫ sin(pi (x-η)) f(x-η) G(η) dη / ∫ f(x-η) G(η) dη, f(y) = exp(-cos(pi y)/(2 pi nu)),
    G(η) = exp(-η²/(4 nu t)); evaluated by quadrature in log space."""
    width = np.sqrt(4 * nu * t)
    eta = np.linspace(-12 * width, 12 * width, 20001)
    y = x[:, None] - eta[None, :]
    logw = -np.cos(np.pi * y) / (2 * np.pi * nu) - eta[None, :] ** 2 / (4 * nu * t)
    w = np.exp(logw - logw.max(axis=1, keepdims=True))
    return -np.sum(np.sin(np.pi * y) * w, axis=1) / np.sum(w, axis=1)


def _rms_error(n, t, advection="semi-lagrangian"):
    config = burgers.BurgersConfig(n=n, dt=(1 / 64) * (128 / n), advection=advection)
    steps = int(round(t / config.dt))
    u, _ = burgers.burgers_simulate(burgers.burgers_initial(config), burgers.BOOK_VISCOSITY, config, steps)
    exact = cole_hopf(np.asarray(config.cell_centres()), t, burgers.BOOK_VISCOSITY)
    return float(np.sqrt(np.mean((np.asarray(u) - exact) ** 2)))


def test_cole_hopf_reference_is_a_solution():
    """The quadrature reference itself satisfies the PDE (finite differences in x and t)."""
    nu = burgers.BOOK_VISCOSITY
    x = np.linspace(-0.9, 0.9, 7)
    h, k, t = 1e-4, 1e-5, 0.2
    u = cole_hopf(x, t, nu)
    ut = (cole_hopf(x, t + k, nu) - cole_hopf(x, t - k, nu)) / (2 * k)
    ux = (cole_hopf(x + h, t, nu) - cole_hopf(x - h, t, nu)) / (2 * h)
    uxx = (cole_hopf(x + h, t, nu) - 2 * u + cole_hopf(x - h, t, nu)) / h**2
    # measured: residual 9.6e-8, distance from the initial condition at t = 1e-6 1.5e-6
    assert np.max(np.abs(ut + u * ux - nu * uxx)) < 2e-6
    np.testing.assert_allclose(cole_hopf(x, 1e-6, nu), -np.sin(np.pi * x), atol=3e-5)


@pytest.mark.parametrize("advection", ["semi-lagrangian", "maccormack"])
def test_burgers_converges_to_cole_hopf_first_order(x64, advection):
    """Before the shock forms (t = 0.25 < 1/pi), dt proportional to dx: first order."""
    errors = [_rms_error(n, 0.25, advection) for n in (32, 64, 128)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > 0.8) and np.all(orders < 1.3), (errors, orders)
    assert errors[-1] < 0.02


def test_book_setting_matches_cole_hopf_through_the_shock(x64):
    """N = 128, dt = 1/32 at t = 0.5 (after the shock formed): RMS error 1.3 % of the amplitude."""
    config = burgers.BurgersConfig()
    u, _ = burgers.burgers_simulate(burgers.burgers_initial(config), burgers.BOOK_VISCOSITY, config, 16)
    exact = cole_hopf(np.asarray(config.cell_centres()), 0.5, burgers.BOOK_VISCOSITY)
    assert float(np.sqrt(np.mean((np.asarray(u) - exact) ** 2))) < 0.015  # measured 0.0129


def test_fit_burgers_reaches_the_book_loss_in_50_iterations():
    """Plain gradient descent from u0 = 0: the book reaches 0.00326 in 50 iterations."""
    from astrograd.flow._fit import fit_burgers

    result = fit_burgers(50)
    assert result["initial_loss"] == pytest.approx(float(np.mean(result["target"] ** 2)), rel=1e-6)
    assert result["final_loss"] <= 0.00326
    assert result["losses"][0] > 100 * result["final_loss"]


def test_burgers_bad_input():
    with pytest.raises(InputError, match="resolution n = 2"):
        burgers.BurgersConfig(n=2)
    config = burgers.BurgersConfig()
    with pytest.raises(InputError, match="above the explicit viscosity limit"):
        burgers.burgers_simulate(burgers.burgers_initial(config), 1.0, config, 2)
    with pytest.raises(InputError, match="u0 has a non-finite value"):
        burgers.burgers_simulate(np.full(128, np.nan), 0.01, config, 2)
    with pytest.raises(InputError, match="x_min = nan is not allowed; it must be a finite number"):
        burgers.BurgersConfig(x_min=float("nan"))


def test_burgers_dt_the_states_float_type_cannot_hold_is_refused():
    """A dt of 1e-45 is 0 in float32: the run left u0 unchanged and was reported as a success."""
    from astrograd._precision import float64

    config = burgers.BurgersConfig(n=16, dt=1e-45)
    refusal = (r"^dt = 1e-45 is not allowed; float32 \(the state's precision\) cannot hold it: its magnitude must "
               r"lie in \[1.18e-38, 3.4e\+38\]$")
    for u0 in (burgers.burgers_initial(config), np.zeros(16, int)):  # an integer state runs as float32
        with pytest.raises(InputError, match=refusal):
            burgers.burgers_simulate(u0, 0.01, config, 2)
    with pytest.raises(InputError, match=refusal):
        burgers.burgers_step(burgers.burgers_initial(config), 0.01, config)
    with float64():  # float64 holds it (the change per step is below u's round-off)
        u0 = burgers.burgers_initial(config)
        u, _ = burgers.burgers_simulate(u0, 0.01, config, 1)
        assert u.dtype == jnp.float64 and np.isfinite(np.asarray(u)).all()
        with pytest.raises(InputError, match=refusal):
            burgers.burgers_simulate(u0.astype(jnp.float32), 0.01, config, 2)


def test_burgers_integer_start_and_numpy_iteration_counts():
    from astrograd.flow._fit import fit_burgers

    config = burgers.BurgersConfig(n=8)
    # an integer u0 was a multi-line TypeError from the scan (the carry changed dtype)
    u, _ = burgers.burgers_simulate(np.zeros(8, dtype=np.int32), 0.01, config, 2)
    assert np.issubdtype(u.dtype, np.floating) and np.all(np.asarray(u) == 0)
    with pytest.raises(InputError, match="u0 has dtype <U1; it must be an array of numbers"):
        burgers.burgers_simulate(np.array(list("abcdefgh")), 0.01, config, 2)
    # a numpy iteration count was refused with "it must be an integer >= 0"
    assert fit_burgers(np.int64(1), 1.0, n=8, target_step=1)["iterations"] == 1


def test_diverging_burgers_fit_is_a_simulation_error():
    from astrograd._errors import SimulationError
    from astrograd.flow._fit import fit_burgers

    with pytest.raises(SimulationError, match="the fit diverged: the loss became .* at iteration 1; lower"):
        fit_burgers(3, 1e30, n=16, target_step=2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"dt": True}, "dt = True is not allowed; it must be a finite number > 0"),
        ({"length": True}, "length = True is not allowed"),
        ({"x_min": True}, "x_min = True is not allowed; it must be a finite number"),
    ],
)
def test_burgers_config_refuses_a_bool_as_a_number(kwargs, match):
    # True was taken as 1.0
    with pytest.raises(InputError, match=match):
        burgers.BurgersConfig(**kwargs)


def inviscid_exact(x, t, a):
    """Entropy solution of u_t + u u_x = 0 with u(x, 0) = a − sin(π x), period 2: by Galilean
    invariance u = a + w(x − a t, t), where w (from −sin(π x)) is odd with a standing shock at
    0; for y in (0, 1], w = −sin(π ξ) at the foot ξ of the characteristic ξ − t sin(π ξ) = y on the
    branch where that map increases (its other branch has run into the shock), found by bisection."""
    y = np.mod(x - a * t + 1.0, 2.0) - 1.0
    s = np.abs(y)
    start = np.arccos(min(1.0, 1 / (np.pi * t))) / np.pi if np.pi * t > 1 else 0.0
    lo, hi = np.full_like(s, start), np.ones_like(s)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        below = mid - t * np.sin(np.pi * mid) < s
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return a - np.sign(y) * np.sin(np.pi * 0.5 * (lo + hi))


def test_inviscid_reference_is_a_solution():
    """Away from the shock the reference satisfies u_t + u u_x = 0 (finite differences), starts
    from the initial state, and its shock sits at x = a t (Rankine–Hugoniot: the mean of the two
    states, a, by symmetry) with jump −2 w⁻."""
    a, t, h = 0.5, 1.0, 1e-6
    x = np.array([-0.8, -0.4, 0.1, 0.3, 0.9])  # the shock is at 0.5
    u = inviscid_exact(x, t, a)
    ut = (inviscid_exact(x, t + h, a) - inviscid_exact(x, t - h, a)) / (2 * h)
    ux = (inviscid_exact(x + h, t, a) - inviscid_exact(x - h, t, a)) / (2 * h)
    assert np.max(np.abs(ut + u * ux)) < 1e-6
    np.testing.assert_allclose(inviscid_exact(x, 1e-9, a), a - np.sin(np.pi * x), atol=1e-8)
    left, right = inviscid_exact(np.array([0.5 - 1e-9, 0.5 + 1e-9]), t, a)
    assert left > right and 0.5 * (left + right) == pytest.approx(a, abs=1e-7)


def _inviscid_run(n, t, advection, viscosity=0.0, a=0.5):
    steps = int(np.ceil(t / (0.5 * (2 / n) / (1 + a))))  # Courant number 0.5
    config = burgers.BurgersConfig(n=n, dt=t / steps, advection=advection)
    x = np.asarray(config.cell_centres())
    u0 = a - np.sin(np.pi * x)
    u, _ = burgers.burgers_simulate(u0, viscosity, config, steps)
    return np.asarray(u), u0, inviscid_exact(x, t, a)


def test_godunov_solves_inviscid_burgers_through_a_moving_shock(x64):
    """ν = 0 was refused for every scheme. The conservative Godunov scheme converges at first
    order in L1 to the exact entropy solution after the shock formed (t = 1 > 1/π) while the
    shock moves (measured 0.034, 0.017, 0.0086; orders 0.98, 0.99), and conserves ∫u dx to
    round-off (measured drift 1.7e-15)."""
    errors = []
    for n in (64, 128, 256):
        u, u0, exact = _inviscid_run(n, 1.0, "godunov")
        errors.append(2 * np.mean(np.abs(u - exact)))  # L1 norm over the period 2
        assert abs(np.mean(u) - np.mean(u0)) < 1e-13
        assert np.max(u) <= np.max(u0) + 1e-12 and np.min(u) >= np.min(u0) - 1e-12  # no overshoot
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > 0.9), (errors, orders)
    assert errors[-1] < 0.012, errors


def test_semi_lagrangian_burgers_moves_a_shock_at_the_wrong_speed(x64):
    """Why ν = 0 stays refused for the book's schemes (as documented): they are not conservative;
    at ν = 1e-8 the mean drops from 0.5 to ~0.25 and the L1 error does not fall with resolution
    (measured 0.48, 0.49 at 128, 256 cells)."""
    for advection in ("semi-lagrangian", "maccormack"):
        u, u0, exact = _inviscid_run(128, 1.0, advection, viscosity=1e-8)
        assert np.mean(u) < np.mean(u0) - 0.2
        assert 2 * np.mean(np.abs(u - exact)) > 0.3


def test_inviscid_burgers_input_checks():
    config = burgers.BurgersConfig(n=16)
    u0 = burgers.burgers_initial(config)
    with pytest.raises(
        InputError,
        match=r"^viscosity = 0 is not allowed with advection 'semi-lagrangian'; it must be a finite number > 0 "
        r"\(the inviscid equation needs the conservative advection 'godunov'\)$",
    ):
        burgers.burgers_simulate(u0, 0.0, config, 2)
    with pytest.raises(InputError, match="viscosity = -0.1 is not allowed; it must be a finite number >= 0"):
        burgers.burgers_simulate(u0, -0.1, burgers.BurgersConfig(n=16, advection="godunov"), 2)
    with pytest.raises(InputError, match="viscosity = True is not allowed"):
        burgers.burgers_simulate(u0, True, burgers.BurgersConfig(n=16, advection="godunov"), 2)
    # dt max|u0| / dx = 0.25 * 2 / 0.125 = 4
    with pytest.raises(InputError, match=r"Courant number dt\*max\|u0\|/dx = 4 is above the godunov limit 1"):
        burgers.burgers_simulate(np.full(16, -2.0), 0.0, burgers.BurgersConfig(n=16, dt=0.25, advection="godunov"), 2)
    with pytest.raises(InputError, match="unknown advection scheme 'upwind'; choose one of: semi-lagrangian, "
                       "maccormack, godunov"):
        burgers.BurgersConfig(advection="upwind")


def test_godunov_gradients_match_finite_differences(x64):
    """Before the shock (t = 0.2), w.r.t. the initial state and the viscosity, float64."""
    from astrograd.diff import check_grad

    config = burgers.BurgersConfig(n=32, dt=0.02, advection="godunov")
    u0 = 0.3 + burgers.burgers_initial(config)

    def final(p):
        return burgers.burgers_simulate(p["u0"], p["nu"], config, 10)[0]

    report = check_grad(final, {"u0": u0, "nu": jnp.asarray(0.01)}, num_directions=3)
    report.assert_close(rtol=2e-8)  # measured 7.9e-10 (finite differences)
    report.assert_close(rtol=1e-14, pairs=["reverse-forward"])  # measured 4.9e-16


def test_burgers_runs_are_bit_identical(x64):
    for advection in burgers.BURGERS_ADVECTION:
        config = burgers.BurgersConfig(n=32, advection=advection)
        runs = [np.asarray(burgers.burgers_simulate(burgers.burgers_initial(config), 0.01, config, 8)[0])
                for _ in range(2)]
        assert runs[0].tobytes() == runs[1].tobytes()


@pytest.mark.parametrize("advection", ["semi-lagrangian", "maccormack"])
def test_book_burgers_gradients_match_finite_differences(x64, advection):
    """fit_burgers differentiates these schemes; reverse = forward = central differences w.r.t.
    the initial state and ν (a generic start: the symmetric −sin πx puts characteristic feet on
    nodes, where the interpolation is not differentiable)."""
    from astrograd.diff import check_grad

    config = burgers.BurgersConfig(n=32, dt=1 / 32, advection=advection)
    x = np.asarray(config.cell_centres())
    u0 = jnp.asarray(0.13 - np.sin(np.pi * x) + 0.05 * np.cos(3 * np.pi * x))

    def final(p):
        return burgers.burgers_simulate(p["u0"], p["nu"], config, 6)[0]

    report = check_grad(final, {"u0": u0, "nu": jnp.asarray(burgers.BOOK_VISCOSITY)}, num_directions=3)
    report.assert_close(rtol=4e-8)  # measured 1.3e-9 and 2.0e-9 (finite differences)
    report.assert_close(rtol=1e-14, pairs=["reverse-forward"])  # measured 6.1e-16
