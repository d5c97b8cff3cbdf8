"""``astrograd learn ...``: networks trained with the flow solver in the loop."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import typer

from astrograd._cli_util import check_out_folder, handle_errors, print_json, refuse_beyond_memory
from astrograd._errors import InputError, check_int, check_positive

app = typer.Typer(
    help="Solver-in-the-loop correction of a coarse Kármán solver, and OP/CFE control of a marker.",
    no_args_is_help=True,
)

JSON = typer.Option(False, "--json", help="print one JSON object as the last line of stdout")
PROGRESS = typer.Option(True, "--progress/--no-progress", help="progress bar on stderr")


def _floats(name: str, text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InputError(f"{name} = {text!r} is not a comma-separated list of numbers") from None


def _reynolds(train_re: str, test_re: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The Reynolds numbers of --train-re and --test-re, checked here: the library names both
    lists' values alike ("Reynolds number = 0"), not the option that gave them."""
    train, test = _floats("--train-re", train_re), _floats("--test-re", test_re)
    seen: dict[str, str] = {}  # by the run's name in the file, as the library compares them
    for option, values in (("--train-re", train), ("--test-re", test)):
        for value in values:
            check_positive(f"{option} Reynolds number", value)
            name = f"{value:g}"
            if name in seen:
                of = "" if seen[name] == option else f" of {seen[name]}"
                raise InputError(f"{option} repeats the Reynolds number {name}{of}; each run needs its own "
                                 "Reynolds number")
            seen[name] = option
    if not train and not test:
        raise InputError("--train-re and --test-re are both empty; give at least one Reynolds number")
    return train, test


def _check_checkpoint_every(checkpoint_every: int | None, checkpoint: Path | None) -> None:
    """``--checkpoint-every`` without ``--checkpoint`` was accepted and ignored (nothing is saved)."""
    if checkpoint_every is not None:
        check_int("--checkpoint-every", checkpoint_every, 1)  # a bad value is named first
    if checkpoint_every is not None and checkpoint is None:
        raise InputError(
            f"--checkpoint-every {checkpoint_every} needs --checkpoint (the training state file it saves)"
        )


# generate_karman_data's check of the coarse solver, in the command's options: its grid is --nx,
# --ny and its scheme is fixed (explicit viscosity, dt = 1), so fewer cells or a higher Reynolds
# number is what keeps the explicit viscosity stable
COARSE_SOLVER_ADVICE = (
    (r"^the coarse solver cannot run on nx = (\d+), ny = (\d+) ", r"the coarse solver cannot run on --nx \1 --ny \2 "),
    (r"; use the implicit viscosity scheme or a smaller dt$",
     "; use fewer cells (--nx, --ny) or higher Reynolds numbers (--train-re, --test-re)"),
    (r"(covers no cell centre \(.*\))$", r"\1; use more cells (--nx, --ny)"),
)


def _coarse_solver_advice(err: InputError) -> InputError:
    """``err`` of generate_karman_data's coarse-solver check with COARSE_SOLVER_ADVICE applied."""
    message = str(err)
    for pattern, replacement in COARSE_SOLVER_ADVICE:
        message = re.sub(pattern, replacement, message)
    return InputError(message)


# the library's checks name its parameters; the commands report them with the options as typed
@app.command("karman-data")
@handle_errors(options={"nx": "--nx", "ny": "--ny", "factor": "--factor", "frames": "--frames", "warmup": "--warmup",
                        "chunk": "--chunk", "seed": "--seed"})
