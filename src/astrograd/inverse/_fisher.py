"""Fisher information matrices for Gaussian noise."""

from __future__ import annotations

import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
from jaxtyping import Array, Float

from astrograd._errors import InputError, is_concrete, real_array

__all__ = ["fisher"]


def _check_concrete_positive(name: str, values) -> None:
    if not is_concrete(values):
        return
    a = np.asarray(values)
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        bad = a[~(np.isfinite(a) & (a > 0))].ravel()[0]
        raise InputError(f"{name} contains {bad!r}; variances must be finite numbers > 0")


def fisher(
    jacobian: Float[Array, "n p"],
    noise_covariance: float | Float[Array, ""] | Float[Array, " n"] | Float[Array, "n n"],
) -> Float[Array, "p p"]:
    """Fisher matrix ``F = Jᵀ C⁻¹ J`` of a model ``u(θ)`` observed with Gaussian noise ``N(0, C)``.

    jacobian: ``(n, p)`` sensitivity ``∂u/∂θ`` (e.g. from :func:`sensitivity`); units of u per θ.
    noise_covariance: a scalar variance σ² (C = σ² I), an ``(n,)`` vector of variances
      (diagonal C) or a full symmetric positive-definite ``(n, n)`` matrix; units of u².
    Returns the ``(p, p)`` Fisher matrix (units 1/θ²); its inverse is the Cramér–Rao bound on
    the covariance of unbiased estimates of θ.
    """
    if is_concrete(jacobian):
        a = real_array("jacobian", jacobian, "an (n, p) array of real numbers")
        if not np.all(np.isfinite(a)):
            raise InputError("jacobian has non-finite entries; it must be finite")
    if is_concrete(noise_covariance):
        real_array("noise_covariance", noise_covariance, "a real variance, (n,) variances or an (n, n) matrix")
    J = jnp.asarray(jacobian)
    if not jnp.issubdtype(J.dtype, jnp.floating):  # integers: C in J's dtype would be truncated
        J = J.astype(jnp.result_type(float))
    if J.ndim != 2:
        raise InputError(f"jacobian must be a 2-D (n, p) array; got shape {tuple(J.shape)}")
    n = J.shape[0]
    C = jnp.asarray(noise_covariance, dtype=J.dtype)
    if C.ndim == 0 or C.ndim == 1:
        if C.ndim == 1 and C.shape[0] != n:
            raise InputError(f"noise_covariance has {C.shape[0]} variances; the jacobian has n = {n} rows")
        _check_concrete_positive("noise_covariance", noise_covariance)
        W = J / C[..., None] if C.ndim == 1 else J / C
        return J.T @ W
    if C.ndim == 2:
        if C.shape != (n, n):
            raise InputError(
                f"noise_covariance has shape {tuple(C.shape)}; it must be ({n}, {n}) to match the jacobian"
            )
        if is_concrete(noise_covariance):
            a = np.asarray(noise_covariance, dtype=np.float64)
            if not np.all(np.isfinite(a)) or not np.allclose(a, a.T, rtol=1e-10, atol=0):
                raise InputError("noise_covariance must be a finite symmetric (n, n) matrix")
            if np.any(np.linalg.eigvalsh(a) <= 0):
                raise InputError("noise_covariance must be positive definite (it has an eigenvalue <= 0)")
        L = jnp.linalg.cholesky(C)
        W = jsl.solve_triangular(L, J, lower=True)
        return W.T @ W
    raise InputError(
        f"noise_covariance must be a scalar, an (n,) vector or an (n, n) matrix; got shape {tuple(C.shape)}"
    )
