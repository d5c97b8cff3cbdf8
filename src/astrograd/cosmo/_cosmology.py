"""The cosmological parameters (a differentiable equinox module) and the background expansion."""

from __future__ import annotations

import math

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from astrograd._errors import InputError, _fmt, check_choice, check_in_range, check_positive, is_concrete

TRANSFER_CHOICES = ("eisenstein_hu", "eisenstein_hu_nowiggle")

#: c / H0 in Mpc/h (H0 = 100 h km/s/Mpc).
HUBBLE_DISTANCE_MPC_H = 2997.92458


#: Upper bounds of the parameters, beyond which the model is meaningless or overflows: h = 1e3
#: made the Eisenstein–Hu transfer function NaN (so σ8 and P(k)); |n_s| = 10 and t_cmb = 1e8 a NaN
#: σ8 in float32; σ8 = 1e30 (or A_s = 1e30) an infinite P(k). H_MAX is H0 = 1000 km/s/Mpc, 15
#: times the measured value; a linear σ8 of 100 (A_s = 1e-4: σ8 ≈ 180) is far beyond linear theory.
#: T_CMB_MIN: t_cmb = 1e-6 K made the transfer function NaN in float32 (1e-5 K did not).
#: H_MIN is H0 = 0.1 km/s/Mpc: h = 1e-13 made Ω_m h² underflow in float32 and the transfer function
#: NaN (reported as an overflow of P(k)), and h = 1e-300 was stored as 0.
H_MIN = 1e-3
#: OMEGA_B_MIN: Ω_b = 1e-38 made Ω_b h² a subnormal float32, flushed to 0, and the Eisenstein–Hu
#: sound horizon 0/0 (a NaN P(k), reported as an overflow); at h = 0.001 and t_cmb = 1000 K the
#: ratio R = 31.5 Ω_b h² θ⁻⁴ … already underflowed at Ω_b = 1e-24 (1e-23 did not). Baryons change
#: P(k) in proportion to Ω_b (1e-9 relative at Ω_b = 1e-10): 1e-20 is the zero-baryon limit already.
OMEGA_B_MIN = 1e-20
H_MAX = 10.0
SIGMA8_MAX = 100.0
A_S_MAX = 1e-4
N_S_MAX = 5.0
T_CMB_MIN = 1e-3
T_CMB_MAX = 1000.0


def _check_upper(name: str, value, high: float) -> None:
    """InputError unless ``value`` is a finite number in (0, ``high``] (the message of
    ``check_positive`` for 0, negative or non-finite values)."""
    check_positive(name, value)
    check_in_range(name, value, 0.0, high, low_open=True)


class Cosmology(eqx.Module):
    """ΛCDM with optional curvature and w0–wa (CPL) dark energy; radiation is neglected.

    Every float field is a traced scalar (differentiable); ``transfer`` and ``t_cmb`` are static.
    Exactly one of ``sigma8`` and ``A_s`` normalises the linear power spectrum.

    omega_m: total matter density today Ω_m (cold dark matter + baryons).
    omega_b: baryon density today Ω_b.  h: H0 / (100 km/s/Mpc).  n_s: primordial spectral index.
    sigma8: rms linear density contrast in spheres of 8 Mpc/h at a = 1 (or None).
    A_s: primordial curvature power at k = 0.05 / Mpc (or None).
    omega_k: curvature density Ω_k (Ω_Λ = 1 − Ω_m − Ω_k).  w0, wa: w(a) = w0 + wa (1 − a).
    t_cmb: CMB temperature today, K.
    Concrete values must lie in: 1e-20 <= Ω_b < Ω_m, h in [0.001, 10], σ8 in (0, 100], A_s in (0, 1e-4],
    n_s in [−5, 5], t_cmb in [0.001, 1000] (beyond them the model is meaningless or overflows). In
    float32 an A_s far above Planck's with n_s far below 1 and a small h can still make P(k) at
    small k overflow: :func:`linear_power` and :func:`sigma_r` then raise InputError.
    """

    omega_m: Float[Array, ""]
    omega_b: Float[Array, ""]
    h: Float[Array, ""]
    n_s: Float[Array, ""]
    sigma8: Float[Array, ""] | None
    A_s: Float[Array, ""] | None
    omega_k: Float[Array, ""]
    w0: Float[Array, ""]
    wa: Float[Array, ""]
    transfer: str = eqx.field(static=True, default="eisenstein_hu")
    t_cmb: float = eqx.field(static=True, default=2.7255)

    def __init__(
        self,
        omega_m: ArrayLike = 0.3,
        omega_b: ArrayLike = 0.05,
        h: ArrayLike = 0.7,
        n_s: ArrayLike = 0.96,
        sigma8: ArrayLike | None = 0.8,
        A_s: ArrayLike | None = None,
        omega_k: ArrayLike = 0.0,
        w0: ArrayLike = -1.0,
        wa: ArrayLike = 0.0,
        transfer: str = "eisenstein_hu",
        t_cmb: float = 2.7255,
    ):
        concrete = is_concrete(omega_m, omega_b, h, sigma8, A_s)
        if concrete:
            check_positive("omega_m", omega_m)
            check_in_range("omega_b", omega_b, 0.0, float(omega_m), low_open=True, high_open=True)
            if float(omega_b) < OMEGA_B_MIN:
                raise InputError(
                    f"omega_b = {float(omega_b):g} is not allowed; it must be >= {OMEGA_B_MIN:g} (below it the "
                    "baryons change P(k) by less than 1e-18, and Ω_b h² underflows float32)"
                )
            # one range in every message (0, negative and non-finite included): h = 1000 was refused
            # as outside "(0, 10]", h = 0.0005 as outside "[0.001, 10]"
            check_in_range("h", h, H_MIN, H_MAX)
            if sigma8 is not None:
                _check_upper("sigma8", sigma8, SIGMA8_MAX)
            if A_s is not None:
                _check_upper("A_s", A_s, A_S_MAX)
        for name, value in (("n_s", n_s), ("omega_k", omega_k), ("w0", w0), ("wa", wa)):
            if is_concrete(value):
                _check_finite(name, value)
        if is_concrete(n_s):
            check_in_range("n_s", n_s, -N_S_MAX, N_S_MAX)
        check_positive("t_cmb", t_cmb)  # 0, negative or non-finite: check_positive's message
        check_in_range("t_cmb", t_cmb, T_CMB_MIN, T_CMB_MAX)  # one range in every message
        if (sigma8 is None) == (A_s is None):
            raise InputError("give exactly one of sigma8 and A_s to normalise the power spectrum")
        check_choice("transfer", transfer, TRANSFER_CHOICES)
        self.omega_m = jnp.asarray(omega_m, dtype=float)
        self.omega_b = jnp.asarray(omega_b, dtype=float)
        self.h = jnp.asarray(h, dtype=float)
        self.n_s = jnp.asarray(n_s, dtype=float)
        self.sigma8 = None if sigma8 is None else jnp.asarray(sigma8, dtype=float)
        self.A_s = None if A_s is None else jnp.asarray(A_s, dtype=float)
        self.omega_k = jnp.asarray(omega_k, dtype=float)
        self.w0 = jnp.asarray(w0, dtype=float)
        self.wa = jnp.asarray(wa, dtype=float)
        self.transfer = transfer
        self.t_cmb = float(t_cmb)

    @property
    def omega_de(self) -> Float[Array, ""]:
        """Dark-energy density today Ω_DE = 1 − Ω_m − Ω_k."""
        return 1.0 - self.omega_m - self.omega_k

    @property
    def omega_c(self) -> Float[Array, ""]:
        """Cold-dark-matter density today Ω_c = Ω_m − Ω_b."""
        return self.omega_m - self.omega_b