def karman_data_cmd(
    out: Path = typer.Option(Path("outputs/learn/karman.h5"), "--out", help="HDF5 file (continued if it exists)"),
    nx: int = typer.Option(32, help="coarse cells across the flow (x)"),
    ny: int = typer.Option(64, help="coarse cells along the flow (y)"),
    factor: int = typer.Option(4, help="reference resolution = factor × coarse"),
    frames: int = typer.Option(500, help="frames stored per Reynolds number (one coarse dt apart; the book: 500)"),
    warmup: int = typer.Option(
        2400, help="reference steps before frame 0 (the vortex street is saturated by ~2200 at Re 73.2)"
    ),
    train_re: str = typer.Option("97.7,195.3,390.6,781.3,1562.5,3125", help="training Reynolds numbers"),
    test_re: str = typer.Option("73.2,293,1172,4688", help="test Reynolds numbers"),
    chunk: int = typer.Option(25, help="frames per flushed chunk (resume granularity)"),
    seed: int = typer.Option(0, help="PRNG seed of the shedding perturbation"),
    json_out: bool = JSON,
    show_progress: bool = PROGRESS,
) -> None:
    """Reference Kármán runs at FACTOR × the coarse resolution, down-sampled, into an HDF5
    file; interrupted runs continue where they stopped when the command is repeated."""
    import time

    from astrograd.learn._karman import generate_karman_data, load_karman_data

    train_reynolds, test_reynolds = _reynolds(train_re, test_re)
    if min(nx, ny, factor, chunk, frames) >= 1:  # other values are refused by generate_karman_data
        # the fine FlowState and parameters (7 float32 values per cell) and a chunk of frames
        fine_cells = factor * nx * factor * ny
        refuse_beyond_memory(
            f"--nx {nx} --ny {ny} --factor {factor} with --chunk {chunk}",
            4.0 * (7 * fine_cells + min(chunk, frames) * 2 * (nx + 1) * (ny + 1)),
            f"float32, 7 values per cell of the {factor * nx}x{factor * ny} reference grid and 2 per coarse cell "
            "of each frame of a chunk",
        )
    t0 = time.perf_counter()
    try:
        path = generate_karman_data(
            out,
            train_reynolds=train_reynolds,
            test_reynolds=test_reynolds,
            nx=nx,
            ny=ny,
            factor=factor,
            frames=frames,
            warmup=warmup,
            chunk=chunk,
            seed=seed,
            progress=show_progress,
        )
    except InputError as err:
        if not str(err).startswith("the coarse solver cannot run on "):
            raise
        raise _coarse_solver_advice(err) from None
    _, runs = load_karman_data(path)
    summary = {
        "out": str(path),
        "runs": [[r["reynolds"], r["split"]] for r in runs],
        "coarse": [nx, ny],
        "reference": [factor * nx, factor * ny],
        "frames": frames,
        "seconds": time.perf_counter() - t0,
    }
    typer.echo(f"wrote {len(runs)} runs ({frames} frames, {nx}x{ny} from {factor * nx}x{factor * ny}) to {path}")
    if json_out:
        print_json(summary)


@app.command("sol-train")
@handle_errors(options={"unroll": "--unroll", "steps": "--steps", "batch": "--batch", "learning rate": "--lr",
                        "blocks": "--blocks", "channels": "--channels", "kernel": "--kernel", "seed": "--seed",
                        "checkpoint": "--checkpoint"})
