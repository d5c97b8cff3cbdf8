"""``astrograd hydro ...``: run a problem, recover wind parameters, sample their posterior, map the
loss landscape."""

from __future__ import annotations

import contextlib
from pathlib import Path

import typer

from astrograd._cli_util import (
    check_out_folder,
    check_output,
    handle_errors,
    name_options,
    print_json,
    refuse_beyond_memory,
)
from astrograd._precision import with_float64

app = typer.Typer(help="Radial compressible hydrodynamics: shock tubes, blasts, stellar-wind bubbles.",
                  no_args_is_help=True)


# the library's checks name its parameters; the commands report them with the options as typed
RUN_CHOICES = {"unknown Riemann solver": "unknown --riemann", "unknown limiter": "unknown --limiter",
               "unknown integrator": "unknown --integrator", "unknown CFL width": "unknown --cfl-width",
               "unknown left boundary": "unknown --left-boundary", "unknown right boundary": "unknown --right-boundary"}
# the library's advice at the end of a message, in the options of `run`
RUN_ADVICE = {"choose t_end <": "choose --t-end <", "choose a later t_end or more cells": "choose a later --t-end or "
              "more --cells", "use more cells (32 or more)": "use --cells 32 or more"}


# a run holds at least three float64 states of 3 values per cell at once: the initial primitive
# state, the loop's state and the next one (measured: about 1.3 kB per cell, `run sod`)
STATE_BYTES_PER_CELL = 3 * 3 * 8


def _refuse_cells_beyond_memory(cells: int | None) -> None:
    """Refuse, as out of memory (exit status 1: a larger machine may run it), a --cells whose
    states alone exceed this machine's physical memory: before, `run sod --cells 1000000000`
    built arrays with no output until the memory ran out. A lower bound, so no run that could
    fit is refused; a --cells that fits may still take more steps than the cap (checked as the
    run goes: the CFL step shrinks with the cell width)."""
    from astrograd.hydro._config import MAX_CELLS

    # beyond MAX_CELLS the library refuses the count itself (exit status 2), whatever the machine
    if cells is None or cells > MAX_CELLS:
        return
    refuse_beyond_memory(f"--cells = {cells}", cells * STATE_BYTES_PER_CELL,
                         f"three float64 states, {STATE_BYTES_PER_CELL} bytes per cell in all")


def _from_init(attribute: str) -> str:
    """How the help of a `run` option says that an --init snapshot's ``attribute`` comes before its default."""
    return f"the --init file's attribute {attribute!r} if it has one"


