"""``astrograd flow ...``: run a scene, fit a Burgers initial state, fit a marker transport."""

from __future__ import annotations

import re
import time
from pathlib import Path

import typer

from astrograd._cli_util import (
    ProgressBar,
    advice_as_options,
    check_output,
    handle_errors,
    print_json,
    refuse_beyond_memory,
)
from astrograd._errors import INT32_MAX, InputError

app = typer.Typer(
    help="2D incompressible flow: Kármán street, Taylor–Green, smoke, Burgers; fits.", no_args_is_help=True
)

SCENES = ("karman", "taylor-green", "smoke", "burgers")
DEFAULT_RES = {"karman": "32x64", "taylor-green": "32x32", "smoke": "64x64", "burgers": "128"}
DEFAULT_DT = {"karman": 1.0, "taylor-green": None, "smoke": 1.0, "burgers": 1.0 / 32}
DEFAULT_STEPS = {"karman": 200, "taylor-green": 50, "smoke": 100, "burgers": 32}


def _quiet(ctx: typer.Context, progress: bool) -> bool:
    """The commands' ``quiet``: no progress bar with --no-progress, or with --quiet (read first)."""
    return not progress or bool(ctx.params.get("quiet_alias"))


# --progress/--no-progress as in the other areas, given to the commands as `quiet`, its opposite;
# --quiet, this area's flag before, still works (hidden; eager, so that _quiet sees it)
PROGRESS = typer.Option(True, "--progress/--no-progress", help="progress bar on stderr", callback=_quiet)
QUIET = typer.Option(False, "--quiet", hidden=True, is_eager=True, help="the same as --no-progress")


def parse_res(res: str, scene: str) -> tuple[int, int]:
    """``NXxNY`` (or ``N`` for a square) -> (nx, ny), each an integer >= 2; for Burgers (1D) one
    count ``N >= 4`` -> (N, N)."""
    if scene == "burgers":
        # the 2D hint ("give NXxNY, e.g. 32x64") was given for the 1D scene
        try:
            n = int(res)
        except ValueError:
            n = None
        if n is None or n < 4:
            raise InputError(f"--res {res!r} is not allowed for burgers (1D); give one cell count N >= 4, e.g. 128")
        return n, n
    parts = res.lower().split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise InputError(f"--res {res!r} is not allowed; give NXxNY, e.g. 32x64") from None
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or min(values) < 2:
        raise InputError(f"--res {res!r} is not allowed; give NXxNY with integers >= 2, e.g. 32x64")
    return values[0], values[1]


def _advice_as_options(rewrites: tuple[tuple[str, str], ...]):
    """:func:`~astrograd._cli_util.advice_as_options` with the (pattern, replacement) pairs ``rewrites``."""
    return advice_as_options(*rewrites)


# the advice of flow's explicit viscosity limit, in the library's terms
_VISCOSITY_LIMIT = "use the implicit viscosity scheme or a smaller dt"
RUN_ADVICE = (
    (re.escape(_VISCOSITY_LIMIT), "use --viscosity-scheme implicit or a smaller --dt"),
    (r"(explicit viscosity limit 1); use a smaller dt$", r"\1; use a smaller --dt"),  # burgers (no other scheme)
    (r"(above the godunov limit 1); use a smaller dt$", r"\1; use a smaller --dt"),  # burgers --advection godunov
    (r"^(cylinder radius .* covers no cell centre \(.*\))$", r"\1; use more cells (--res)"),
    (r"; use more cells$", "; use more cells (--res)"),
)


#: Largest --steps: the solver loop counts steps in int32 (10**20 was an MLIR TypeError traceback).
MAX_STEPS = INT32_MAX


def _steps(steps: int) -> int:
    if steps < 1:
        raise InputError(f"--steps {steps} is not allowed; it must be an integer >= 1")
    if steps > MAX_STEPS:
        raise InputError(f"--steps {steps} is not allowed; it must be an integer in [1, {MAX_STEPS}]")
    return steps


@app.command("run")
@handle_errors(options={"dt": "--dt", "unknown advection scheme": "unknown --advection",
                        "unknown viscosity scheme": "unknown --viscosity-scheme"})