def sol_train_cmd(
    data: Path = typer.Option(Path("outputs/learn/karman.h5"), "--data", help="file from karman-data"),
    out: Path = typer.Option(None, "--out", help="model file (default outputs/learn/sol-<mode>.npz)"),
    mode: str = typer.Option("loop", "--mode", help="none, supervised or loop"),
    unroll: int = typer.Option(
        None, "--unroll", help="solver + network steps per sample (--mode loop only; default 4)"
    ),
    # None: not given (the defaults in the help); --mode none refuses the training options
    steps: int = typer.Option(None, "--steps", help="Adam updates (default 500)"),
    batch: int = typer.Option(None, "--batch", help="samples per update (default 4)"),
    learning_rate: float = typer.Option(None, "--lr", help="Adam learning rate (default 1e-3)"),
    blocks: int = typer.Option(None, help="ResNet blocks (default 3)"),
    channels: int = typer.Option(None, help="ResNet channels (default 32)"),
    kernel: int = typer.Option(None, help="kernel size inside the blocks (default 3)"),
    seed: int = typer.Option(None, help="PRNG seed (initial weights, batches; default 0)"),
    checkpoint: Path = typer.Option(
        None, "--checkpoint", help="training state file (saved every --checkpoint-every; resumed; default: none, "
        "not saved)"
    ),
    checkpoint_every: int = typer.Option(
        None, help="updates between checkpoints (default 25; needs --checkpoint)"
    ),
    init: Path = typer.Option(
        None, "--init", help="start from this model file (same architecture, e.g. a supervised network; default: "
        "none, random weights)"
    ),
    json_out: bool = JSON,
    show_progress: bool = PROGRESS,
) -> None:
    """Train the ResNet corrector of the coarse solver (none / supervised / solver in the loop)."""
    from astrograd._errors import check_choice
    from astrograd.learn._sol import SOL_MODES, train_sol

    check_choice("--mode", mode, SOL_MODES)
    # options that do not apply to the mode used to be accepted and ignored
    if unroll is not None and mode != "loop":
        raise InputError(f"--unroll is not available for --mode {mode}; it applies to --mode loop")
    for option, value in (
        ("--init", init),
        ("--checkpoint", checkpoint),
        ("--steps", steps),
        ("--batch", batch),
        ("--lr", learning_rate),
        ("--blocks", blocks),
        ("--channels", channels),
        ("--kernel", kernel),
        ("--seed", seed),
        ("--checkpoint-every", checkpoint_every),
    ):
        if value is not None and mode == "none":
            raise InputError(f"{option} is not available for --mode none; it trains no network")
    _check_checkpoint_every(checkpoint_every, checkpoint)
    out = out or Path(f"outputs/learn/sol-{mode}.npz")
    if mode != "none":  # the documented defaults (the stored fingerprints read the same as before);
        # --mode none passes None, "not given", which train_sol requires there (filling them in
        # made every --mode none refused)
        steps = 500 if steps is None else steps
        batch = 4 if batch is None else batch
        learning_rate = 1e-3 if learning_rate is None else learning_rate
        blocks = 3 if blocks is None else blocks
        channels = 32 if channels is None else channels
        kernel = 3 if kernel is None else kernel
        seed = 0 if seed is None else seed
        checkpoint_every = 25 if checkpoint_every is None else checkpoint_every
        _refuse_sol_train_beyond_memory(data, mode, 4 if unroll is None else unroll, batch, blocks, channels, kernel)
    summary = train_sol(
        data,
        out,
        mode=mode,
        unroll=unroll,
        steps=steps,
        batch=batch,
        learning_rate=learning_rate,
        blocks=blocks,
        channels=channels,
        kernel=kernel,
        seed=seed,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        progress=show_progress,
        init=init,
    )
    loss = (
        "" if summary.get("loss_last") is None else f", loss {summary['loss_first']:.4g} -> {summary['loss_last']:.4g}"
    )
    typer.echo(f"sol-train {mode}: {summary['parameters']} parameters{loss}; wrote {out}")
    if json_out:
        print_json(summary)


def _refuse_sol_train_beyond_memory(data, mode, unroll, batch, blocks, channels, kernel) -> None:
    """`--batch 100000000` (or a huge --channels) compiled a loss over all of them and ran out of
    memory. Counted, for each sample of a batch and each step the gradient goes back through: the
    ResNet's input and output images of ``channels`` channels and 7 float32 fields of the coarse
    state on the (ny+1) × (nx+1) velocity image; and one block's convolutions with Adam's moments.
    Values train_sol refuses, and a data file it cannot read, are left to it."""
    import h5py

    if min(unroll, batch, channels, kernel) < 1 or blocks < 0:
        return
    try:
        with h5py.File(data, "r") as f:
            nx, ny = int(f.attrs["nx"]), int(f.attrs["ny"])
    except (OSError, KeyError, TypeError, ValueError):
        return
    span = unroll if mode == "loop" else 1
    image = 4 * (nx + 1) * (ny + 1)
    weights = 3 * 2 * kernel * kernel * channels * channels * 4
    refuse_beyond_memory(
        f"--batch {batch}" + (f" with --unroll {unroll}" if mode == "loop" else "") + f" and --channels {channels}",
        batch * span * image * (2 * channels + 7) + weights,
        f"float32 images of the {nx}x{ny} grid for each sample and step, and the weights of one block",
    )


def _parse_models(models: list[str]) -> dict[str, Path]:
    from astrograd.learn._sol import load_corrector

    parsed = {}
    for item in models:
        label, _, path = item.rpartition("=")
        path = Path(path)
        _, meta = load_corrector(path)
        if meta["mode"] == "none" and label in ("", "none"):
            continue  # the uncorrected solver is always included
        label = label or (meta["mode"] if meta["mode"] != "loop" else f"loop-{meta['unroll']}")
        if label in (".", "..") or "/" in label:  # a dataset name in eval.h5 (evaluate_sol refuses it)
            raise InputError(f"--checkpoint {item!r}: the label {label!r} is not allowed; give a name without '/'")
        if label == "none":
            raise InputError(
                f"--checkpoint {item!r}: the label 'none' is the uncorrected solver (always included); "
                "choose another label"
            )
        # two models with one label: the second used to replace the first silently
        if label in parsed:
            raise InputError(
                f"--checkpoint {item!r}: the label {label!r} is already used by {str(parsed[label])!r}; "
                "give LABEL=PATH to tell the models apart"
            )
        parsed[label] = path
    return parsed