@app.command("run")
@handle_errors(options=RUN_CHOICES)
@with_float64
def run_cmd(
    problem: str = typer.Argument(..., help="sod | sedov | wind | custom (custom needs --init)"),
    # the defaults depend on the problem (and on an --init file, whose attributes come first):
    # each help says the problem's (test_run_help_states_each_problems_defaults checks them)
    cells: int = typer.Option(None, "--cells", help="number of cells (default: sod 400, sedov 200, wind 401; "
                              "with --init: the file's)"),
    geometry: str = typer.Option(None, "--geometry", help="cartesian | cylindrical | spherical (default: the "
                                 "problem's: sod cartesian, sedov spherical, wind spherical, custom cartesian; "
                                 f"{_from_init('geometry')})"),
    t_end: float = typer.Option(None, "--t-end", help="end time in code units (default: the problem's: sod 0.2, "
                                "sedov 0.05, wind 0.00852 (25000 yr), custom 0.1 or the --init file's attribute "
                                "'t_end' if it has one)"),
    gamma: float = typer.Option(None, "--gamma", help="adiabatic index > 1 (default: the problem's: sod 1.4, "
                                f"sedov 5/3, wind 5/3, custom 5/3; {_from_init('gamma')})"),
    riemann: str = typer.Option(None, "--riemann", help=f"hll | hllc (default: hllc; {_from_init('riemann')})"),
    limiter: str = typer.Option(
        None, "--limiter", help="first_order | minmod | mc | van_leer | superbee (default: the problem's: sod mc, "
        f"sedov mc, wind van_leer, custom mc; {_from_init('limiter')})"
    ),
    integrator: str = typer.Option(None, "--integrator", help="muscl_hancock | ssp_rk2 (default: muscl_hancock; "
                                   f"{_from_init('integrator')})"),
    cfl: float = typer.Option(None, "--cfl", help=f"Courant number in (0, 1] (default: 0.8; {_from_init('cfl')})"),
    cfl_width: str = typer.Option(
        None, "--cfl-width", help="cell width in the CFL condition: volume (V/max A) | coordinate (dx) (default: "
        f"volume; {_from_init('cfl_width')})"
    ),
    left_boundary: str = typer.Option(
        None, "--left-boundary", help="reflective | open | periodic | inflow (inflow: the state rho, u, p = 1, 0, 1; "
        "default: the problem's: sod open (cylindrical, spherical: reflective), sedov reflective, wind reflective, "
        f"custom as sod; {_from_init('left_boundary')})"
    ),
    right_boundary: str = typer.Option(
        None, "--right-boundary", help="reflective | open | periodic | inflow (inflow: the state rho, u, p = 1, 0, 1; "
        f"default: the problem's: sod open, sedov open, wind open, custom open; {_from_init('right_boundary')})"
    ),
    wind_momentum: bool = typer.Option(
        None, "--wind-momentum/--no-wind-momentum", help="wind only: the injected mass carries momentum (radial "
        "velocity v∞ (r/R) in the wind cells of outer edge R; the energy injected stays ½Ṁv∞²) instead of only heat "
        "(default: off, or the --init snapshot's setting)"),
    init: Path = typer.Option(None, "--init", help="HDF5 initial state (rho, u, p; optional x): any state for "
                              "'custom'; a snapshot of `run sod|sedov|wind --out` continues that problem (default: "
                              "none, the problem's own initial state)"),
    out: Path = typer.Option(None, "--out", help="write the final snapshot here (HDF5; default: none, not written)"),
    plot: Path = typer.Option(None, "--plot", help="write a PNG of the final profiles here (default: none, no "
                              "figure)"),
    json_out: bool = typer.Option(False, "--json", help="print one JSON object as the last line"),
):
    """Run PROBLEM to --t-end and compare with its reference (sod: exact Riemann, sedov: Sedov–Taylor,
    wind: Weaver; custom: none)."""
    from astrograd._errors import InputError, SimulationError
    from astrograd.hydro._examples import build_problem, override, run_problem
    from astrograd.hydro._problems import MIN_WIND_CELLS
    from astrograd.hydro._snapshot import numerics_attributes, write_snapshot
    from astrograd.hydro._solve import StepCapError

    if cells is not None and cells < 4:
        raise InputError(f"--cells = {cells} is not allowed; it must be an integer >= 4")
    if problem == "wind" and cells is not None and cells < MIN_WIND_CELLS:
        # the wind is injected into the innermost cells: at 4 cells, half the box
        raise InputError(f"--cells = {cells} is not allowed for wind; it must be an integer >= {MIN_WIND_CELLS}")
    if wind_momentum is not None and problem in ("sod", "sedov", "custom"):  # no wind source
        flag = "--wind-momentum" if wind_momentum else "--no-wind-momentum"
        raise InputError(f"{flag} is not allowed for {problem!r}; it is an option of the wind problem only")
    _refuse_cells_beyond_memory(cells)
    check_output(out, "--out", None, "out.h5")
    check_output(plot, "--plot", ".png", "profiles.png")
    # named as the options only when given: t_end, gamma and the geometry may also come from the
    # problem or the --init snapshot, where the library's names are the right ones
    given = {name: option for name, option, value in
             (("t_end", "--t-end", t_end), ("gamma", "--gamma", gamma), ("CFL number", "--cfl", cfl),
              ("geometry", "--geometry", geometry), ("unknown geometry", "unknown --geometry", geometry),
              ("number of cells", "--cells", cells))
             if value is not None}
    try:
        pr = build_problem(problem, cells, geometry, init)
        pr = override(
            pr,
            config_kw={"riemann": riemann, "limiter": limiter, "integrator": integrator,
                       "left_boundary": left_boundary, "right_boundary": right_boundary, "cfl_width": cfl_width,
                       "wind_momentum": wind_momentum},
            params_kw={"gamma": gamma, "cfl": cfl},
            t_end=t_end,
        )
        result = run_problem(pr)
    except InputError as err:
        raise InputError(_in_options(name_options(str(err), given), RUN_ADVICE)) from None
    except StepCapError as err:  # the library's advice, "increase max_steps", is no option of `run`
        raise SimulationError(
            f"the run reached the cap of {err.max_steps} time steps at t = {err.t:.6g}, short of --t-end = "
            f"{err.t_end:.6g}; choose a smaller --t-end or fewer --cells (the CFL time step shrinks with the cell "
            "width)") from None
    cfg = pr.config
    if out is not None:
        write_snapshot(out, result["x"], result["w"], time=pr.t_end, gamma=float(pr.params.gamma),
                       geometry=cfg.geometry, units=pr.units,
                       attrs={"problem": pr.name, **numerics_attributes(cfg, pr.params)})
    if plot is not None:
        from astrograd.hydro._plot import plot_profiles

        ref = None
        if "reference" in result:
            ref = (result["reference_x"], result["reference"])
        plot_profiles(plot, result["x"], result["w"], reference=ref,
                      reference_label=result.get("reference_label", "exact"),
                      title=f"{pr.name}, {cfg.geometry}, {cfg.num_cells} cells, t = {pr.t_end:.4g}")
    summary = {
        "problem": pr.name, "cells": cfg.num_cells, "geometry": cfg.geometry, "t_start": pr.t_start, "t_end": pr.t_end,
        "gamma": float(pr.params.gamma), "riemann": cfg.riemann, "limiter": cfg.limiter,
        **({"wind_momentum": cfg.wind_momentum} if pr.name == "wind" else {}),
        "steps": result["steps"], "seconds": round(result["seconds"], 3), **result["numbers"],
        "out": str(out) if out else None, "plot": str(plot) if plot else None,
    }
    width = max(len(k) for k in summary)  # a fixed 26 left weaver_reverse_shock_radius_pc out of line
    for k, v in summary.items():
        if v is not None:
            typer.echo(f"{k:>{width}}: {v:.6g}" if isinstance(v, float) else f"{k:>{width}}: {v}")
    if json_out:
        print_json(summary)


