"""``astrograd orbit ...``: the ballistic-throw worked example from the command line."""

from __future__ import annotations

from pathlib import Path

import jax
import typer

from astrograd._cli_util import advice_as_options, check_output, handle_errors, print_json
from astrograd._errors import InputError, check_seed
from astrograd._precision import float64

app = typer.Typer(
    help="Ballistic throw: recover g from a trajectory, find the angle of maximum range, "
    "learn an unknown drag force with a network inside the integrator.",
    no_args_is_help=True,
)

PLOT = typer.Option(None, "--plot", help="write a PNG figure to this file (default: none, no figure)")
JSON = typer.Option(False, "--json", help="print one JSON object as the last line of stdout")
INTEGRATOR = typer.Option("rk4", "--integrator", help="euler, leapfrog or rk4")
PROGRESS = typer.Option(True, "--progress/--no-progress", help="progress bar on stderr")
# the library's checks name its parameters; the commands report them with the options as typed
OPTIONS = {"g_true": "--g-true", "g_init": "--g-init", "speed": "--speed", "dt": "--dt", "noise": "--noise",
           "steps": "--steps", "learning_rate": "--learning-rate", "tol": "--tol", "drag": "--drag", "g": "--g",
           "width": "--width", "depth": "--depth", "unknown integrator": "unknown --integrator",
           "unknown optimizer": "unknown --optimizer", "checkpoint": "--checkpoint"}


def _advice_as_options(*rewrites: tuple[str, str]):
    """:func:`~astrograd._cli_util.advice_as_options` with ``rewrites``; every command also gets
    :data:`LEARNING_RATE_NAMED`."""
    return advice_as_options(*rewrites, LEARNING_RATE_NAMED)


# a dt as long as the flight (_problems._require_steps_in_air)
LOWER_DT = (r"; lower dt$", "; lower --dt")
# inverse.fit's advice when the loss or its gradient became non-finite after some updates
LEARNING_RATE_NAMED = (r" updates with learning_rate = ", " updates with --learning-rate = ")


def _too_many_steps(advice: str) -> tuple[str, str]:
    """The advice of steps_for_flight (a dt too short for the flight), as the command's options."""
    return r"; raise dt or g, or lower the speed$", f"; {advice}"


