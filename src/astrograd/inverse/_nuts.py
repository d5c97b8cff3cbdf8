"""NUTS with a Stan-style windowed warm-up, written as one step function for the warm-up and the
draws, so that a chain's whole run is one compiled program (the log density and its gradient are
compiled once, not once for the warm-up and again for the draws) that can stop and resume at any
step.

The warm-up follows Stan's reference manual ("HMC algorithm parameters", windowed adaptation):
an initial fast window of 75 steps (step size only), slow windows of 25, 50, 100, ... steps
(step size, and the covariance of the window's draws, which becomes the inverse mass matrix at
the window's end), a final fast window of 50 steps; for fewer than 150 warm-up steps the
windows take 15 %, 75 % and 10 % of them, and below 20 steps only the step size is adapted. The
step size is tuned by Nesterov dual averaging (Hoffman & Gelman 2014, Algorithm 6: γ = 0.05,
t₀ = 10, κ = 0.75, μ = log 10ε) towards the target acceptance, restarted after every slow
window; the covariance estimate is regularised as Stan does, (n Σ + 5·10⁻³ I) / (n + 5). The
draws use the averaged step size of the warm-up's last window. The NUTS transition itself is
blackjax's (multinomial, iterative; Betancourt 2017).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

# what each step of a chain does (one code per step)
FAST, SLOW, SLOW_END, LAST_WARMUP, DRAW, SKIP = range(6)
_GAMMA, _T0, _KAPPA = 0.05, 10.0, 0.75
_INIT_BUFFER, _TERM_BUFFER, _BASE_WINDOW = 75, 50, 25


def warmup_schedule(num_warmup: int) -> np.ndarray:
    """The code of each warm-up step: FAST (step size only), SLOW (step size and covariance),
    SLOW_END (last step of a slow window: the covariance becomes the inverse mass matrix) and
    LAST_WARMUP (the last step: the step size is fixed to its average)."""
    codes = np.full(num_warmup, FAST, dtype=np.int32)
    if num_warmup >= 20:
        init, term, window = _INIT_BUFFER, _TERM_BUFFER, _BASE_WINDOW
        if init + window + term > num_warmup:
            init, term = int(0.15 * num_warmup), int(0.1 * num_warmup)
            window = num_warmup - init - term
        start, end_slow = init, num_warmup - term
        while start < end_slow:
            # a window that would leave less than twice its size before the final buffer is
            # stretched to reach it (Stan: the next, doubled window would not fit)
            stop = end_slow if start + 3 * window > end_slow else start + window
            codes[start:stop] = SLOW
            codes[stop - 1] = SLOW_END
            start, window = stop, 2 * window
    codes[-1] = LAST_WARMUP if codes[-1] == FAST else codes[-1]
    return codes


class Adaptation(NamedTuple):
    """The warm-up's state, and the step size and inverse mass matrix in force."""

    log_step: jax.Array  # dual averaging: current log ε
    log_step_avg: jax.Array  # its weighted average, log ε̄
    count: jax.Array  # steps since the dual averaging (re)started
    error_avg: jax.Array  # H̄: running average of target − acceptance
    mu: jax.Array  # log 10ε at the (re)start
    n: jax.Array  # draws in the covariance window
    mean: jax.Array
    m2: jax.Array  # sum of squared deviations, (d,) or (d, d)
    step_size: jax.Array
    inverse_mass_matrix: jax.Array


def init_adaptation(dim: int, dtype, dense: bool, step_size: float = 1.0) -> Adaptation:
    zero = jnp.zeros((), dtype)
    return Adaptation(
        log_step=jnp.log(jnp.asarray(step_size, dtype)), log_step_avg=zero, count=zero, error_avg=zero,
        mu=jnp.log(10.0 * jnp.asarray(step_size, dtype)), n=zero, mean=jnp.zeros(dim, dtype),
        m2=jnp.zeros((dim, dim) if dense else (dim,), dtype), step_size=jnp.asarray(step_size, dtype),
        inverse_mass_matrix=jnp.eye(dim, dtype=dtype) if dense else jnp.ones(dim, dtype),
    )