@app.command("sol-eval")
@handle_errors(options={"steps": "--steps", "start": "--start"})
def sol_eval_cmd(
    data: Path = typer.Option(Path("outputs/learn/karman.h5"), "--data", help="file from karman-data (test runs)"),
    checkpoint: list[str] = typer.Option(
        None, "--checkpoint", help="model file(s) from sol-train, optionally LABEL=PATH; repeatable"
    ),
    steps: int = typer.Option(100, "--steps", help="rollout length (steps)"),
    start: int = typer.Option(0, "--start", help="reference frame the rollouts start from"),
    out: Path = typer.Option(Path("outputs/learn/sol-eval"), "--out", help="folder for eval.h5 and figures"),
    json_out: bool = JSON,
) -> None:
    """Roll out the coarse solver alone and with each corrector on the test Reynolds numbers;
    relative L1 error per step against the down-sampled reference; table and figures."""
    from astrograd.io import write_h5
    from astrograd.learn._plots import plot_sol_errors, plot_sol_vorticity
    from astrograd.learn._sol import evaluate_sol

    check_out_folder(out, "--out", "eval.h5 and the figures")  # an --out below a file failed after the evaluation
    models = _parse_models(checkpoint or [])
    result = evaluate_sol(data, models, steps=steps, start=start)
    out.mkdir(parents=True, exist_ok=True)
    write_h5(
        out / "eval.h5",
        {"reynolds": np.asarray(result["reynolds"]), "errors": {k: v for k, v in result["errors"].items()}},
        {"steps": steps, "start": start, "data": str(data)},
    )
    figs = [plot_sol_errors(result, out / "errors.png")]
    figs += [plot_sol_vorticity(result, out / f"vorticity_re{r:g}.png", i) for i, r in enumerate(result["reynolds"])]
    labels = list(result["mean"])
    typer.echo("mean relative L1 error over steps 1.." + str(steps))
    width = max(10, *(len(lab) + 2 for lab in labels))
    typer.echo("Re        " + "".join(f"{lab:>{width}}" for lab in labels))
    for i, r in enumerate(result["reynolds"]):
        typer.echo(f"{r:<10g}" + "".join(f"{result['mean'][lab][i]:>{width}.4f}" for lab in labels))
    typer.echo(f"wrote {out / 'eval.h5'} and {len(figs)} figures")
    if json_out:
        print_json(
            {
                "reynolds": result["reynolds"],
                "mean_relative_l1": result["mean"],
                "steps": steps,
                "out": str(out),
                "figures": [str(f) for f in figs],
            }
        )


@app.command("control-train")
@handle_errors(options={
    "resolution n": "--n", "levels": "--levels", "num_steps": "--num-steps", "channels": "--channels",
    "train_pairs": "--train-pairs", "test_pairs": "--test-pairs", "batch": "--batch", "op_steps": "--op-steps",
    "cfe_steps": "--cfe-steps", "e2e_steps": "--e2e-steps", "learning rate": "--lr", "force weight": "--force-weight",
    "end-to-end final learning rate": "--e2e-final-lr", "clip norm": "--clip-norm", "unknown loss": "unknown --loss",
    "unknown OP target": "unknown --op-target", "seed": "--seed", "checkpoint": "--checkpoint"})