def _starts(spec: str):
    import numpy as np

    from astrograd._errors import InputError

    try:
        pairs = [tuple(float(v) for v in item.split(",")) for item in spec.split(";") if item.strip()]
    except ValueError:
        raise InputError(f"--starts {spec!r} is not allowed; give 'v1,m1;v2,m2;...' (km/s, Msun/Myr)") from None
    # finite too: inf or nan passed here and was refused by fit_wind only after --out was made
    if not pairs or any(len(p) != 2 or not all(0 < v < float("inf") for v in p) for p in pairs):
        raise InputError(f"--starts {spec!r} is not allowed; give finite positive 'v,mdot' pairs separated by ';'")
    return np.asarray(pairs)


DEFAULT_STARTS = "1200,0.16;3000,0.07;1500,0.06"


def _wind_momentum_option():
    # the help states the default: typer's "[default: no-wind-momentum]" repeated it
    return typer.Option(False, "--wind-momentum/--no-wind-momentum", show_default=False,
                        help="the wind's injected mass carries momentum (as `run wind --wind-momentum`; default: off, "
                        "only heat)")


# fit_wind's advice when the step cap is met at a start or where Adam took one, and inverse.fit's
# when the loss became non-finite after some updates (fit-wind's Adam is a custom optax one, whose
# step size fit cannot name), in fit-wind's options
FIT_ADVICE = {"use starts ": "use --starts ", "smaller learning_rate": "smaller --learning-rate",
              "optimiser updates: a smaller step size may help": "Adam updates: a smaller --learning-rate may help"}