def run_cmd(
    scene: str = typer.Argument(..., help="karman | taylor-green | smoke | burgers"),
    res: str = typer.Option(
        None,
        "--res",
        help="NXxNY cells (burgers: N); default by scene: karman 32x64, taylor-green 32x32, smoke 64x64, burgers 128",
    ),
    re: float = typer.Option(
        None, "--re", help="Reynolds number, default 100 (karman: U·2r/ν; taylor-green: A/(kν); not for smoke, burgers)"
    ),
    steps: int = typer.Option(
        None, "--steps", help="number of time steps (default by scene: karman 200, taylor-green 50, smoke 100, "
        "burgers 32)"
    ),
    dt: float = typer.Option(
        None, "--dt", help="time step (defaults: karman 1, smoke 1, burgers 1/32, taylor-green CFL 0.5)"
    ),
    save_every: int = typer.Option(
        None, "--save-every", help="also save every K-th state (initial included) as groups step_000000, … "
        "(default: none, the final state only)"
    ),
    out: Path = typer.Option(None, "--out", help="HDF5 output file (default: none, not written)"),
    gif: Path = typer.Option(
        None, "--gif", help="animated GIF of vorticity and marker (2D scenes; default: none, no GIF)"
    ),
    advection: str = typer.Option(
        None, "--advection", help="semi-lagrangian | maccormack, or godunov (burgers only: conservative finite "
        "volumes) (default by scene: karman semi-lagrangian, taylor-green maccormack, smoke maccormack, burgers "
        "semi-lagrangian)"
    ),
    viscosity_scheme: str = typer.Option(
        None, "--viscosity-scheme", help="explicit | implicit | none (inviscid), 2D scenes (default by scene: "
        "karman explicit, taylor-green implicit, smoke explicit)"
    ),
    json_out: bool = typer.Option(False, "--json", help="print one JSON object as the last line"),
    quiet: bool = PROGRESS,
    quiet_alias: bool = QUIET,
):
    """Run SCENE and write its fields (HDF5), optionally a GIF."""
    import jax
    import numpy as np

    from astrograd._errors import check_choice, check_positive

    check_choice("scene", scene, SCENES)
    if scene == "burgers":
        for option, value in (("--gif", gif), ("--viscosity-scheme", viscosity_scheme)):
            if value is not None:
                raise InputError(f"{option} is not available for burgers (1D); it applies to the 2D scenes")
    if re is not None and scene in ("smoke", "burgers"):
        # it used to be accepted and ignored: smoke and burgers have their own fixed viscosity
        raise InputError(f"--re is not available for {scene}; it sets the viscosity of karman and taylor-green")
    if re is not None and viscosity_scheme == "none":
        raise InputError("--re is not available with --viscosity-scheme none; it runs inviscid flow (viscosity 0)")
    re_given = re is not None
    re = 100.0 if re is None else re
    nx, ny = parse_res(res or DEFAULT_RES[scene], scene)
    steps = _steps(steps if steps is not None else DEFAULT_STEPS[scene])
    check_positive("--re", re)
    if dt is not None:
        check_positive("--dt", dt)
    if save_every is not None and not 1 <= save_every <= steps:
        raise InputError(f"--save-every {save_every} is not allowed; it must lie in [1, --steps = {steps}]")
    if save_every is not None and out is None and gif is None:  # the saved states went nowhere
        raise InputError("--save-every needs --out (groups step_* of the HDF5 file) or --gif (its frames)")
    check_output(out, "--out", None, "out.h5")
    check_output(gif, "--gif", ".gif", "run.gif")
    _refuse_run_beyond_memory(scene, res, nx, ny, steps, save_every, gif is not None)
    advice = RUN_ADVICE
    if re_given:  # the viscosity is the option's: 1e308 read "viscosity = 2e-307 is not allowed; float32 ..."
        advice = (*advice, (r"^viscosity = (\S+) is not allowed; (\S+) \(the parameters' precision\) cannot hold it: "
                            r"its magnitude must lie in (.*)$",
                            f"--re = {re:g} is not allowed; it gives the viscosity \\1, which \\2 cannot hold "
                            "(its magnitude must lie in \\3)"))
    t0 = time.perf_counter()
    with _advice_as_options(advice):
        if scene == "burgers":
            summary = _run_burgers(nx, steps, dt, save_every, out, advection, quiet)
        else:
            summary = _run_2d(scene, nx, ny, re, steps, dt, save_every, out, gif, advection, viscosity_scheme, quiet)
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    summary["backend"] = jax.default_backend()
    for k, v in summary.items():
        if v is not None:
            typer.echo(f"{k:>20}: {v:.6g}" if isinstance(v, float) else f"{k:>20}: {v}")
    if json_out:
        print_json({k: (float(v) if isinstance(v, np.floating) else v) for k, v in summary.items()})


