"""Burgers 1D against the Cole–Hopf solution (computed here), and the book's fit."""

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