def _in_options(message: str, phrases: dict[str, str]) -> str:
    """``message`` with each library phrase (a key of ``phrases``, e.g. "choose t_end <") replaced
    by its wording in the command's options ("choose --t-end <"), wherever it stands; leading
    parameter names are ``name_options``' job."""
    for phrase, option in phrases.items():
        message = message.replace(phrase, option)
    return message


# a checkpoint's settings as the library names them (``refuse_other_settings``), in the options
# of fit-wind and posterior
CHECKPOINT_OPTIONS = {" wind_momentum=True": " --wind-momentum", " wind_momentum=False": " --no-wind-momentum",
                      " noise=": " --noise ", " num_warmup=": " --warmup ", " num_samples=": " --samples ",
                      " cells=": " --cells ", " loss=": " --loss ", " iterations=": " --iterations ",
                      " learning_rate=": " --learning-rate ",
                      "another checkpoint file": "another --out",
                      # inverse.fit's refusal of a checkpoint of another fit: the path is --out's
                      "delete it or pass another path": "delete it or use another --out"}


@contextlib.contextmanager
def _checkpoint_named_as_options(starts: str | None = None):
    """The library's refusal of a checkpoint in --out written with another setting, reported
    with the options as typed (the library reads the checkpoint before any run); ``starts``:
    fit-wind's --starts as typed, shown for the library's starts=[[v, mdot], ...] (units)."""
    import re

    from astrograd._errors import InputError

    try:
        yield
    except InputError as err:
        message = str(err)
        if not message.startswith("checkpoint "):
            raise
        message = _in_options(message, CHECKPOINT_OPTIONS)
        if starts is not None:
            message = re.sub(r" starts=\[.*\] \(v_inf km/s, mdot Msun/Myr\)", lambda _: f" --starts {starts!r}",
                             message)
        raise InputError(message) from None


# the library's checks name its parameters; the CLI reports them with the options as typed
WIND_CELLS = {"number of cells": "--cells", "unknown loss": "unknown --loss"}


@app.command("fit-wind")
@handle_errors(options={**WIND_CELLS, "iterations": "--iterations", "learning_rate": "--learning-rate",
                        "starts": "--starts"})
@with_float64
def fit_wind_cmd(
    cells: int = typer.Option(64, "--cells", help="number of cells (>= 16)"),
    iterations: int = typer.Option(200, "--iterations", help="Adam iterations (>= 1)"),
    loss: str = typer.Option("density", "--loss", help="density | profile (rho, u and p)"),
    learning_rate: float = typer.Option(
        0.1, "--learning-rate", help="initial Adam step in log-parameter space, > 0 and <= 10 (decays 100x)"
    ),
    starts: str = typer.Option(DEFAULT_STARTS, "--starts", help="initial guesses 'v_km_s,mdot_msun_myr;...'"),
    wind_momentum: bool = _wind_momentum_option(),
    out: Path = typer.Option(Path("outputs/hydro/fit-wind"), "--out", help="output directory"),
    json_out: bool = typer.Option(False, "--json", help="print one JSON object as the last line"),
):
    """Recover (v∞, Ṁ) of the wind bubble from its final state by Adam from several starts.
    Interrupt and rerun with the same options to resume from OUT/checkpoint-LOSS-CELLS.npz."""
    import numpy as np

    from astrograd.hydro._problems import wind_problem
    from astrograd.hydro._wind import fit_wind

    check_out_folder(out)  # not created here: fit_wind checks its settings before it writes a checkpoint
    start_pairs = _starts(starts)
    _refuse_cells_beyond_memory(cells)
    problem = wind_problem(cells, wind_momentum=wind_momentum)
    from astrograd._errors import InputError, SimulationError

    try:
        with _checkpoint_named_as_options(starts):
            res = fit_wind(problem, start_pairs, loss=loss, iterations=iterations, learning_rate=learning_rate,
                           checkpoint=out / f"checkpoint-{loss}-{cells}.npz")
    except (InputError, SimulationError) as err:  # e.g. the step cap met at a start: the advice in the options
        kind = InputError if isinstance(err, InputError) else SimulationError
        raise kind(_in_options(str(err), FIT_ADVICE)) from None
    from astrograd.io import write_h5

    write_h5(out / "fit.h5", {"starts": res.starts, "recovered": res.recovered, "relative_error": res.relative_error,
                              "losses": res.losses, "paths_theta": res.paths},
             {"v_inf_true_km_s": res.true[0], "mdot_true_msun_per_myr": res.true[1], "loss": loss, "cells": cells,
              "wind_momentum": int(wind_momentum)})
    summary = {
        "loss": loss, "cells": cells, "iterations": iterations, "wind_momentum": wind_momentum,
        "true": {"v_inf_km_s": res.true[0], "mdot_msun_per_myr": res.true[1]},
        "recovered": [{"v_inf_km_s": float(v), "mdot_msun_per_myr": float(m)} for v, m in res.recovered],
        "relative_error": [{"v_inf_km_s": float(v), "mdot_msun_per_myr": float(m)} for v, m in res.relative_error],
        "max_relative_error": float(np.max(res.relative_error)),
        "final_loss": float(res.losses[-1]),
        "out": str(out / "fit.h5"),
    }
    for (v0, m0), (v, m), (ev, em) in zip(res.starts, res.recovered, res.relative_error, strict=True):
        typer.echo(f"start ({v0:7.1f} km/s, {m0:.4f} Msun/Myr) -> ({v:8.2f} km/s, {m:.5f} Msun/Myr)"
                   f"  errors {ev:.2e}, {em:.2e}")
    typer.echo(f"truth ({res.true[0]:.1f} km/s, {res.true[1]:.5f} Msun/Myr); results in {out / 'fit.h5'}")
    if json_out:
        print_json(summary)