@app.command("fit-gravity")
@handle_errors(options={**OPTIONS, "angle": "--angle"})
def fit_gravity_cmd(
    g_true: float = typer.Option(2.5, help="gravity that made the observed trajectory (m/s²)"),
    g_init: float = typer.Option(15.0, help="starting guess for g (m/s²)"),
    speed: float = typer.Option(10.0, help="launch speed (m/s)"),
    angle: float = typer.Option(60.0, help="launch angle (degrees, in (0, 90))"),
    dt: float = typer.Option(0.05, help="time step (s)"),
    integrator: str = INTEGRATOR,
    noise: float = typer.Option(0.0, help="Gaussian noise on the observed positions (m)"),
    seed: int = typer.Option(None, help="PRNG seed for the noise (default 0; needs --noise > 0)"),
    joint: bool = typer.Option(False, "--joint", help="also fit the launch velocity vector"),
    optimizer: str = typer.Option("adam", help="adam or lbfgs"),
    learning_rate: float = typer.Option(
        None, help="Adam learning rate (m/s² per step; default 0.1; not with --optimizer lbfgs)"
    ),
    steps: int = typer.Option(2000, help="maximum number of optimiser steps"),
    tol: float = typer.Option(1e-7, help="stop when the gradient norm is below this"),
    checkpoint: Path = typer.Option(None, help="save/resume the fit from this file (default: none, not saved)"),
    plot: Path = PLOT,
    json_out: bool = JSON,
    progress: bool = PROGRESS,
):
    """Recover g (and with --joint the launch velocity) from an observed trajectory."""
    from astrograd.orbit._problems import fit_gravity

    if optimizer == "lbfgs" and learning_rate is not None:  # it used to be accepted and ignored
        raise InputError("--learning-rate is not available with --optimizer lbfgs; it uses a line search")
    if seed is not None:
        check_seed(seed, "--seed")  # a bad value is named first
        if noise == 0:  # it used to be accepted and ignored: no noise is drawn
            raise InputError("--seed is not available with --noise 0; it seeds the noise on the observations")
    seed = 0 if seed is None else seed
    check_output(plot, "--plot", ".png", "fig.png")
    with float64(), _advice_as_options(LOWER_DT, _too_many_steps("raise --dt or --g-true, or lower --speed")):
        r = fit_gravity(g_true=g_true, g_init=g_init, speed=speed, angle_deg=angle, dt=dt,
                        integrator=integrator, noise=noise, key=jax.random.key(seed) if noise else None, joint=joint,
                        optimizer=optimizer, learning_rate=learning_rate, steps=steps, tol=tol,
                        checkpoint=checkpoint, progress=progress)
        print(f"fit-gravity ({integrator}, dt = {dt:g} s, {optimizer}): g = {r.g:.6f} m/s² "
              f"(true {r.g_true:g}, relative error {r.relative_error:.2e})")
        reached = "never" if r.iterations_to_1e3 is None else f"from iteration {r.iterations_to_1e3}"
        print(f"  {r.iterations} iterations; within 1e-3 of the truth: {reached}; "
              f"final loss {r.losses[-1]:.3e} m²")
        if r.g_standard_error is not None:
            print(f"  Cramér–Rao standard error of g for noise {noise:g} m: {r.g_standard_error:.2e} m/s² "
                  f"(error / standard error = {(r.g - r.g_true) / r.g_standard_error:+.2f})")
        if joint:
            print(f"  launch velocity ({r.velocity0[0]:.5f}, {r.velocity0[1]:.5f}) m/s, true "
                  f"({r.velocity0_true[0]:.5f}, {r.velocity0_true[1]:.5f})")
        if plot is not None:
            from astrograd.orbit._plot import plot_gravity_fit

            print(f"  figure: {plot_gravity_fit(r, plot)}")
        if json_out:
            out = {"g": r.g, "g_true": r.g_true, "relative_error": r.relative_error,
                   "iterations": r.iterations, "iterations_to_1e-3": r.iterations_to_1e3,
                   "final_loss": float(r.losses[-1]), "g_standard_error": r.g_standard_error}
            if joint:
                out["v0"] = r.velocity0.tolist()
                out["v0_true"] = r.velocity0_true.tolist()
            print_json(out)


@app.command("best-angle")
@handle_errors(options={**OPTIONS, "angle": "--angle-init"})
def best_angle_cmd(
    speed: float = typer.Option(20.0, help="launch speed (m/s)"),
    drag: float = typer.Option(0.0, "--drag", help="quadratic drag coefficient k (1/m), >= 0"),
    g: float = typer.Option(9.81, "--g", help="gravity (m/s²)"),
    dt: float = typer.Option(0.02, help="time step (s)"),
    integrator: str = INTEGRATOR,
    angle_init: float = typer.Option(30.0, help="starting angle (degrees, in (0, 90))"),
    learning_rate: float = typer.Option(0.15, help="gradient-ascent step (radians per unit of range/(v²/g) slope)"),
    steps: int = typer.Option(500, help="maximum number of ascent steps"),
    plot: Path = PLOT,
    json_out: bool = JSON,
    progress: bool = PROGRESS,
):
    """Throw angle of maximum range by gradient ascent, checked by a brute-force scan."""
    from astrograd.orbit._problems import best_angle

    check_output(plot, "--plot", ".png", "fig.png")
    with float64(), _advice_as_options(LOWER_DT, _too_many_steps("raise --dt or --g, or lower --speed"),
                                       (r"; lower learning_rate$", "; lower --learning-rate")):
        r = best_angle(speed=speed, drag=drag, g=g, dt=dt, integrator=integrator,
                       angle_init_deg=angle_init, learning_rate=learning_rate, steps=steps,
                       progress=progress)
        print(f"best-angle (v = {speed:g} m/s, k = {drag:g} /m, {integrator}): {r.angle_deg:.4f}° "
              f"after {r.iterations} ascent steps, range {r.range_m:.4f} m")
        print(f"  brute-force scan: {r.scan_angle_deg:.3f}° (grid {r.scan_resolution_deg:g}°), "
              f"range {r.scan_range_m:.4f} m")
        if r.analytic_angle_deg is not None:
            print(f"  drag-free theory: 45°, range v²/g = {r.analytic_range_m:.4f} m")
        if plot is not None:
            from astrograd.orbit._plot import plot_best_angle

            print(f"  figure: {plot_best_angle(r, plot)}")
        if json_out:
            print_json({"angle_deg": r.angle_deg, "range_m": r.range_m, "iterations": r.iterations,
                        "scan_angle_deg": r.scan_angle_deg, "scan_range_m": r.scan_range_m,
                        "drag": r.drag, "speed": r.speed, "g": r.g})


