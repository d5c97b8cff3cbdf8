"""Linear growth D1 and second-order growth D2 from the growth ODEs (fixed-step RK4 in ln a)."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from astrograd._errors import InputError, check_in_range, check_int, is_concrete
from astrograd.cosmo._cosmology import E2, Cosmology, check_each, dlnE_dlna, omega_m_of_a

#: The ODEs start at a = A_MIN in the matter era on the growing modes (D1 ≈ a, D2 ≈ −3/7 a²).
A_MIN = 1e-5
A_MAX = 4.0
NUM_STEPS = 1024


def _rhs(cosmo: Cosmology, lna, y):
    """y = (D1, D1', D2, D2') with ' = d/d ln a."""
    a = jnp.exp(lna)
    d1, d1p, d2, d2p = y
    friction = 2.0 + dlnE_dlna(cosmo, a)
    source = 1.5 * omega_m_of_a(cosmo, a)
    return jnp.stack(
        [d1p, -friction * d1p + source * d1, d2p, -friction * d2p + source * (d2 - d1**2)]
    )


class GrowthTable(eqx.Module):
    """Growth factors tabulated on a uniform grid in ln a, interpolated with cubic Hermite
    polynomials (values and ln-a derivatives from the ODE itself, so O(h⁴) accurate).

    Normalisation: ``D1(1) = 1``; ``D2`` is divided by the same factor squared, so that
    D2 ≈ −3/7 D1² at early times. ``D1_early`` is the growing mode normalised to a early on.
    """

    lna: Float[Array, " n"]
    y: Float[Array, "n 4"]
    dy: Float[Array, "n 4"]
    d1_today: Float[Array, ""]

    def _interp(self, a, column: int):
        lna = jnp.log(jnp.clip(jnp.asarray(a), A_MIN, A_MAX))
        h = self.lna[1] - self.lna[0]
        i = jnp.clip(jnp.floor((lna - self.lna[0]) / h).astype(jnp.int32), 0, self.lna.shape[0] - 2)
        t = (lna - self.lna[i]) / h
        y0, y1 = self.y[i, column], self.y[i + 1, column]
        m0, m1 = self.dy[i, column] * h, self.dy[i + 1, column] * h
        t2, t3 = t * t, t * t * t
        return (
            (2 * t3 - 3 * t2 + 1) * y0 + (t3 - 2 * t2 + t) * m0 + (-2 * t3 + 3 * t2) * y1 + (t3 - t2) * m1
        )

    def D1(self, a: ArrayLike) -> Float[Array, "..."]:
        """Linear growth factor normalised to D1(a=1) = 1."""
        return self._interp(a, 0) / self.d1_today

    def D1_early(self, a: ArrayLike) -> Float[Array, "..."]:
        """Linear growth factor normalised to D1 → a at early times (matter era)."""
        return self._interp(a, 0)

    def dD1_dlna(self, a: ArrayLike) -> Float[Array, "..."]:
        """d D1 / d ln a (D1 normalised to 1 today)."""
        return self._interp(a, 1) / self.d1_today

    def D2(self, a: ArrayLike) -> Float[Array, "..."]:
        """Second-order growth factor, ≈ −3/7 D1² at early times (D1(1) = 1 normalisation)."""
        return self._interp(a, 2) / self.d1_today**2

    def dD2_dlna(self, a: ArrayLike) -> Float[Array, "..."]:
        """d D2 / d ln a (same normalisation as ``D2``)."""
        return self._interp(a, 3) / self.d1_today**2

    def f1(self, a: ArrayLike) -> Float[Array, "..."]:
        """Linear growth rate f1 = d ln D1 / d ln a."""
        return self._interp(a, 1) / self._interp(a, 0)

    def f2(self, a: ArrayLike) -> Float[Array, "..."]:
        """Second-order growth rate f2 = d ln D2 / d ln a."""
        return self._interp(a, 3) / self._interp(a, 2)


def growth_table(cosmo: Cosmology, num_steps: int = NUM_STEPS) -> GrowthTable:
    """Integrate the D1 and D2 growth ODEs with RK4 in ln a from ``A_MIN`` to ``A_MAX``.

    One ``lax.scan`` of ``num_steps`` steps: differentiable with respect to every parameter.
    """
    check_int("num_steps", num_steps, 1)
    dtype = jnp.result_type(cosmo.omega_m)
    lna = jnp.linspace(jnp.log(A_MIN), jnp.log(A_MAX), num_steps + 1, dtype=dtype)
    _check_expansion(cosmo, num_steps, dtype)
    h = lna[1] - lna[0]
    a0 = jnp.exp(lna[0])
    # growing modes of matter + curvature to first order in eps = (Ω_k / Ω_m) a:
    # D1 = a (1 − 4/7 eps), D2 = −3/7 a² (1 − 10/9 eps)
    eps = cosmo.omega_k / cosmo.omega_m * a0
    y0 = jnp.stack(
        [
            a0 * (1.0 - 4.0 / 7.0 * eps),
            a0 * (1.0 - 8.0 / 7.0 * eps),
            -3.0 / 7.0 * a0**2 * (1.0 - 10.0 / 9.0 * eps),
            -3.0 / 7.0 * a0**2 * (2.0 - 30.0 / 9.0 * eps),
        ]
    ).astype(dtype)

    def rk4(y, x):
        k1 = _rhs(cosmo, x, y)
        k2 = _rhs(cosmo, x + 0.5 * h, y + 0.5 * h * k1)
        k3 = _rhs(cosmo, x + 0.5 * h, y + 0.5 * h * k2)
        k4 = _rhs(cosmo, x + h, y + h * k3)
        y1 = y + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        return y1, y1

    _, ys = jax.lax.scan(rk4, y0, lna[:-1])
    y = jnp.concatenate([y0[None], ys], axis=0)
    dy = jax.vmap(lambda x, yy: _rhs(cosmo, x, yy))(lna, y)
    table = GrowthTable(lna=lna, y=y, dy=dy, d1_today=jnp.asarray(1.0, dtype))
    return eqx.tree_at(lambda t: t.d1_today, table, table._interp(1.0, 0))


