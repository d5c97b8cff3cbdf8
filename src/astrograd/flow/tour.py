"""The flow sections of ``astrograd tour``: Burgers initial-state fit, Kármán vortex street
(GIF), Taylor–Green energy decay, marker-transport fit."""

from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from astrograd._tour import TourSection


def _burgers(outdir: Path, quick: bool) -> TourSection:
    from astrograd.flow._fit import fit_burgers
    from astrograd.flow._plot import plot_burgers_fit

    start = time.perf_counter()
    result = fit_burgers(50)
    fig = plot_burgers_fit(outdir / "flow_burgers_fit.png", result)
    return TourSection(
        title="Burgers: optimise an initial state through 16 solver steps",
        summary=(
            "1D Burgers (N = 128 on [-1, 1], nu = 0.01/pi, dt = 1/32; explicit viscosity + "
            "semi-Lagrangian advection). Starting from u0 = 0, plain gradient descent on u0 "
            "(lr 128 on the mean squared difference) matches the state at step 16 of the run "
            "from -sin(pi x). The Physics-based Deep Learning book reports 0.383 -> 0.00326 in "
            "50 iterations."
        ),
        figures=[fig],
        numbers={
            "initial loss": result["initial_loss"],
            "final loss (50 iterations)": result["final_loss"],
            "book final loss": 0.00326,
        },
        seconds=time.perf_counter() - start,
    )


def _karman(outdir: Path, quick: bool) -> TourSection:
    from astrograd import flow
    from astrograd.flow._plot import plot_state, write_gif

    start = time.perf_counter()
    nx, ny, steps, reynolds = (32, 64, 300, 400.0) if quick else (64, 128, 600, 400.0)
    state, params, config = flow.karman(
        nx, ny, reynolds, 1.0, advection="maccormack", perturbation=0.05, key=jax.random.key(0)
    )
    save_every = max(1, steps // 60)
    final, saved = flow.simulate(state, params, config, steps, save_every=save_every)
    gif = write_gif(outdir / "flow_karman.gif", saved, params, config)
    png = plot_state(outdir / "flow_karman.png", final, params, config, title=f"Kármán, Re = {reynolds:g}, {nx}x{ny}")
    div = jnp.abs(flow.divergence(final.vx, final.vy, config.grid)) * (1 - params.solid)
    return TourSection(
        title="Kármán vortex street behind a cylinder",
        summary=(
            f"The book's geometry (100 x 200, cylinder r = 10 at (50, 50), inflow v_y = 1 over "
            f"the bottom 5 units, open top, no-slip sides) at {nx} x {ny} cells, Re = U 2r / nu "
            f"= {reynolds:g}, dt = 1, MacCormack advection, explicit viscosity, Jacobi-"
            f"preconditioned CG pressure (tol 1e-3), {steps} steps. Vorticity and marker."
        ),
        figures=[gif, png],
        numbers={
            "max |div v| after projection": float(div.max()),
            "max CG iterations per solve": int(final.cg_steps),
            "kinetic energy at end": float(flow.kinetic_energy(final, config)),
        },
        seconds=time.perf_counter() - start,
    )


def _taylor_green(outdir: Path, quick: bool) -> TourSection:
    from astrograd import flow

    start = time.perf_counter()
    nu, t_end = 0.05, 1.0
    rows = {}
    for n in (16, 32) if quick else (16, 32, 64):
        state, params, config = flow.taylor_green(n, nu, viscosity_scheme="explicit")
        steps = int(round(t_end / config.dt))
        config = flow.FlowConfig(
            config.grid,
            config.boundaries,
            t_end / steps,
            advection="maccormack",
            viscosity_scheme="explicit",
            pressure_solver="fft",
        )
        final, _ = flow.simulate(state, params, config, steps)
        ratio = float(flow.kinetic_energy(final, config) / flow.kinetic_energy(state, config))
        rows[n] = abs(ratio / np.exp(-4 * nu * t_end) - 1)
    ns = sorted(rows)
    numbers = {f"|E/E_exact - 1|, {n}^2": f"{rows[n]:.3e}" for n in ns}
    numbers["observed order"] = round(float(np.log2(rows[ns[-2]] / rows[ns[-1]])), 2)
    return TourSection(
        title="Taylor–Green vortex: energy decay",
        summary=(
            "Periodic [0, 2pi]^2, v = (sin x cos y, -cos x sin y), nu = 0.05, FFT projection, "
            "MacCormack advection, CFL 0.5; kinetic energy at t = 1 against E0 exp(-4 nu t). "
            "The scheme (splitting, Euler viscosity, dt proportional to dx) is first order."
        ),
        numbers=numbers,
        seconds=time.perf_counter() - start,
    )


def _marker(outdir: Path, quick: bool) -> TourSection:
    from astrograd.flow._fit import fit_marker
    from astrograd.flow._plot import plot_marker_fit

    start = time.perf_counter()
    n, steps, iterations = (24, 20, 60) if quick else (32, 20, 100)
    result = fit_marker(iterations, 0.05, n=n, steps=steps)
    fig = plot_marker_fit(outdir / "flow_marker_fit.png", result)
    return TourSection(
        title="Marker transport: optimise the initial velocity",
        summary=(
            f"Closed unit box ({n} x {n}, free-slip walls). A Gaussian marker blob is carried "
            f"by the flow for {steps} steps; the target is the marker produced by a cellular "
            f"vortex. Adam ({iterations} iterations, lr 0.05) on the initial face velocities "
            "(from rest, projected by a differentiable CG pressure solve) through the solver."
        ),
        figures=[fig],
        numbers={"initial loss": result["initial_loss"], "final loss": result["final_loss"], "iterations": iterations},
        seconds=time.perf_counter() - start,
    )


def tour_sections(outdir: Path, quick: bool) -> list[TourSection]:
    """The flow worked examples (a couple of minutes on 2 cores with ``quick``)."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    return [_burgers(outdir, quick), _karman(outdir, quick), _taylor_green(outdir, quick), _marker(outdir, quick)]
