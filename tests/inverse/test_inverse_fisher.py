"""fisher: explicit formula, three covariance forms, Monte-Carlo check on a linear Gaussian model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from astrograd._errors import InputError
from astrograd.inverse import fisher, sensitivity


def test_explicit_formulas(x64, key):
    k1, k2, k3 = jax.random.split(key, 3)
    J = np.asarray(jax.random.normal(k1, (6, 3)))
    var = np.asarray(0.5 + jax.random.uniform(k2, (6,)))
    M = np.asarray(jax.random.normal(k3, (6, 6)))
    C = M @ M.T + 6 * np.eye(6)
    np.testing.assert_allclose(fisher(J, 0.25), J.T @ J / 0.25, rtol=1e-13)
    # measured relative errors 0, 0 and 6.8e-16 (C is well conditioned: M Mᵀ + 6 I)
    np.testing.assert_allclose(fisher(J, var), J.T @ np.diag(1 / var) @ J, rtol=3e-14)
    np.testing.assert_allclose(fisher(J, C), J.T @ np.linalg.inv(C) @ J, rtol=1e-13)
    # the three forms agree when they describe the same covariance
    np.testing.assert_allclose(fisher(J, np.full(6, 0.25)), fisher(J, 0.25 * np.eye(6)), rtol=1e-13)


def test_linear_gaussian_model_monte_carlo(x64, key):
    """y = A θ + n, n ~ N(0, C): F = Aᵀ C⁻¹ A is the covariance of the score and the inverse
    covariance of the maximum-likelihood estimate; both are sampled here."""
    kA, kC, kn = jax.random.split(key, 3)
    n, p = 8, 3
    A = np.asarray(jax.random.normal(kA, (n, p)))
    M = np.asarray(jax.random.normal(kC, (n, n)))
    C = 0.3 * (M @ M.T / n + np.eye(n))
    theta = jnp.array([0.5, -1.0, 2.0])
    F = np.asarray(fisher(sensitivity(lambda th: jnp.asarray(A) @ th, theta), C))

    # analytic: minus the Hessian of the Gaussian log-likelihood
    Cinv = np.linalg.inv(C)

    def loglike(th, y):
        r = y - jnp.asarray(A) @ th
        return -0.5 * r @ jnp.asarray(Cinv) @ r

    y_obs = np.asarray(A @ np.asarray(theta))
    np.testing.assert_allclose(-jax.hessian(loglike)(theta, y_obs), F, rtol=3e-14)  # measured 2.2e-15

    samples = 40_000
    L = np.linalg.cholesky(C)
    noise = np.asarray(jax.random.normal(kn, (samples, n))) @ L.T
    y = y_obs[None, :] + noise
    score = (y - y_obs) @ Cinv @ A                    # ∇θ log L at the true θ, per sample
    cov_score = np.cov(score, rowvar=False)
    theta_hat = np.linalg.solve(F, (A.T @ Cinv @ y.T)).T  # maximum-likelihood estimates
    cov_hat = np.cov(theta_hat, rowvar=False)
    # sampling error of a covariance with 4e4 samples is ~ sqrt(2/4e4) = 0.7 %
    rel = lambda a, b: np.linalg.norm(a - b) / np.linalg.norm(b)  # noqa: E731
    assert rel(cov_score, F) < 0.03
    assert rel(cov_hat, np.linalg.inv(F)) < 0.03


def test_bad_input():
    J = np.ones((3, 2))
    with pytest.raises(InputError, match="variances must be finite numbers > 0"):
        fisher(J, -1.0)
    with pytest.raises(InputError, match="variances must be finite numbers > 0"):
        fisher(J, np.array([1.0, np.inf, 1.0]))
    with pytest.raises(InputError, match="n = 3"):
        fisher(J, np.ones(4))
    with pytest.raises(InputError, match="symmetric"):
        fisher(J, np.array([[1.0, 0.5, 0], [0, 1, 0], [0, 0, 1]]))
    with pytest.raises(InputError, match="positive definite"):
        fisher(J, -np.eye(3))
    with pytest.raises(InputError, match="2-D"):
        fisher(np.ones(3), 1.0)


def test_integer_jacobian_and_values_that_are_not_real_numbers():
    # an integer Jacobian cast the variance to integers: 0.5 became 0 and F was inf
    np.testing.assert_allclose(np.asarray(fisher(np.ones((3, 2), int), 0.5)), np.full((2, 2), 6.0))
    J = np.ones((3, 2))
    for bad, match in [
        ("a", "noise_covariance holds <U1 values"),  # was float()'s ValueError
        (True, "noise_covariance holds bool values"),  # was a variance of 1
    ]:
        with pytest.raises(InputError, match=match):
            fisher(J, bad)
    with pytest.raises(InputError, match="jacobian holds complex128 values"):  # returned a complex "Fisher matrix"
        fisher(J * 1j, 1.0)
    with pytest.raises(InputError, match="jacobian has non-finite entries"):  # returned NaN
        fisher(np.array([[1.0, np.nan]]), 1.0)