MAX_GRID = 1000
"""Most points per axis of ``loss-map``: 10**6 forward runs."""


@app.command("loss-map")
@handle_errors(options={**WIND_CELLS, "batch": "--batch", "vmap": "--vmap", "devices": "--devices"})
@with_float64
def loss_map_cmd(
    cells: int = typer.Option(64, "--cells", help="number of cells (>= 16)"),
    grid: int = typer.Option(40, "--grid", help="points per axis, 2 to 1000 (v∞ 200–4000 km/s, star mass 15–70 Msun)"),
    loss: str = typer.Option("density", "--loss", help="density | profile"),
    batch: int = typer.Option(40, "--batch", help="forward runs per compiled call (one progress step)"),
    vmap: int = typer.Option(
        None, "--vmap", help="runs per vmapped adaptive loop within a call (default: all of a device's share; "
        "on a CPU --vmap 1, one run at a time, is faster)"),
    devices: int = typer.Option(
        1, "--devices", help="split each call over this many devices (GPUs; on a CPU, host devices made with "
        "XLA_FLAGS=--xla_force_host_platform_device_count=N, which run in parallel on separate cores)"),
    fit_file: Path = typer.Option(None, "--fit", help="fit.h5 from fit-wind (of the same --wind-momentum setting): "
                                  "draw its paths (default: none, the map alone)"),
    wind_momentum: bool = _wind_momentum_option(),
    out: Path = typer.Option(Path("outputs/hydro/loss-map"), "--out", help="output directory"),
    json_out: bool = typer.Option(False, "--json", help="print one JSON object as the last line"),
):
    """Loss landscape over (v∞, star mass) computed in batches, optionally vmapped and split over
    devices; PNG and HDF5."""
    import numpy as np

    from astrograd._devices import one_axis_mesh
    from astrograd._errors import InputError, check_choice
    from astrograd.hydro._plot import plot_loss_map
    from astrograd.hydro._problems import wind_problem
    from astrograd.hydro._wind import physical_from_theta, wind_loss_map
    from astrograd.io import read_h5, write_h5

    check_out_folder(out)
    # wind_loss_map checks the loss and the devices only after a forward run of the truth
    check_choice("--loss", loss, ("density", "profile"))
    if not 2 <= grid <= MAX_GRID:  # --grid 100000 was a MemoryError traceback (10**10 points), after --out was made
        raise InputError(f"--grid = {grid} is not allowed; it must be an integer in [2, {MAX_GRID}] "
                         "(grid² forward runs)")
    if vmap is not None and vmap < 1:  # the library's message offers None, which no option value is
        raise InputError(f"--vmap = {vmap} is not allowed; it must be an integer >= 1 (or leave --vmap out: all of "
                         "a device's share)")
    if devices != 1:
        one_axis_mesh(devices, "runs")
    _refuse_cells_beyond_memory(cells)
    pr = wind_problem(cells, wind_momentum=wind_momentum)
    setup = pr.info["setup"]
    paths = None
    if fit_file is not None:  # read and checked before the map, which takes long
        data, attrs = read_h5(fit_file, required=("paths_theta",))
        _check_fit_settings(fit_file, attrs, cells=cells, loss=loss, wind_momentum=wind_momentum, setup=setup)
        theta = data["paths_theta"]
        numeric = np.issubdtype(theta.dtype, np.integer) or np.issubdtype(theta.dtype, np.floating)
        if not (numeric and theta.ndim == 3 and theta.shape[2] == 2 and theta.size and np.all(np.isfinite(theta))):
            raise InputError(f"dataset 'paths_theta' in {str(fit_file)!r} ({theta.dtype}, shape {theta.shape}) is "
                             "not allowed; it must hold finite numbers of shape (starts, iterations+1, 2) as fit-wind "
                             "writes")
        vv, mdot = physical_from_theta(theta)
        paths = [np.stack([vv[i], mdot[i] / setup.mdot_per_msun], axis=1) for i in range(vv.shape[0])]
    v = np.linspace(200.0, 4000.0, grid)
    m = np.linspace(15.0, 70.0, grid)
    losses = wind_loss_map(pr, v, m, loss=loss, batch=batch, vmap=vmap, devices=None if devices == 1 else devices)
    write_h5(out / "loss_map.h5", {"v_inf_km_s": v, "star_mass_msun": m, "loss": losses},
             {"loss_kind": loss, "cells": cells, "wind_momentum": int(wind_momentum)})
    png = plot_loss_map(out / "loss_map.png", v, m, losses, paths=paths,
                        truth=(setup.v_inf_km_s, setup.star_mass_msun),
                        title=f"{loss} loss, {cells} cells{', wind momentum' if wind_momentum else ''}")
    i, j = np.unravel_index(np.argmin(losses), losses.shape)
    summary = {"cells": cells, "grid": grid, "loss": loss, "wind_momentum": wind_momentum, "devices": devices,
               "min_loss": float(losses[i, j]),
               "argmin": {"v_inf_km_s": float(v[j]), "star_mass_msun": float(m[i])},
               "out": str(out / "loss_map.h5"), "plot": str(png)}
    typer.echo(f"minimum {losses[i, j]:.3g} at v = {v[j]:.0f} km/s, M = {m[i]:.1f} Msun; {png}")
    if json_out:
        print_json(summary)


