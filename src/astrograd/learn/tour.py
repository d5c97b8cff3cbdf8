"""The learn section of ``astrograd tour``: a tiny solver-in-the-loop comparison and a tiny
OP/CFE control problem. Uses the small weights shipped in ``learn/weights`` (made by
``examples/learn_tour_weights.py`` with exactly the settings below) when they match; otherwise
(or with ``quick=False``) trains them here."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from astrograd._tour import TourSection

WEIGHTS = Path(__file__).with_name("weights")

#: Tiny Kármán data: 16×32 coarse cells from a 32×64 reference.
TOUR_DATA = dict(
    train_reynolds=(195.3, 781.3),
    test_reynolds=(293.0,),
    nx=16,
    ny=32,
    factor=2,
    frames=60,
    warmup=60,
    chunk=30,
    seed=0,
)
#: Tiny correctors (quick tour).
TOUR_SOL = dict(steps=150, batch=4, channels=8, blocks=2, kernel=3, learning_rate=2e-3, seed=0)
TOUR_SOL_UNROLL = 4
TOUR_EVAL_STEPS = 40


def tour_control_settings():
    from astrograd.learn._control import ControlSettings

    return ControlSettings(
        n=32,
        num_steps=8,
        channels=8,
        levels=2,
        train_pairs=64,
        test_pairs=8,
        batch=4,
        op_steps=100,
        cfe_steps=100,
        e2e_steps=600,
        learning_rate=2e-3,
        seed=0,
    )


def make_tour_weights(
    workdir: Path, destination: Path = WEIGHTS, progress: bool = False, only: tuple[str, ...] = ("sol", "control")
) -> dict:
    """Generate the tiny data and train the tour's models into ``destination`` (``only``: the
    solver-in-the-loop correctors ``"sol"`` and/or the control networks ``"control"``)."""
    from astrograd.learn._control import train_control
    from astrograd.learn._karman import generate_karman_data
    from astrograd.learn._sol import train_sol

    destination.mkdir(parents=True, exist_ok=True)
    out = {}
    if "sol" in only:
        data = generate_karman_data(Path(workdir) / "tour_karman.h5", progress=progress, **TOUR_DATA)
        out["supervised"] = train_sol(
            data, destination / "tour_sol_supervised.npz", mode="supervised", progress=progress, **TOUR_SOL
        )
        out["loop"] = train_sol(
            data, destination / "tour_sol_loop.npz", mode="loop", unroll=TOUR_SOL_UNROLL, progress=progress, **TOUR_SOL
        )
    if "control" in only:
        out["control"] = train_control(tour_control_settings(), destination / "tour_control.npz", progress=progress)
    return out


def _matching(path: Path, check) -> bool:
    from astrograd.learn._train import read_model_meta

    try:
        return path.is_file() and check(read_model_meta(path))
    except Exception:  # noqa: BLE001 - any unreadable file means "train instead"
        return False


def tour_sections(outdir: Path, quick: bool = True) -> list[TourSection]:
    from astrograd.learn._control import evaluate_control
    from astrograd.learn._karman import generate_karman_data
    from astrograd.learn._plots import plot_control, plot_sol_errors, plot_sol_vorticity
    from astrograd.learn._sol import evaluate_sol

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data = generate_karman_data(outdir / "tour_karman.h5", progress=False, **TOUR_DATA)
    models = {"supervised": WEIGHTS / "tour_sol_supervised.npz", "loop": WEIGHTS / "tour_sol_loop.npz"}
    ok = all(_matching(p, lambda m: (m["nx"], m["ny"]) == (TOUR_DATA["nx"], TOUR_DATA["ny"])) for p in models.values())
    c_settings = tour_control_settings()
    c_model = WEIGHTS / "tour_control.npz"
    ok_c = _matching(
        c_model, lambda m: m["settings"] == {k: getattr(c_settings, k) for k in c_settings.__dataclass_fields__}
    )
    trained_here = not (quick and ok and ok_c)
    if trained_here:
        make_tour_weights(outdir, outdir / "weights")
        models = {k: outdir / "weights" / p.name for k, p in models.items()}
        c_model = outdir / "weights" / "tour_control.npz"
    res = evaluate_sol(data, models, steps=TOUR_EVAL_STEPS)
    figs = [plot_sol_errors(res, outdir / "sol_errors.png"), plot_sol_vorticity(res, outdir / "sol_vorticity.png")]
    mean = {k: float(np.mean(v)) for k, v in res["mean"].items()}
    s1 = TourSection(
        title="Solver in the loop: correcting a coarse Kármán solver (tiny)",
        summary=(
            f"Reference runs at 32x64 cells down-sampled to 16x32 (Re {TOUR_DATA['train_reynolds']} for training, "
            f"{TOUR_DATA['test_reynolds']} for testing); a small ResNet ({TOUR_SOL['blocks']} blocks x "
            f"{TOUR_SOL['channels']} channels) corrects the coarse solver after every step, trained either on "
            f"precomputed one-step pairs (supervised) or through {TOUR_SOL_UNROLL} unrolled differentiable solver "
            f"steps (loop). Mean relative L1 velocity error over a {TOUR_EVAL_STEPS}-step rollout on the test run. "
            + (
                "Models trained in this run."
                if trained_here
                else "Models: weights shipped in astrograd/learn/weights, trained with the same settings by "
                "examples/learn_tour_weights.py."
            )
        ),
        figures=figs,
        numbers={f"mean rel. L1 error, {k}": v for k, v in mean.items()},
        seconds=time.perf_counter() - t0,
    )
    t1 = time.perf_counter()
    r = evaluate_control(c_model, direct_iterations=30, direct_pairs=2)
    fig = plot_control(r, outdir / "control.png")
    s2 = TourSection(
        title="Steering a marker with OP/CFE networks (tiny)",
        summary=(
            f"{c_settings.n}x{c_settings.n} periodic cells, {c_settings.num_steps} steps: an observation-predictor "
            "U-Net and a control-force-estimator U-Net (stream function -> divergence-free velocity) move a marker "
            "shape to a target shape; staged training (OP supervised, CFE through one solver step, both end to end). "
            f"Relative MAE of the final marker on {r['pairs']} held-out pairs, and direct per-instance Adam "
            "optimisation of the forces through the solver (30 iterations) on 2 of them."
        ),
        figures=[fig],
        numbers={
            "rel. MAE uncontrolled": float(np.mean(r["mae_uncontrolled"])),
            "rel. MAE networks": float(np.mean(r["mae_networks"])),
            "rel. MAE direct (2 pairs)": float(np.mean(r["mae_direct"])),
            "s/instance networks": r["seconds_per_instance_networks"],
            "s/instance direct": r["seconds_per_instance_direct"],
        },
        seconds=time.perf_counter() - t1,
    )
    return [s1, s2]