def _check_expansion(cosmo: Cosmology, num_steps: int, dtype) -> None:
    """For a concrete ``cosmo``: raise InputError at the first scale factor of the table where
    E²(a) is not a finite number > 0 (a universe that is not expanding there, e.g. a closed one
    that recollapses or bounces, or an overflow): the growth ODE would give garbage or NaN."""
    if not is_concrete(cosmo):
        return
    # the table's scale factors in numpy: ``lna`` itself is staged when called under jit
    a = np.exp(np.linspace(np.log(A_MIN), np.log(A_MAX), num_steps + 1)).astype(dtype)
    with jax.ensure_compile_time_eval():
        e2 = np.asarray(E2(cosmo, jnp.asarray(a)))
    bad = ~(np.isfinite(e2) & (e2 > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        params = ", ".join(
            f"{name} = {float(getattr(cosmo, name)):g}" for name in ("omega_m", "omega_k", "w0", "wa")
        )
        raise InputError(
            f"E²(a) = {float(e2[i]):g} at a = {float(a[i]):.6g} for the cosmology with {params}: the growth "
            f"table needs a universe that expands (E² finite and > 0) for a in [{A_MIN:g}, {A_MAX:g}]"
        )
    _check_matter_era(cosmo)


#: The largest |ρ_DE / ρ_m| at A_MIN that the matter-era start of the ODEs allows: D1 is then off
#: by about as much (1.2 × the ratio, measured against a solve started at a = 1e-30).
MAX_EARLY_DE_RATIO = 1e-4


def _check_matter_era(cosmo: Cosmology) -> None:
    """For a concrete ``cosmo``: InputError if dark energy is not negligible against matter at
    A_MIN (w0 + wa >~ −0.3, where ρ_DE falls more slowly than a⁻³ into the past): the ODEs start
    on the matter-era growing modes (D1 = a), which it would make wrong silently (w0 = −0.5,
    wa = 0.4: D1(1) 5 % high; w0 + wa >= 0: meaningless)."""
    # from the fields as floats: ``cosmo.omega_de`` is a jnp operation, staged under jit
    om, w0, wa = float(cosmo.omega_m), float(cosmo.w0), float(cosmo.wa)
    ode = 1.0 - om - float(cosmo.omega_k)
    if ode == 0.0:
        return
    # log |ρ_DE / ρ_m| at A_MIN, in logs: the ratio itself overflows for w0 + wa >~ 20
    log_ratio = math.log(abs(ode) / om) - 3.0 * (w0 + wa) * math.log(A_MIN) - 3.0 * wa * (1.0 - A_MIN)
    if log_ratio > math.log(MAX_EARLY_DE_RATIO):
        ratio = f"{math.exp(log_ratio):.3g}" if log_ratio < 700 else f"e^{log_ratio:.4g}"
        raise InputError(
            f"w0 + wa = {w0 + wa:g} (w0 = {w0:g}, wa = {wa:g}) is not allowed with omega_m = {om:g}: dark energy is "
            f"|ρ_DE/ρ_m| = {ratio} of the matter at a = {A_MIN:g}, where the growth ODEs start in the matter era; "
            f"it must be at most {MAX_EARLY_DE_RATIO:g} (w0 + wa below about -0.3)"
        )


def check_scale_factors(a: ArrayLike, name: str = "a") -> None:
    """Raise InputError naming the first scale factor of a concrete ``a`` outside the growth
    table [A_MIN, A_MAX] (where :class:`GrowthTable` would clip it) or NaN."""
    check_each(a, lambda x: (x >= A_MIN) & (x <= A_MAX), lambda v: check_in_range(name, v, A_MIN, A_MAX))


def growth_factor(cosmo: Cosmology, a: ArrayLike, table: GrowthTable | None = None) -> Float[Array, "..."]:
    """Linear growth factor D1(a), normalised to 1 at a = 1 (A_MIN <= a <= A_MAX)."""
    check_scale_factors(a)
    table = growth_table(cosmo) if table is None else table
    return table.D1(a)


def growth_rate(cosmo: Cosmology, a: ArrayLike, table: GrowthTable | None = None) -> Float[Array, "..."]:
    """Linear growth rate f = d ln D1 / d ln a (A_MIN <= a <= A_MAX)."""
    check_scale_factors(a)
    table = growth_table(cosmo) if table is None else table
    return table.f1(a)