def control_train_cmd(
    out: Path = typer.Option(Path("outputs/learn/control.npz"), "--out", help="model file"),
    n: int = typer.Option(64, help="cells per side"),
    num_steps: int = typer.Option(16, "--num-steps", help="controlled solver steps"),
    channels: int = typer.Option(16, help="U-Net base channels"),
    levels: int = typer.Option(3, help="U-Net levels"),
    train_pairs: int = typer.Option(256, help="training start/target pairs"),
    test_pairs: int = typer.Option(16, help="held-out pairs (evaluated by control-eval)"),
    batch: int = typer.Option(8, help="pairs per update"),
    op_steps: int = typer.Option(200, help="stage 1 updates (OP, supervised)"),
    cfe_steps: int = typer.Option(200, help="stage 2 updates (CFE through one solver step)"),
    e2e_steps: int = typer.Option(400, help="stage 3 updates (both, end to end through all steps)"),
    learning_rate: float = typer.Option(1e-3, "--lr", help="Adam learning rate"),
    e2e_final_lr: float = typer.Option(
        None, "--e2e-final-lr", help="stage 3 learning rate at the end (cosine decay from --lr; default 1e-4)"
    ),
    clip_norm: float = typer.Option(None, help="stage 3 gradient clipping (global norm; default 1)"),
    force_weight: float = typer.Option(1e-3, help="weight of the force regulariser"),
    loss: str = typer.Option(
        "multiscale", help="end-to-end objective: multiscale (Gaussian-smoothed errors) or mse (relative squared error)"
    ),
    op_target: str = typer.Option(
        "path", help="stage 1 OP targets: path (markers along a translate-and-morph path) or blend (cross-fade)"
    ),
    seed: int = typer.Option(0, help="PRNG seed (pairs, weights, batches)"),
    checkpoint: Path = typer.Option(
        None, "--checkpoint", help="training state prefix (<prefix>.stage1..3; resumed; default: none, not saved)"
    ),
    checkpoint_every: int = typer.Option(
        None, help="updates between checkpoints (default 25; needs --checkpoint)"
    ),
    json_out: bool = JSON,
    show_progress: bool = PROGRESS,
) -> None:
    """Staged training of the observation predictor and control-force estimator U-Nets."""
    from astrograd.learn._control import ControlSettings, train_control, training_bytes

    _check_checkpoint_every(checkpoint_every, checkpoint)
    # the library's "resolution n = 64 must be divisible by 2**levels" named --levels as levels;
    # bad values of either alone are left to the library (named by the options map)
    if n >= 8 and levels >= 0 and n % 2**levels:
        raise InputError(f"--n = {n} is not allowed with --levels {levels}; it must be divisible by "
                         f"2**{levels} = {2**levels}")
    for option, value in (("--e2e-final-lr", e2e_final_lr), ("--clip-norm", clip_norm)):
        if value is not None and e2e_steps == 0:  # it used to be accepted and ignored
            raise InputError(f"{option} is not available with --e2e-steps 0; it applies to stage 3 (end to end)")
    checkpoint_every = 25 if checkpoint_every is None else checkpoint_every
    e2e_final_lr = 1e-4 if e2e_final_lr is None else e2e_final_lr
    clip_norm = 1.0 if clip_norm is None else clip_norm
    settings = ControlSettings(
        n=n,
        num_steps=num_steps,
        channels=channels,
        levels=levels,
        train_pairs=train_pairs,
        test_pairs=test_pairs,
        batch=batch,
        op_steps=op_steps,
        cfe_steps=cfe_steps,
        e2e_steps=e2e_steps,
        learning_rate=learning_rate,
        force_weight=force_weight,
        seed=seed,
        loss=loss,
        op_target=op_target,
        e2e_final_learning_rate=e2e_final_lr,
        clip_norm=clip_norm,
    )
    settings.check()  # bad values first, named by the options map
    refuse_beyond_memory(
        f"--n = {n} with --train-pairs {train_pairs}, --batch {batch}, --num-steps {num_steps}, --channels {channels}",
        training_bytes(settings), "float32 markers of the training pairs and the network images of each batch "
        "pair at every step the gradient goes back through")
    summary = train_control(
        settings, out, checkpoint=checkpoint, checkpoint_every=checkpoint_every, progress=show_progress
    )
    typer.echo(f"control-train: {summary['parameters']} parameters; end-to-end loss {summary['e2e_loss']}; wrote {out}")
    if json_out:
        print_json(summary)


def _refuse_control_eval_beyond_memory(checkpoint: Path, pairs: int | None, direct_pairs: int | None) -> None:
    """All held-out pairs run as one vmapped call: `--pairs 100000` (2 MB each at 64²) ran out of
    memory after minutes of compiling. Counts that evaluate_control refuses are left to it."""
    from astrograd.learn._control import evaluation_bytes_per_pair, read_control_settings

    if (pairs is not None and pairs < 1) or (direct_pairs is not None and direct_pairs < 0):
        return
    s = read_control_settings(checkpoint)
    held_out = s.test_pairs if pairs is None else pairs
    direct = min(held_out, 4) if direct_pairs is None else min(direct_pairs, held_out)
    per_pair, per_direct = evaluation_bytes_per_pair(s)
    what = f"--pairs = {held_out}" if pairs is not None else f"the model's {held_out} held-out pairs (--pairs)"
    refuse_beyond_memory(
        what + (f" with --direct-pairs {direct}" if direct_pairs is not None else ""),
        held_out * per_pair + direct * per_direct,
        f"{per_pair / 1e6:.3g} MB per pair at {s.n}x{s.n}, {per_direct / 1e6:.3g} MB more per directly optimised pair",
    )