def check_each(values, ok, check) -> None:
    """For a concrete ``values``: ``check`` (a one-value check that raises InputError) on its first
    entry where the elementwise ``ok`` is false. Nothing under tracing (jit, grad, vmap); a
    concrete value inside a traced function (a closed-over constant) is checked."""
    import jax

    if not is_concrete(values):
        return
    with jax.ensure_compile_time_eval():
        try:
            array = jnp.asarray(values)
        except (TypeError, ValueError):  # None is a ValueError
            check(values)  # not numbers: the check names the value
            raise
        bad = ~ok(array)
        if bool(jnp.any(bad)):
            check(np.asarray(array)[np.asarray(bad)][0])


def _check_finite(name: str, value) -> None:
    """Raise unless ``value`` is one finite number (any sign)."""
    try:
        v = float(value)
    except OverflowError:  # an int beyond float (10**400): was an OverflowError traceback
        v = math.inf if value > 0 else -math.inf
    except (TypeError, ValueError):
        raise InputError(f"{name} = {value!r} is not a number; it must be a finite number") from None
    if not math.isfinite(v):
        raise InputError(f"{name} = {_fmt(value)} is not allowed; it must be a finite number")  # as given: 1e+400


def _de_density(cosmo: Cosmology, a):
    """ρ_DE(a) / ρ_DE(1) for w(a) = w0 + wa (1 − a)."""
    return a ** (-3.0 * (1.0 + cosmo.w0 + cosmo.wa)) * jnp.exp(-3.0 * cosmo.wa * (1.0 - a))


def _check_a(a) -> None:
    """InputError naming the first scale factor of a concrete ``a`` that is not finite and > 0
    (E(0) was NaN, E(−1) a number)."""
    check_each(a, lambda x: (x > 0) & jnp.isfinite(x), lambda v: check_positive("a", v))


def _e2(cosmo: Cosmology, a):
    """E²(a) for an ``a`` already checked by the caller."""
    return cosmo.omega_m * a**-3 + cosmo.omega_k * a**-2 + cosmo.omega_de * _de_density(cosmo, a)


def E2(cosmo: Cosmology, a: ArrayLike) -> Float[Array, "..."]:
    """(H(a) / H0)² at scale factor ``a`` (any shape, > 0)."""
    _check_a(a)
    return _e2(cosmo, jnp.asarray(a))


def E(cosmo: Cosmology, a: ArrayLike) -> Float[Array, "..."]:
    """H(a) / H0 at scale factor ``a`` (any shape, > 0)."""
    return jnp.sqrt(E2(cosmo, a))


def dlnE_dlna(cosmo: Cosmology, a: ArrayLike) -> Float[Array, "..."]:
    """d ln H / d ln a at scale factor ``a`` (any shape, > 0)."""
    _check_a(a)
    a = jnp.asarray(a)
    de = cosmo.omega_de * _de_density(cosmo, a)
    w = cosmo.w0 + cosmo.wa * (1.0 - a)
    d_e2 = -3.0 * cosmo.omega_m * a**-3 - 2.0 * cosmo.omega_k * a**-2 - 3.0 * (1.0 + w) * de
    return 0.5 * d_e2 / _e2(cosmo, a)


def omega_m_of_a(cosmo: Cosmology, a: ArrayLike) -> Float[Array, "..."]:
    """Matter density parameter Ω_m(a) = Ω_m a⁻³ / E²(a) (``a`` > 0)."""
    _check_a(a)
    a = jnp.asarray(a)
    return cosmo.omega_m * a**-3 / _e2(cosmo, a)