def _check_fit_settings(path: Path, attrs: dict, *, cells: int, loss: str, wind_momentum: bool, setup) -> None:
    """The paths of a --fit file drawn only on a map of the problem it fitted: its --cells,
    --loss and --wind-momentum (attributes of fit.h5) and its truth must be this map's, else a
    one-line InputError naming the option and both values (before: only the wind momentum was
    compared, and the paths of a 64-cell density fit were drawn on a 32-cell profile map without a
    word). An attribute a file lacks is not compared (a fit.h5 written before it was recorded; one
    without ``wind_momentum`` is of a fit without the momentum source)."""
    import numpy as np

    from astrograd._errors import InputError
    from astrograd.hydro._examples import _flag_attribute, _text_attribute

    def refuse(written: str, attribute: str, stored, this: str):
        raise InputError(f"--fit {str(path)!r} was written by fit-wind {written} (attribute {attribute!r} = {stored}), "
                         f"this map has {this}; use the same setting or another --fit")

    if "cells" in attrs:
        stored = np.asarray(attrs["cells"])
        if not (stored.size == 1 and np.issubdtype(stored.dtype, np.integer)):
            raise InputError(f"attribute 'cells' = {attrs['cells']!r} in {str(path)!r} is not allowed; it must be the "
                             "integer cell count fit-wind writes")
        if int(stored.reshape(())) != cells:
            refuse(f"--cells {int(stored.reshape(()))}", "cells", int(stored.reshape(())), f"--cells {cells}")
    if "loss" in attrs:
        stored_loss = _text_attribute(attrs["loss"])
        if stored_loss != loss:
            refuse(f"--loss {stored_loss}", "loss", repr(stored_loss), f"--loss {loss}")
    stored_flag = _flag_attribute(path, attrs, "wind_momentum") if "wind_momentum" in attrs else False
    if stored_flag != wind_momentum:
        flags = ("--no-wind-momentum", "--wind-momentum")
        refuse(flags[stored_flag], "wind_momentum", int(stored_flag), flags[wind_momentum])
    truth = (setup.v_inf_km_s, setup.mdot_msun_per_myr)
    keys = ("v_inf_true_km_s", "mdot_true_msun_per_myr")
    if all(k in attrs for k in keys):
        import h5py

        with h5py.File(path, "r") as f:  # as stored: read_h5 gives a float32 attribute as a Python float
            stored_truth = [np.asarray(f.attrs[k]) for k in keys]
        if not all(a.size == 1 and (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating))
                   for a in stored_truth):
            raise InputError(f"attributes {', '.join(map(repr, keys))} in {str(path)!r} are not allowed; they must be "
                             "numbers (the truth of the fit)")
        stored_truth = [a.reshape(())[()] for a in stored_truth]
        # at the precision the file stored: another tool's float32 truth was refused (rtol 1e-12)
        # as two values printed alike, "(2000 km/s, 0.1186 Msun/Myr), this map's is (2000 km/s, 0.1186 ...)"
        same = [bool(np.isclose(float(a), b, rtol=_stored_rtol(a), atol=0.0))
                for a, b in zip(stored_truth, truth, strict=True)]
        if not all(same):
            shown, this = zip(*(_told_apart(float(a), b, equal) for a, b, equal in zip(stored_truth, truth, same,
                                                                                      strict=True)), strict=True)
            raise InputError(f"--fit {str(path)!r} fitted the truth (v_inf, mdot) = ({shown[0]} km/s, {shown[1]} "
                             f"Msun/Myr), this map's is ({this[0]} km/s, {this[1]} Msun/Myr); use a fit.h5 of "
                             "fit-wind's wind problem or another --fit")


