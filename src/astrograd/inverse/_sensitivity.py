"""Sensitivities of a simulation output to its parameters: Jacobians, JVPs, finite differences."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float

from astrograd._errors import ForwardModeError, InputError, check_choice, is_concrete, is_forward_mode_error, real_array

__all__ = ["FiniteDifferenceLimit", "directional_derivative", "finite_difference_limit", "sensitivity"]


def _check_floating(theta) -> None:
    """One line instead of JAX's "jacfwd requires real-valued inputs" / "primal and tangent
    arguments to jax.jvp do not match" for integer (or complex, text) parameters."""
    for where, leaf in jax.tree_util.tree_flatten_with_path(theta)[0]:
        dtype = jnp.result_type(leaf) if not isinstance(leaf, str | bytes) else np.dtype("U")
        if not jnp.issubdtype(dtype, jnp.floating):
            raise InputError(f"theta{jax.tree_util.keystr(where)} has dtype {dtype}; the parameters must be "
                             "floating-point arrays (e.g. jnp.asarray(x, float))")


def _flat_function(f: Callable, theta: Any):
    """``f`` as a map from the flat parameter vector (p,) to the flat output vector (n,)."""
    _check_floating(theta)
    theta_flat, unravel_theta = ravel_pytree(theta)
    if theta_flat.size == 0:
        raise InputError("theta has no array entries to differentiate with respect to")

    def flat_f(x):
        out_flat, _ = ravel_pytree(f(unravel_theta(x)))
        return out_flat

    return flat_f, theta_flat


def sensitivity(
    f: Callable[[Any], Any], theta: Any, mode: str = "auto"
) -> Float[Array, "n p"]:
    """The Jacobian ``s = ∂u/∂θ`` of ``u = f(theta)``, as an ``(n, p)`` matrix.

    theta and the output may be pytrees; both are flattened (``jax.flatten_util.ravel_pytree``
    order), so ``n`` is the total number of output entries and ``p`` of parameter entries.
    Units: those of u divided by those of θ, entry by entry.
    mode: ``"forward"`` (p JVPs, cheap when p ≪ n), ``"reverse"`` (n VJPs), or ``"auto"``
    (forward if p <= n, else reverse; reverse too when ``f`` has reverse mode only).
    """
    check_choice("sensitivity mode", mode, ("auto", "forward", "reverse"))
    flat_f, x = _flat_function(f, theta)
    n = jax.eval_shape(flat_f, x).shape[0]
    p = x.shape[0]
    if mode == "reverse" or (mode == "auto" and p > n):
        return jax.jacrev(flat_f)(x).reshape(n, p)
    try:
        return jax.jacfwd(flat_f)(x).reshape(n, p)
    except (TypeError, InputError) as err:
        # "auto" on a model with reverse mode only (a custom_vjp adjoint, e.g. adaptive_loop's
        # "checkpointed" or pm's "reverse_time") was an error: it takes reverse mode instead
        if not is_forward_mode_error(err):
            raise
        if mode == "forward":
            if isinstance(err, InputError):  # it names the option that has forward mode
                raise
            raise ForwardModeError("sensitivity mode = 'forward' is not allowed for this f: it has reverse mode only "
                                   "(a custom_vjp inside it: no forward-mode autodiff); use mode='reverse' or 'auto'"
                                   ) from None
    return jax.jacrev(flat_f)(x).reshape(n, p)


def directional_derivative(f: Callable[[Any], Any], theta: Any, v: Any) -> Any:
    """The directional derivative ``(∂u/∂θ) · v`` (one forward-mode JVP), shaped like ``f(theta)``.

    v: a tangent with the same structure and shapes as ``theta`` (units of θ).
    """
    _check_floating(theta)
    _check_same_structure(theta, v)
    v = _tangent_like(theta, v)
    _, tangent_out = jax.jvp(f, (theta,), (v,))
    return tangent_out