@app.command("learn-drag")
@handle_errors(options=OPTIONS)
def learn_drag_cmd(
    drag: float = typer.Option(0.02, "--drag", help="true quadratic drag coefficient k (1/m) of the data"),
    g: float = typer.Option(9.81, "--g", help="gravity (m/s²), known to the model"),
    dt: float = typer.Option(0.05, help="time step (s)"),
    integrator: str = INTEGRATOR,
    steps: int = typer.Option(1500, help="Adam steps"),
    width: int = typer.Option(None, help="hidden width of the MLP (default 32; not with --depth 0)"),
    depth: int = typer.Option(2, help="hidden layers of the MLP (0: a linear model, --width unused)"),
    learning_rate: float = typer.Option(3e-3, help="Adam learning rate"),
    seed: int = typer.Option(0, help="PRNG seed for the network weights"),
    checkpoint: Path = typer.Option(
        None, help="save/resume the training from this file (default: none, not saved)"
    ),
    plot: Path = PLOT,
    json_out: bool = JSON,
    progress: bool = PROGRESS,
):
    """Learn an unknown drag force f(v) with an MLP trained through the unrolled trajectories."""
    from astrograd.orbit._problems import learn_drag

    if depth == 0 and width is not None:  # it used to be accepted and ignored
        raise InputError("--width is not available with --depth 0 (a linear model, no hidden layer)")
    width = 32 if width is None else width
    check_output(plot, "--plot", ".png", "fig.png")
    # the throws' speeds are fixed: no --speed
    with float64(), _advice_as_options(LOWER_DT, _too_many_steps("raise --dt or --g")):
        r = learn_drag(drag=drag, g=g, dt=dt, integrator=integrator, steps=steps, width=width,
                       depth=depth, learning_rate=learning_rate, key=jax.random.key(check_seed(seed, "--seed")),
                       checkpoint=checkpoint, progress=progress)
        net = f"MLP {depth}x{width}" if depth else "linear model"
        print(f"learn-drag (k = {drag:g} /m, {net}, {r.iterations} Adam steps): "
              f"loss {r.losses[0]:.3e} -> {r.losses[-1]:.3e} m²")
        print(f"  drag law relative error on the visited velocities: {r.drag_relative_error:.3%}")
        print(f"  position RMS, training throws: {r.train_position_rms:.4f} m "
              f"(no-drag model {r.train_position_rms_no_drag:.4f} m)")
        print(f"  position RMS, held-out throw {r.test_throw}: {r.test_position_rms:.4f} m "
              f"(no-drag model {r.test_position_rms_no_drag:.4f} m)")
        if plot is not None:
            from astrograd.orbit._plot import plot_learned_drag

            print(f"  figure: {plot_learned_drag(r, plot)}")
        if json_out:
            print_json({"drag_relative_error": r.drag_relative_error,
                        "train_position_rms_m": r.train_position_rms,
                        "train_position_rms_no_drag_m": r.train_position_rms_no_drag,
                        "test_position_rms_m": r.test_position_rms,
                        "test_position_rms_no_drag_m": r.test_position_rms_no_drag,
                        "iterations": r.iterations, "final_loss": float(r.losses[-1])})