def _dual_averaging(a: Adaptation, acceptance, target: float) -> Adaptation:
    count = a.count + 1
    eta = 1.0 / (count + _T0)
    error_avg = (1.0 - eta) * a.error_avg + eta * (target - jnp.minimum(acceptance, 1.0))
    log_step = a.mu - jnp.sqrt(count) / _GAMMA * error_avg
    weight = count ** (-_KAPPA)
    log_step_avg = (1.0 - weight) * a.log_step_avg + weight * log_step
    return a._replace(log_step=log_step, log_step_avg=log_step_avg, count=count, error_avg=error_avg,
                      step_size=jnp.exp(log_step))


def _welford(a: Adaptation, x) -> Adaptation:
    n = a.n + 1
    delta = x - a.mean
    mean = a.mean + delta / n
    m2 = a.m2 + (jnp.outer(x - mean, delta) if a.m2.ndim == 2 else (x - mean) * delta)
    return a._replace(n=n, mean=mean, m2=m2)


def _end_window(a: Adaptation) -> Adaptation:
    """The window's regularised covariance becomes the inverse mass matrix; the covariance and
    the dual averaging restart (from the averaged step size)."""
    n = a.n
    cov = a.m2 / (n - 1)
    shrink = 1e-3 * 5.0 / (n + 5.0)
    eye = jnp.eye(a.mean.size, dtype=cov.dtype) if cov.ndim == 2 else 1.0
    step = jnp.exp(a.log_step_avg)
    zero = jnp.zeros_like(a.count)
    return a._replace(
        inverse_mass_matrix=n / (n + 5.0) * cov + shrink * eye, n=zero, mean=jnp.zeros_like(a.mean),
        m2=jnp.zeros_like(a.m2), log_step=jnp.log(step), log_step_avg=zero, count=zero, error_avg=zero,
        mu=jnp.log(10.0 * step), step_size=step,
    )


def make_step(logdensity, target_acceptance: float):
    """``step((state, adaptation), (key, code))``: one NUTS transition with the step size and
    inverse mass matrix in force, then the warm-up update that ``code`` asks for (none for DRAW;
    SKIP leaves everything unchanged: padding of the last chunk)."""
    import blackjax

    kernel = blackjax.nuts.build_kernel()

    def adapt(a, code, state, info):
        fast = _dual_averaging(a, info.acceptance_rate, target_acceptance)
        return jax.lax.switch(code, [
            lambda: fast,  # FAST
            lambda: _welford(fast, state.position),  # SLOW
            lambda: _end_window(_welford(fast, state.position)),  # SLOW_END
            lambda: fast._replace(step_size=jnp.exp(fast.log_step_avg)),  # LAST_WARMUP
            lambda: a,  # DRAW
        ])

    def outputs(state, acceptance, divergent, steps):
        # fixed dtypes, so that SKIP's zeros are known without tracing a transition a second time
        return (state.position, state.logdensity, jnp.asarray(acceptance, state.logdensity.dtype),
                jnp.asarray(divergent, bool), jnp.asarray(steps, jnp.int32))

    def transition(carry, key, code):
        state, a = carry
        new, info = kernel(key, state, logdensity, a.step_size, a.inverse_mass_matrix)
        out = outputs(new, info.acceptance_rate, info.is_divergent, info.num_integration_steps)
        return (new, adapt(a, code, new, info)), out

    def step(carry, xs):
        key, code = xs
        state = carry[0]
        skipped = jax.tree.map(jnp.zeros_like, outputs(state, 0, False, 0))  # SKIP: padding, no transition
        return jax.lax.cond(code == SKIP, lambda: (carry, skipped), lambda: transition(carry, key, code))

    return step