def _tangent_like(theta, v):
    """``v`` as real numbers in the dtypes of ``theta``'s leaves (an integer direction such as
    [1, 0] is a valid tangent of float parameters)."""
    for where, leaf in jax.tree_util.tree_flatten_with_path(v)[0]:
        if is_concrete(leaf):
            real_array(f"direction v{jax.tree_util.keystr(where)}", leaf, "an array of real numbers")
    return jax.tree.map(lambda t, d: jnp.asarray(d, jnp.result_type(t)), theta, v)


def _check_same_structure(theta, v) -> None:
    t_leaves, t_def = jax.tree.flatten(theta)
    v_leaves, v_def = jax.tree.flatten(v)
    if t_def != v_def or any(np.shape(a) != np.shape(b) for a, b in zip(t_leaves, v_leaves, strict=True)):
        raise InputError(
            f"direction v must have the structure and shapes of theta; got {jax.tree.map(np.shape, v)} "
            f"for theta {jax.tree.map(np.shape, theta)}"
        )


@dataclass
class FiniteDifferenceLimit:
    """Finite-difference quotients converging to the JVP.

    hs: (m,) step sizes. quotients: (m, n) one-sided quotients (u(θ + h v) − u(θ)) / h (flat).
    jvp: (n,) the directional derivative from forward mode (flat).
    errors: (m,) relative errors ‖quotient − jvp‖₂ / ‖jvp‖₂.
    """

    hs: np.ndarray
    quotients: np.ndarray
    jvp: np.ndarray
    errors: np.ndarray

    def table(self) -> str:
        """A two-column text table of h and the relative error."""
        lines = [f"{'h':>10}  {'relative error':>14}"]
        lines += [f"{h:10.1e}  {e:14.3e}" for h, e in zip(self.hs, self.errors, strict=True)]
        return "\n".join(lines)


def finite_difference_limit(
    f: Callable[[Any], Any], theta: Any, v: Any, hs: Sequence[float] | None = None
) -> FiniteDifferenceLimit:
    """Compare one-sided finite differences ``(u(θ + h v) − u(θ)) / h`` with the JVP for each h.

    The error first falls ∝ h (truncation) and then rises ∝ ε/h (round-off, ε the machine
    precision of the dtype), so it is smallest near h ≈ √ε. hs default: 10⁻¹ … 10⁻¹⁵ (float64)
    or 10⁻¹ … 10⁻⁷ (float32).
    """
    flat_f, x = _flat_function(f, theta)
    _check_same_structure(theta, v)
    v_flat, _ = ravel_pytree(_tangent_like(theta, v))
    v_flat = v_flat.astype(x.dtype)
    if hs is None:
        last = 15 if x.dtype == jnp.float64 else 7
        hs = [10.0 ** (-k) for k in range(1, last + 1)]
    hs_arr = real_array("hs", hs, "a non-empty list of finite numbers > 0")
    if hs_arr.ndim != 1 or hs_arr.size == 0 or not np.all(np.isfinite(hs_arr)) or np.any(hs_arr <= 0):
        raise InputError(f"hs = {hs!r} is not allowed; it must be a non-empty list of finite numbers > 0")
    out, jvp = jax.jvp(flat_f, (x,), (v_flat,))  # f traced here, not once more for its output dtype
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise InputError(f"f must return floating-point values; it returned {out.dtype}")
    jvp = np.asarray(jvp)
    evaluate = jax.jit(flat_f)
    u0 = np.asarray(evaluate(x))
    quotients = np.stack([(np.asarray(evaluate(x + h * v_flat)) - u0) / h for h in hs_arr])
    norm = np.linalg.norm(jvp)
    errors = np.linalg.norm(quotients - jvp[None, :], axis=1) / (norm if norm > 0 else 1.0)
    return FiniteDifferenceLimit(hs=hs_arr, quotients=quotients, jvp=jvp, errors=errors)