def _stored_rtol(value) -> float:
    """The relative tolerance of a number as a file stored it: its float type's epsilon (a float32
    rounds the truth by up to half of it), 1e-12 for a float64 or an integer."""
    import numpy as np

    return max(float(np.finfo(value.dtype).eps), 1e-12) if np.issubdtype(value.dtype, np.floating) else 1e-12


def _told_apart(a: float, b: float, equal: bool) -> tuple[str, str]:
    """``a`` and ``b`` in 6 significant digits, or in as many more (up to 17) as they need to
    print differently unless they are ``equal`` (within the stored precision)."""
    for digits in range(6, 18):
        pair = f"{a:.{digits}g}", f"{b:.{digits}g}"
        if equal or pair[0] != pair[1]:
            break
    return pair


@app.command("posterior")
@handle_errors(options={**WIND_CELLS, "noise": "--noise", "num_warmup": "--warmup", "num_samples": "--samples",
                        "num_chains": "--chains"})
@with_float64
def posterior_cmd(
    cells: int = typer.Option(32, "--cells", help="number of cells (>= 16)"),
    noise: float = typer.Option(0.05, "--noise", help="relative noise on each enclosed mass M(<r) (> 0, <= 10)"),
    warmup: int = typer.Option(150, "--warmup", help="NUTS warm-up steps per chain (>= 1)"),
    samples: int = typer.Option(300, "--samples", help="NUTS draws per chain (>= 2)"),
    chains: int = typer.Option(2, "--chains", help="chains, run one after the other (>= 1)"),
    seed: int = typer.Option(0, "--seed", help="PRNG seed (data noise and sampler)"),
    wind_momentum: bool = _wind_momentum_option(),
    out: Path = typer.Option(Path("outputs/hydro/posterior"), "--out", help="output directory"),
    json_out: bool = typer.Option(False, "--json", help="print one JSON object as the last line"),
):
    """Posterior of (v∞, Ṁ) from a noisy enclosed-mass profile of the wind bubble: NUTS through
    the solver, checked against the posterior on a grid of forward runs. PNG and HDF5.
    Interrupt and rerun with the same options to resume from OUT where it stopped (checkpoint every 50 NUTS steps)."""
    import jax
    import numpy as np

    from astrograd._errors import check_seed
    from astrograd.hydro._plot import plot_posterior
    from astrograd.hydro._posterior import physical_summary, wind_posterior
    from astrograd.hydro._problems import wind_problem
    from astrograd.io import write_h5

    check_out_folder(out)  # not created here: wind_posterior checks its settings before it writes
    key = jax.random.key(check_seed(seed, "--seed"))
    _refuse_cells_beyond_memory(cells)
    problem = wind_problem(cells, wind_momentum=wind_momentum)
    with _checkpoint_named_as_options():
        post = wind_posterior(problem, key, noise=noise, num_warmup=warmup, num_samples=samples, num_chains=chains,
                              checkpoint=out / f"checkpoint-posterior-{cells}-{seed}.npz")
    res = post.result
    diag = res.summary()
    write_h5(out / "posterior.h5",
             {"v_inf_km_s": post.v_inf_km_s, "mdot_msun_per_myr": post.mdot_msun_per_myr, "u": post.u_samples,
              "data_log_enclosed_mass": post.data, "laplace_cov_u": post.laplace_cov,
              "log_density": res.log_density, "divergent": res.divergent.astype(np.int8),
              "grid_ln_v_inf": post.grid_u[0], "grid_ln_mdot": post.grid_u[1],
              "grid_log_posterior": post.grid_log_posterior, "grid_mean_u": post.grid_mean,
              "grid_cov_u": post.grid_cov},
             {"v_inf_true_km_s": post.true[0], "mdot_true_msun_per_myr": post.true[1], "noise": noise,
              "cells": cells, "seed": seed, "wind_momentum": int(wind_momentum)})
    png = plot_posterior(out / "posterior.png", post.v_inf_km_s, post.mdot_msun_per_myr, post.true,
                         grid=(post.grid_u, post.grid_log_posterior), laplace_cov=post.laplace_cov,
                         title=f"wind posterior, {cells} cells, {100 * noise:g} % noise"
                         f"{', wind momentum' if wind_momentum else ''}")
    phys = physical_summary(post)
    summary = {"cells": cells, "noise": noise, "chains": chains, "warmup": warmup, "samples": samples,
               "wind_momentum": wind_momentum, **phys,
               "r_hat": diag["r_hat"], "ess": diag["ess"], "divergences": diag["divergences"],
               "gradient_evaluations": diag["gradient_evaluations"], "out": str(out / "posterior.h5"),
               "plot": str(png)}
    for name, unit in (("v_inf_km_s", "km/s"), ("mdot_msun_per_myr", "Msun/Myr")):
        p = phys[name]
        typer.echo(f"{name}: {p['mean']:.5g} ± {p['std']:.2g} {unit} (90 %: {p['q05']:.5g} – {p['q95']:.5g}; "
                   f"truth {p['true']:.5g}); sd of ln: NUTS {p['sd_log_samples']:.3g}, "
                   f"grid {p['sd_log_grid']:.3g}, Laplace {p['sd_log_laplace']:.3g}")
    typer.echo(f"r_hat {np.round(diag['r_hat'], 3).tolist()}, ess {np.round(diag['ess']).tolist()}, "
               f"{diag['divergences']} divergences, {diag['gradient_evaluations']} gradients; {png}")
    if json_out:
        print_json(summary)