@app.command("control-eval")
@handle_errors(options={"pairs": "--pairs", "direct pairs": "--direct-pairs",
                        "direct iterations": "--direct-iterations", "direct learning rate": "--direct-lr"})
def control_eval_cmd(
    checkpoint: Path = typer.Option(
        Path("outputs/learn/control.npz"), "--checkpoint", help="model file from control-train"
    ),
    pairs: int = typer.Option(None, help="held-out pairs (default: the number set at training)"),
    direct_pairs: int = typer.Option(
        None,
        help="pairs also solved by direct per-instance optimisation (0: none; default: 4 or --pairs if fewer; "
        "at most --pairs)",
    ),
    direct_iterations: int = typer.Option(
        None, help="Adam iterations of the direct optimisation (default 100; not with --direct-pairs 0)"
    ),
    direct_lr: float = typer.Option(
        None, help="Adam learning rate of the direct optimisation (default 0.05; not with --direct-pairs 0)"
    ),
    out: Path = typer.Option(Path("outputs/learn/control-eval"), "--out", help="folder for eval.h5 and the figure"),
    json_out: bool = JSON,
) -> None:
    """Held-out pairs: relative MAE of the final marker (no control, networks, direct
    optimisation through the solver) and time per instance."""
    from astrograd.io import write_h5
    from astrograd.learn._control import evaluate_control
    from astrograd.learn._plots import plot_control

    for option, value in (("--direct-iterations", direct_iterations), ("--direct-lr", direct_lr)):
        if value is not None and direct_pairs == 0:  # it used to be accepted and ignored
            raise InputError(f"{option} is not available with --direct-pairs 0; no pair is optimised directly")
    direct_iterations = 100 if direct_iterations is None else direct_iterations
    direct_lr = 0.05 if direct_lr is None else direct_lr
    check_out_folder(out, "--out", "eval.h5 and the figure")
    _refuse_control_eval_beyond_memory(checkpoint, pairs, direct_pairs)
    r = evaluate_control(
        checkpoint,
        pairs=pairs,
        direct_iterations=direct_iterations,
        direct_learning_rate=direct_lr,
        direct_pairs=direct_pairs,
    )
    out.mkdir(parents=True, exist_ok=True)
    write_h5(
        out / "eval.h5",
        {
            k: r[k]
            for k in (
                "mae_uncontrolled",
                "mae_networks",
                "mae_direct",
                "start",
                "target",
                "final_networks",
                "final_direct",
            )
        },
        {"n": r["n"], "num_steps": r["num_steps"], "direct_iterations": direct_iterations},
    )
    fig = plot_control(r, out / "control.png")
    summary = {
        "pairs": r["pairs"],
        "mae_uncontrolled": float(np.mean(r["mae_uncontrolled"])),
        "mae_networks": float(np.mean(r["mae_networks"])),
        "mae_direct": float(np.mean(r["mae_direct"])) if len(r["mae_direct"]) else None,
        "mae_networks_on_direct_pairs": float(np.mean(r["mae_networks"][: len(r["mae_direct"])]))
        if len(r["mae_direct"])
        else None,
        "seconds_per_instance_networks": r["seconds_per_instance_networks"],
        "seconds_per_instance_direct": r["seconds_per_instance_direct"],
        "figure": str(fig),
    }
    typer.echo(
        f"relative MAE on {r['pairs']} held-out pairs: uncontrolled {summary['mae_uncontrolled']:.4f}, "
        f"networks {summary['mae_networks']:.4f} ({summary['seconds_per_instance_networks']:.3g} s/instance)"
    )
    if summary["mae_direct"] is not None:
        typer.echo(
            f"direct optimisation ({direct_iterations} Adam steps) on {len(r['mae_direct'])} pairs: "
            f"{summary['mae_direct']:.4f} ({summary['seconds_per_instance_direct']:.3g} s/instance; "
            f"networks on the same pairs {summary['mae_networks_on_direct_pairs']:.4f})"
        )
    if json_out:
        print_json(summary)