def _refuse_run_beyond_memory(scene, res, nx, ny, steps, save_every, gif) -> None:
    """`run karman --res 100000x100000` built its arrays with no output until the memory ran out.
    Counted: float32 values per cell of the state and parameters (burgers: u and u0; 2D: vx, vy,
    marker, pressure, solid, forcing, marker source) and of each saved state."""
    if scene == "burgers":
        cells, per_cell, per_saved, what = nx, 2, 1, "u"
    else:
        cells, per_cell, per_saved, what = nx * ny, 7, 4, "vx, vy, marker, pressure"
    saving = f"--save-every {save_every}"
    if gif and save_every is None:
        save_every, saving = max(1, steps // 50), "--gif"  # as _run_2d saves the frames of the GIF
    saved = steps // save_every + 1 if save_every else 0
    kept = f" with {saved} saved states (--steps {steps}, {saving})" if saved else ""
    refuse_beyond_memory(
        f"--res {res or DEFAULT_RES[scene]}{kept}",
        4.0 * cells * (per_cell + per_saved * saved),
        f"float32, {per_cell} values per cell" + (f" and {per_saved} per saved state ({what})" if saved else ""),
    )


def _run_burgers(n, steps, dt, save_every, out, advection, quiet):
    import functools

    import jax
    import jax.numpy as jnp
    import numpy as np

    from astrograd.diff import fixed_loop
    from astrograd.flow._burgers import BOOK_VISCOSITY, BurgersConfig, burgers_initial, burgers_step, check_burgers
    from astrograd.flow._io import write_burgers_snapshot

    config = BurgersConfig(n=n, dt=dt or 1.0 / 32, advection="semi-lagrangian" if advection is None else advection)
    u = burgers_initial(config)
    viscosity = jnp.asarray(BOOK_VISCOSITY)
    check_burgers(u, viscosity, config)

    # in chunks, as the 2D scenes, for a progress bar (a long run printed nothing until its end); the
    # step does not depend on its index: the result of burgers_simulate over all the steps at once
    @functools.partial(jax.jit, static_argnums=2)
    def run(u, viscosity, k):
        return fixed_loop(lambda u, i, nu: burgers_step(u, nu, config), u, k, viscosity)[0]

    chunk = save_every or max(1, steps // 20)
    saved_list = [u] if save_every else []
    with ProgressBar(steps, "flow burgers", enabled=not quiet) as bar:
        done = 0
        while done < steps:
            k = min(chunk, steps - done)
            u = run(u, viscosity, k)
            done += k
            if save_every and done % save_every == 0:
                saved_list.append(u)
            bar.advance(k, status=f"t = {done * config.dt:.4g}")
    saved = np.stack([np.asarray(s) for s in saved_list]) if save_every else None
    u = np.asarray(u)
    if not np.isfinite(u).all():
        from astrograd._errors import SimulationError

        i = int(np.flatnonzero(~np.isfinite(u))[0])
        raise SimulationError(
            f"non-finite velocity at t = {steps * config.dt:.6g}, x = {float(config.cell_centres()[i]):.4g}"
        )
    if out is not None:
        write_burgers_snapshot(
            out,
            config.cell_centres(),
            u,
            saved=saved,
            save_every=save_every,
            dt=config.dt,
            time=steps * config.dt,
            dx=config.dx,
            viscosity=BOOK_VISCOSITY,
            attrs={"scene": "burgers", "steps": steps},
        )
    return {
        "scene": "burgers",
        "res": str(n),
        "steps": steps,
        "time": steps * config.dt,
        "viscosity": BOOK_VISCOSITY,
        "max_abs_u": float(np.abs(u).max()),
        "out": str(out) if out else None,
    }


def _run_2d(scene, nx, ny, re, steps, dt, save_every, out, gif, advection, viscosity_scheme, quiet):
    import jax
    import jax.numpy as jnp
    import numpy as np

    from astrograd import flow
    from astrograd.flow._io import write_flow_snapshot

    kw = {}
    if advection is not None:  # an empty --advection '' ran the default scheme
        kw["advection"] = advection
    if viscosity_scheme is not None:
        kw["viscosity_scheme"] = viscosity_scheme
    if scene == "karman":
        state, params, config = flow.karman(
            nx, ny, re, dt if dt is not None else DEFAULT_DT[scene], perturbation=0.01, key=jax.random.key(0), **kw
        )
    elif scene == "taylor-green":
        if nx != ny:
            raise InputError(f"--res {nx}x{ny}: taylor-green needs a square grid")
        state, params, config = flow.taylor_green(nx, None if viscosity_scheme == "none" else 1.0 / re, dt, **kw)
    else:
        state, params, config = flow.smoke(nx, ny, dt if dt is not None else DEFAULT_DT[scene], **kw)
    if gif is not None and save_every is None:
        save_every = max(1, steps // 50)
    chunk = save_every or max(1, steps // 20)
    saved_list = [state] if save_every else []
    current = state
    with ProgressBar(steps, f"flow {scene}", enabled=not quiet) as bar:
        done = 0
        while done < steps:
            k = min(chunk, steps - done)
            current, _ = flow.simulate(current, params, config, k)
            done += k
            if save_every and done % save_every == 0:
                saved_list.append(current)
            bar.advance(k, status=f"t = {float(current.time):.4g}")
    saved = jax.tree.map(lambda *xs: jnp.stack(xs), *saved_list) if save_every else None
    if out is not None:
        write_flow_snapshot(
            out,
            current,
            params,
            config,
            saved=saved,
            save_every=save_every,
            # taylor-green too: --re sets its viscosity (it used to be left out of file and summary)
            attrs={"scene": scene, "steps": steps,
                   **({} if scene == "smoke" or viscosity_scheme == "none" else {"reynolds": re})},
        )
    if gif is not None:
        from astrograd.flow._plot import write_gif

        write_gif(gif, saved, params, config)
    div = np.asarray(jnp.abs(flow.divergence(current.vx, current.vy, config.grid)) * (1 - params.solid))
    return {
        "scene": scene,
        "res": f"{nx}x{ny}",
        "steps": steps,
        "time": float(current.time),
        "dt": config.dt,
        "viscosity": float(params.viscosity),
        "reynolds": None if scene == "smoke" or viscosity_scheme == "none" else re,
        "kinetic_energy": float(flow.kinetic_energy(current, config)),
        "max_divergence": float(div.max()),
        "max_cg_steps": int(current.cg_steps),
        "out": str(out) if out else None,
        "gif": str(gif) if gif else None,
    }


# the library's checks name its parameters; reported with the options as typed
FIT_OPTIONS = {"learning rate": "--lr", "iterations": "--iterations", "checkpoint": "--checkpoint"}
FIT_ADVICE = ((r"; lower the learning rate$", "; lower --lr"),
              # inverse.fit's, when the loss became non-finite after some Adam updates
              (r" updates with learning_rate = ", " updates with --lr = "))
# fit-marker's time step is fixed: a finer grid is what crosses the explicit viscosity limit
FIT_MARKER_ADVICE = (*FIT_ADVICE, (re.escape(_VISCOSITY_LIMIT), "use a smaller --res"))


@app.command("fit-burgers")
@handle_errors(options=FIT_OPTIONS)
def fit_burgers_cmd(
    iterations: int = typer.Option(50, "--iterations", help="gradient-descent iterations"),
    lr: float = typer.Option(None, "--lr", help="learning rate on the mean squared loss (default 128)"),
    out: Path = typer.Option(None, "--out", help="HDF5 with u0_fit, target, losses (default: none, not written)"),
    plot: Path = typer.Option(None, "--plot", help="PNG of the fit (default: none, no figure)"),
    json_out: bool = typer.Option(False, "--json", help="print one JSON object as the last line"),
    quiet: bool = PROGRESS,
    quiet_alias: bool = QUIET,
):
    """Optimise the Burgers initial state (from 0) to match step 16 of the run from -sin(pi x)."""
    from astrograd.flow._fit import fit_burgers

    lr = _fit_lr(lr, iterations, 128.0)
    check_output(out, "--out", None, "out.h5")
    check_output(plot, "--plot", ".png", "fit.png")
    t0 = time.perf_counter()
    with ProgressBar(iterations, "fit burgers", enabled=not quiet) as bar, _advice_as_options(FIT_ADVICE):
        result = fit_burgers(iterations, lr, callback=lambda i, loss: bar.advance(1, f"loss {loss:.4g}"))
    _fit_outputs(result, out, plot, "burgers", t0, json_out)


@app.command("fit-marker")
@handle_errors(options=FIT_OPTIONS)
def fit_marker_cmd(
    iterations: int = typer.Option(100, "--iterations", help="Adam iterations"),
    lr: float = typer.Option(None, "--lr", help="Adam learning rate (default 0.05)"),
    res: int = typer.Option(32, "--res", help="cells per side of the unit box"),
    steps: int = typer.Option(20, "--steps", help="solver steps between initial and target marker"),
    out: Path = typer.Option(
        None, "--out", help="HDF5 with the fitted initial velocity, markers, losses (default: none, not written)"),
    plot: Path = typer.Option(None, "--plot", help="PNG of the fit (default: none, no figure)"),
    checkpoint: Path = typer.Option(
        None, "--checkpoint", help="save the optimisation to this file and resume from it when rerun (default: "
        "none, not saved)"),
    json_out: bool = typer.Option(False, "--json", help="print one JSON object as the last line"),
    quiet: bool = PROGRESS,
    quiet_alias: bool = QUIET,
):
    """Optimise the initial velocity so that the marker after STEPS steps matches a target."""
    from astrograd.flow._fit import fit_marker

    if res < 4:
        raise InputError(f"--res {res} is not allowed; it must be an integer >= 4")
    _steps(steps)
    # reverse mode through the steps keeps each step's vx, vy and marker
    refuse_beyond_memory(f"--res {res} with --steps {steps}", 4.0 * res * res * 3 * (steps + 1),
                         "float32 vx, vy and marker of every step, kept for the gradient")
    if checkpoint is not None and iterations == 0:  # it used to be accepted and ignored
        raise InputError("--checkpoint is not available with --iterations 0; nothing is optimised or saved")
    lr = _fit_lr(lr, iterations, 0.05)
    check_output(out, "--out", None, "out.h5")
    check_output(plot, "--plot", ".png", "fit.png")
    t0 = time.perf_counter()
    with _advice_as_options(FIT_MARKER_ADVICE):
        result = fit_marker(iterations, lr, n=res, steps=steps, checkpoint=checkpoint, progress=not quiet)
    _fit_outputs(result, out, plot, "marker", t0, json_out)


def _fit_lr(lr: float | None, iterations: int, default: float) -> float:
    """``--lr`` (None: not given) with ``--iterations 0`` was accepted and ignored."""
    if lr is not None and iterations == 0:
        raise InputError("--lr is not available with --iterations 0; nothing is optimised")
    return default if lr is None else lr


def _fit_outputs(result, out, plot, kind, t0, json_out):
    import numpy as np

    from astrograd.io import write_h5

    if out is not None:
        arrays = {k: np.asarray(v) for k, v in result.items() if isinstance(v, np.ndarray)}
        write_h5(
            out,
            arrays,
            {
                "initial_loss": result["initial_loss"],
                "final_loss": result["final_loss"],
                "iterations": result["iterations"],
                "problem": kind,
            },
        )
    if plot is not None:
        from astrograd.flow._plot import plot_burgers_fit, plot_marker_fit

        (plot_burgers_fit if kind == "burgers" else plot_marker_fit)(plot, result)
    summary = {
        "problem": kind,
        "initial_loss": result["initial_loss"],
        "final_loss": result["final_loss"],
        "iterations": result["iterations"],
        "seconds": round(time.perf_counter() - t0, 3),
        "out": str(out) if out else None,
        "plot": str(plot) if plot else None,
    }
    for k, v in summary.items():
        if v is not None:
            typer.echo(f"{k:>14}: {v:.6g}" if isinstance(v, float) else f"{k:>14}: {v}")
    if json_out:
        print_json(summary)
