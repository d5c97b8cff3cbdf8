"""`astrograd learn ...`: exit codes (bad input -> 2 with a one-line error) and a tiny run."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from astrograd.learn.cli import app

runner = CliRunner()


def _assert_one_line_exit_2(args, message):
    """The command exits 2 with one line ``error: ...`` holding ``message``, no traceback."""
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    err = result.stderr if hasattr(result, "stderr") else result.output
    assert message in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["sol-train", "--data", "/nonexistent/k.h5"], "does not exist"),
        (["sol-train", "--mode", "magic"], "mode"),
        (["sol-eval", "--data", "/nonexistent/k.h5"], "does not exist"),
        (["karman-data", "--out", "/tmp/learn-cli-never.h5", "--factor", "0"], "factor"),
        (["karman-data", "--out", "/tmp/learn-cli-never.h5", "--train-re", "1,x"], "--train-re"),
        (["control-train", "--n", "30"], "divisible"),
        (["control-train", "--checkpoint-every", "0", "--out", "/tmp/learn-cli-never.npz"],
         "--checkpoint-every = 0"),
        (["control-eval", "--checkpoint", "/nonexistent/c.npz"], "does not exist"),
        # a seed outside int64 was an OverflowError traceback from jax.random.key
        (["karman-data", "--out", "/tmp/learn-cli-never.h5", "--seed", str(2**64)],
         f"seed = {2**64} is not allowed; it must be an integer in [-2**63, 2**63 - 1]"),
        # --out a file: a FileExistsError traceback after the whole evaluation
        (["sol-eval", "--out", __file__], "is a file; give a folder for eval.h5 and the figures"),
        (["control-eval", "--out", __file__], "is a file; give a folder"),
        # options the mode does not use were accepted and ignored
        (["sol-train", "--data", "/nonexistent/k.h5", "--mode", "supervised", "--unroll", "2"],
         "--unroll is not available for --mode supervised; it applies to --mode loop"),
        (["sol-train", "--data", "/nonexistent/k.h5", "--mode", "none", "--unroll", "4"],
         "--unroll is not available for --mode none"),
        (["sol-train", "--data", "/nonexistent/k.h5", "--mode", "none", "--init", "sup.npz"],
         "--init is not available for --mode none; it trains no network"),
        (["sol-train", "--data", "/nonexistent/k.h5", "--mode", "none", "--checkpoint", "c.npz"],
         "--checkpoint is not available for --mode none"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message):
    _assert_one_line_exit_2(args, message)


@pytest.mark.slow
def test_tiny_pipeline_through_the_cli(tmp_path, check_output_file):
    data = tmp_path / "k.h5"
    r = runner.invoke(
        app,
        [
            "karman-data",
            "--out",
            str(data),
            "--nx",
            "10",
            "--ny",
            "20",
            "--factor",
            "1",
            "--frames",
            "6",
            "--warmup",
            "2",
            "--train-re",
            "150",
            "--test-re",
            "80",
            "--no-progress",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    for mode in ("none", "supervised", "loop"):
        r = runner.invoke(
            app,
            [
                "sol-train",
                "--data",
                str(data),
                "--mode",
                mode,
                *(["--unroll", "2"] if mode == "loop" else []),  # refused by the other modes
                # --mode none trains nothing and refuses the training options
                *(["--steps", "3", "--channels", "4", "--blocks", "1"] if mode != "none" else []),
                "--out",
                str(tmp_path / f"{mode}.npz"),
                "--no-progress",
                "--json",
            ],
        )
        assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        [
            "sol-eval",
            "--data",
            str(data),
            "--checkpoint",
            str(tmp_path / "supervised.npz"),
            "--checkpoint",
            str(tmp_path / "loop.npz"),
            "--steps",
            "4",
            "--out",
            str(tmp_path / "ev"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert set(summary["mean_relative_l1"]) == {"none", "supervised", "loop-2"}
    assert (tmp_path / "ev" / "errors.png").exists()
    for path in (tmp_path / "ev").iterdir():  # errors.png, vorticity_re80.png, eval.h5 (exists() passed blank figures)
        check_output_file(path)
    assert len(list((tmp_path / "ev").iterdir())) == 3
    # a --start past the data was blamed on --steps ("--steps = 100 from frame 100 ... at most -95 steps")
    r = runner.invoke(app, ["sol-eval", "--data", str(data), "--start", "10", "--out", str(tmp_path / "ev2")])
    assert r.exit_code == 2 and r.output.strip().splitlines()[-1] == (
        "error: --start = 10 is not allowed; the test runs have 6 frames: it must be an integer in [0, 4]"), r.output


def test_sol_eval_refuses_two_models_under_one_label(tmp_path):
    import jax

    from astrograd.learn._sol import make_corrector
    from astrograd.learn._train import save_model

    hyper = {"blocks": 1, "channels": 2, "kernel": 3, "reynolds_scale": 1000.0}
    meta = {"kind": "sol", "mode": "supervised", "unroll": 1, "hyper": hyper, "nx": 10, "ny": 20}
    paths = [str(save_model(tmp_path / f"m{i}.npz", make_corrector(hyper, jax.random.key(i)), meta)) for i in (1, 2)]
    # both were labelled "supervised" and the second replaced the first without a word
    r = runner.invoke(app, ["sol-eval", "--checkpoint", paths[0], "--checkpoint", paths[1]])
    assert r.exit_code == 2, r.output
    assert f"the label 'supervised' is already used by {paths[0]!r}; give LABEL=PATH" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    # an explicit label "none" for a network was dropped: "none" is the uncorrected solver
    r = runner.invoke(app, ["sol-eval", "--checkpoint", f"none={paths[0]}"])
    assert r.exit_code == 2 and "the label 'none' is the uncorrected solver" in r.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        # --mode none trains nothing: these options were accepted and ignored
        *[
            (["sol-train", "--data", "/nonexistent/k.h5", "--mode", "none", option, value],
             f"{option} is not available for --mode none; it trains no network")
            for option, value in (
                ("--steps", "3"),
                ("--batch", "2"),
                ("--lr", "0.01"),
                ("--blocks", "1"),
                ("--channels", "4"),
                ("--kernel", "5"),
                ("--seed", "1"),
                ("--checkpoint-every", "5"),
            )
        ],
        # nothing is saved without a checkpoint file
        (["sol-train", "--data", "/nonexistent/k.h5", "--mode", "supervised", "--checkpoint-every", "5"],
         "--checkpoint-every 5 needs --checkpoint (the training state file it saves)"),
        # no direct optimisation runs with --direct-pairs 0
        (["control-eval", "--checkpoint", "/nonexistent/c.npz", "--direct-pairs", "0", "--direct-iterations", "5"],
         "--direct-iterations is not available with --direct-pairs 0; no pair is optimised directly"),
        (["control-eval", "--checkpoint", "/nonexistent/c.npz", "--direct-pairs", "0", "--direct-lr", "0.1"],
         "--direct-lr is not available with --direct-pairs 0"),
    ],
)
def test_options_that_would_be_ignored_are_refused(args, message):
    _assert_one_line_exit_2(args, message)


def test_sol_train_defaults_and_checkpoint_every_with_checkpoint_pass_the_cli_checks(tmp_path, monkeypatch):
    """The None sentinels resolve to the documented defaults (the checkpoint fingerprints of
    earlier runs read the same), and --checkpoint-every with --checkpoint is accepted."""
    import astrograd.learn._sol as sol

    seen = {}
    monkeypatch.setattr(sol, "train_sol", lambda data, out, **kw: seen.update(kw) or {"parameters": 0})
    r = runner.invoke(app, ["sol-train", "--data", "k.h5", "--mode", "supervised", "--out", str(tmp_path / "m.npz")])
    assert r.exit_code == 0, r.output
    assert {k: seen[k] for k in ("steps", "batch", "learning_rate", "blocks", "channels", "kernel", "seed",
                                 "checkpoint_every", "unroll")} == {
        "steps": 500, "batch": 4, "learning_rate": 1e-3, "blocks": 3, "channels": 32, "kernel": 3, "seed": 0,
        "checkpoint_every": 25, "unroll": None}
    r = runner.invoke(app, ["sol-train", "--data", "k.h5", "--mode", "loop", "--checkpoint", str(tmp_path / "c.npz"),
                            "--checkpoint-every", "7", "--out", str(tmp_path / "m.npz")])
    assert r.exit_code == 0, r.output
    assert seen["checkpoint_every"] == 7


def test_control_train_refuses_checkpoint_every_without_checkpoint(monkeypatch):
    # nothing was saved: the interval was accepted and ignored (a stand-in for the training, so
    # that the old code, which trained, fails quickly too)
    import astrograd.learn._control as control

    monkeypatch.setattr(control, "train_control", lambda *a, **k: {"parameters": 0, "e2e_loss": None})
    result = runner.invoke(app, ["control-train", "--checkpoint-every", "5", "--out", "/tmp/learn-cli-never.npz"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == "error: --checkpoint-every 5 needs --checkpoint (the training state file it saves)"
    result = runner.invoke(app, ["control-train", "--checkpoint-every", "5", "--checkpoint", "/tmp/learn-cli-never",
                                 "--out", "/tmp/learn-cli-never.npz"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("option, value", [("--e2e-final-lr", "1e-5"), ("--clip-norm", "2")])
def test_control_train_refuses_stage_3_options_without_stage_3(monkeypatch, option, value):
    # with --e2e-steps 0 the end-to-end stage does not run: the option was accepted and ignored
    import astrograd.learn._control as control

    seen = []
    monkeypatch.setattr(control, "train_control", lambda settings, *a, **k: seen.append(settings) or
                        {"parameters": 0, "e2e_loss": None})
    out = ["--out", "/tmp/learn-cli-never.npz"]
    result = runner.invoke(app, ["control-train", "--e2e-steps", "0", option, value, *out])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == (
        f"error: {option} is not available with --e2e-steps 0; it applies to stage 3 (end to end)")
    # the defaults and an explicit value with stage 3 reach the settings as before
    assert runner.invoke(app, ["control-train", "--e2e-steps", "0", *out]).exit_code == 0
    assert runner.invoke(app, ["control-train", option, value, *out]).exit_code == 0
    assert (seen[0].e2e_final_learning_rate, seen[0].clip_norm) == (1e-4, 1.0)
    field = {"--e2e-final-lr": "e2e_final_learning_rate", "--clip-norm": "clip_norm"}[option]
    assert getattr(seen[1], field) == float(value)


@pytest.mark.parametrize(
    "args, message",
    [
        # the library's checks named its parameters (nx, learning rate, resolution n, clip norm, ...)
        (["karman-data", "--nx", "1"], "error: --nx = 1 is not allowed; it must be an integer >= 2"),
        (["sol-train", "--data", "/nonexistent/k.h5", "--lr", "0"], "error: --lr = 0 is not allowed"),
        (["sol-train", "--data", "/nonexistent/k.h5", "--kernel", "0"], "error: --kernel = 0 is not allowed"),
        (["sol-eval", "--data", "/nonexistent/k.h5", "--steps", "0"], "error: --steps = 0 is not allowed"),
        (["control-train", "--n", "4"], "error: --n = 4 is not allowed; it must be an integer >= 8"),
        (["control-train", "--clip-norm", "0"], "error: --clip-norm = 0 is not allowed"),
        (["control-train", "--e2e-final-lr", "0"], "error: --e2e-final-lr = 0 is not allowed"),
        (["control-train", "--loss", "foo"], "error: unknown --loss 'foo'; choose one of: multiscale, mse"),
    ],
)
def test_library_errors_name_the_options(tmp_path, args, message):
    out = tmp_path / "new" / ("m.npz" if args[0] != "karman-data" else "k.h5")
    out_args = [] if args[0] == "sol-eval" else ["--out", str(out)]
    _assert_one_line_exit_2([*args, *out_args], message)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("command", ["sol-eval", "control-eval"])
def test_eval_out_below_a_file_is_refused_before_the_evaluation(tmp_path, command):
    """Before: only an --out that is a file was checked first; one below a file ran the whole
    evaluation and then failed creating the folder."""
    afile = tmp_path / "file"
    afile.write_text("")
    inputs = ["--data", "/nonexistent/k.h5"] if command == "sol-eval" else ["--checkpoint", "/nonexistent/c.npz"]
    _assert_one_line_exit_2([command, *inputs, "--out", str(afile / "sub")],
                            f"error: cannot use --out {str(afile / 'sub')!r}: {str(afile)!r} is a file; give a folder")


@pytest.mark.parametrize(
    ("args", "start"),
    [
        (["karman-data", "--train-re", "97.7,0"], "--train-re Reynolds number = 0 is not allowed"),
        (["karman-data", "--test-re", "nan"], "--test-re Reynolds number = nan is not allowed"),
        (["karman-data", "--train-re", "100,100"], "--train-re repeats the Reynolds number 100;"),
        (["karman-data", "--train-re", "100", "--test-re", "100"],
         "--test-re repeats the Reynolds number 100 of --train-re;"),
        (["karman-data", "--train-re", ",", "--test-re", ","], "--train-re and --test-re are both empty"),
        (["sol-train", "--mode", "magic"], "unknown --mode 'magic'"),
        (["sol-train", "--checkpoint-every", "0"], "--checkpoint-every = 0 is not allowed"),
        (["control-train", "--checkpoint-every", "0"], "--checkpoint-every = 0 is not allowed"),
    ],
)
def test_errors_name_the_options_as_typed_and_leave_no_out(tmp_path, args, start):
    """Before: 'Reynolds number = 0' for a value of either --train-re or --test-re, 'unknown
    mode', checkpoint_every."""
    out = tmp_path / "new" / ("k.h5" if args[0] == "karman-data" else "model.npz")
    result = runner.invoke(app, [*args, "--out", str(out)])
    err = result.stderr if hasattr(result, "stderr") else result.output
    lines = [line for line in err.splitlines() if line]
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith(f"error: {start}"), err
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # "--n = 64 must be divisible by 2**levels = 128": --levels by its library name
        (["control-train", "--n", "64", "--levels", "7"],
         "error: --n = 64 is not allowed with --levels 7; it must be divisible by 2**7 = 128"),
        (["control-train", "--n", "30"], "error: --n = 30 is not allowed with --levels 3; it must be divisible by "
         "2**3 = 8"),
        # "on nx = 32, ny = 64 ...; use the implicit viscosity scheme or a smaller dt": the library's
        # names, and advice that karman-data (fixed coarse scheme and dt) has no option for
        (["karman-data", "--train-re", "1"], "error: the coarse solver cannot run on --nx 32 --ny 64 at Reynolds "
         "number 1: diffusion number nu*dt*(2/dx^2+2/dy^2) = 8.192 is above the explicit viscosity limit 1; use fewer "
         "cells (--nx, --ny) or higher Reynolds numbers (--train-re, --test-re)"),
        (["karman-data", "--nx", "2", "--ny", "300"], "error: the coarse solver cannot run on --nx 2 --ny 300 at "
         "Reynolds number 97.7: cylinder radius 10 is too small for the grid: it covers no cell centre (dx = 50, "
         "dy = 0.666667); use more cells (--nx, --ny)"),
    ],
)
def test_advice_names_the_command_options(tmp_path, args, message):
    out = tmp_path / "new" / ("k.h5" if args[0] == "karman-data" else "m.npz")
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 2 and result.stderr.strip() == message, result.output
    assert not (tmp_path / "new").exists()


def test_sol_eval_refuses_a_label_with_a_slash(tmp_path):
    # "a/b=PATH" was written to eval.h5 as dataset b of a group a (the table said a/b)
    import jax

    from astrograd.learn._sol import make_corrector
    from astrograd.learn._train import save_model

    hyper = {"blocks": 0, "channels": 2, "kernel": 3, "reynolds_scale": 1000.0}
    meta = {"kind": "sol", "mode": "supervised", "unroll": 1, "hyper": hyper, "nx": 10, "ny": 20}
    path = str(save_model(tmp_path / "m.npz", make_corrector(hyper, jax.random.key(1)), meta))
    out = tmp_path / "ev"
    r = runner.invoke(app, ["sol-eval", "--data", "/nonexistent/k.h5", "--checkpoint", f"a/b={path}",
                            "--out", str(out)])
    assert r.exit_code == 2 and r.stderr.strip() == (
        f"error: --checkpoint {'a/b=' + path!r}: the label 'a/b' is not allowed; give a name without '/'"), r.output
    assert not out.exists()


@pytest.mark.slow  # three tiny trainings in subprocesses, each compiling three stages: ~2.5 min (2 busy cores)
def test_control_train_sigkill_in_stage_2_resumes_to_the_uninterrupted_model(tmp_path):
    """Killed (no clean-up) right after stage 2's first checkpoint, control-train run again with the
    same --checkpoint ends with the weights, losses and summary of an uninterrupted run."""
    import subprocess
    import sys
    from pathlib import Path

    worker = Path(__file__).with_name("kill_worker.py")
    tiny = ["control-train", "--n", "16", "--num-steps", "2", "--channels", "4", "--levels", "1", "--train-pairs",
            "4", "--test-pairs", "1", "--batch", "2", "--op-steps", "2", "--cfe-steps", "2", "--e2e-steps", "2",
            "--checkpoint-every", "1", "--no-progress", "--json"]

    def run(kill_after_saves, name):
        args = [*tiny, "--out", str(tmp_path / f"{name}.npz"), "--checkpoint", str(tmp_path / name)]
        return subprocess.run([sys.executable, str(worker), "os", "replace", str(kill_after_saves), "learn", *args],
                              capture_output=True, text=True, timeout=600)

    def summary(r, name):
        assert r.returncode == 0, r.stderr
        s = json.loads(r.stdout.splitlines()[-1])
        assert s.pop("out") == str(tmp_path / f"{name}.npz")
        del s["seconds"]
        return s

    reference = summary(run(0, "ref"), "ref")
    # saves: stage 1 after update 1 and at its end, then stage 2 after update 1
    killed = run(3, "part")
    assert killed.returncode == -9, killed.stderr
    assert sorted(p.name for p in tmp_path.glob("part*")) == ["part.stage1", "part.stage2"]
    assert summary(run(0, "part"), "part") == reference
    a, b = np.load(tmp_path / "ref.npz"), np.load(tmp_path / "part.npz")
    assert sorted(a.files) == sorted(b.files) and len(a.files) > 1
    for k in a.files:
        if k != "__meta__":  # settings and the file names given
            np.testing.assert_array_equal(a[k], b[k])


def _karman_file(path, splits=("train",), nx=10, ny=20, frames=3):
    """A karman-data file by hand (the layout load_karman_data reads; zero velocities): the
    commands' checks of it need no generated flow."""
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs.update({"nx": nx, "ny": ny, "dt": 1.0, "frames": frames, "factor": 1})
        for reynolds, split in zip((150.0, 80.0), splits, strict=False):
            g = f.create_group(f"runs/re{reynolds:g}")
            g.attrs.update({"reynolds": reynolds, "split": split, "frames_done": frames})
            g["vx"], g["vy"] = np.zeros((frames, ny, nx + 1), "f4"), np.zeros((frames, ny + 1, nx), "f4")
    return path


@pytest.mark.parametrize("kernel", ["2", "4"])
def test_sol_train_refuses_an_even_kernel(kernel):
    # an even kernel has no centre cell ("SAME" padding is one cell wider on one side): accepted before
    _assert_one_line_exit_2(["sol-train", "--data", "/nonexistent/k.h5", "--mode", "supervised", "--kernel", kernel],
                            f"error: --kernel = {kernel} is not allowed; it must be an odd integer >= 1 (an even kernel"
                            " has no centre cell")


def test_sol_train_refuses_a_kernel_wider_than_the_grid(tmp_path, monkeypatch):
    # the blocks see the (ny+1, nx+1) = (21, 11) velocity image: offsets beyond +-10 cells never
    # reach a cell, so 2*10 + 1 = 21 is the widest useful kernel; 23 (and 99) trained weights that
    # could never act
    import astrograd.learn._sol as sol

    data = str(_karman_file(tmp_path / "k.h5"))
    args = ["sol-train", "--data", data, "--mode", "supervised", "--steps", "1", "--channels", "2", "--blocks", "1",
            "--no-progress", "--out", str(tmp_path / "m.npz")]
    _assert_one_line_exit_2([*args, "--kernel", "23"],
                            f"error: --kernel = 23 is not allowed for the 10x20 grid of {data!r}; it must be at "
                            "most 2*10 + 1 = 21 (the weights of a wider kernel never reach a cell)")
    assert not (tmp_path / "m.npz").exists()

    class Trained(Exception):
        pass

    def make_corrector(hyper, key):  # the widest useful kernel gets its network (and is trained)
        assert hyper["kernel"] == 21
        raise Trained

    monkeypatch.setattr(sol, "make_corrector", make_corrector)
    assert isinstance(runner.invoke(app, [*args, "--kernel", "21"]).exception, Trained)


def test_sol_train_out_of_any_suffix_is_an_npz_archive_that_reads_back(tmp_path):
    """--out model.txt is accepted on purpose: the file is an .npz archive whatever its name (as
    an --out HDF5 file is HDF5 whatever its name), and every command reads a model file by its
    content, not by its suffix."""
    from astrograd.learn._sol import load_corrector

    out = tmp_path / "model.txt"
    r = runner.invoke(app, ["sol-train", "--data", str(_karman_file(tmp_path / "k.h5")), "--mode", "none",
                            "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:2] == b"PK" and not (tmp_path / "model.txt.npz").exists()
    model, meta = load_corrector(out)
    assert model is None and meta["mode"] == "none" and (meta["nx"], meta["ny"]) == (10, 20)


def test_sol_train_on_a_file_without_training_runs_says_so(tmp_path):
    """karman-data --train-re '' is accepted on purpose: a file of test runs only is what sol-eval
    needs, and training runs can be added to it later (each run's data depend only on its own
    Reynolds number). sol-train on such a file says what is missing, in one line."""
    data = str(_karman_file(tmp_path / "k.h5", splits=("test",)))
    _assert_one_line_exit_2(["sol-train", "--data", data, "--mode", "supervised", "--out", str(tmp_path / "m.npz")],
                            f"error: {data!r} has no complete train runs; generate them with `astrograd learn "
                            "karman-data`")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["control-eval", "--pairs", "2000", "--direct-pairs", "0"], "--pairs = 2000 with --direct-pairs 0 needs at "
         "least 1.8 GB (0.901 MB per pair at 64x64, 1.05 MB more per directly optimised pair)"),
        (["control-eval", "--pairs", "1200"], "--pairs = 1200 needs at least 1.09 GB"),
        (["control-train", "--n", "1024"], "--n = 1024 with --train-pairs 256, --batch 8, --num-steps 16, --channels "
         "16 needs at least 31.7 GB (float32 markers of the training pairs and the network images of each batch pair "
         "at every step the gradient goes back through)"),
        (["control-train", "--channels", "10000"], "--n = 64 with --train-pairs 256, --batch 8, --num-steps 16, "
         "--channels 10000 needs at least 84.5 GB"),
        (["karman-data", "--nx", "32", "--ny", "32", "--factor", "200"], "--nx 32 --ny 32 --factor 200 with --chunk "
         "25 needs at least 1.15 GB (float32, 7 values per cell of the 6400x6400 reference grid and 2 per coarse cell "
         "of each frame of a chunk)"),
    ],
)
def test_sizes_beyond_the_memory_are_refused_before_anything_is_built(tmp_path, monkeypatch, args, message):
    """Before: `control-eval --pairs 100000` (one vmapped call over all pairs: 2 MB each at 64²,
    measured) compiled for minutes and ran out of memory; so did a huge --n, --channels or
    karman-data grid. Now, where a lower bound of the arrays exceeds the physical memory (made
    1 GB here), one line naming the options, exit status 1 (a larger machine may run it)."""
    from pathlib import Path

    import astrograd._cli_util as memory
    import astrograd.learn._control as control
    import astrograd.learn._karman as karman

    def no_run(*args, **kwargs):
        raise AssertionError("the command started")

    monkeypatch.setattr(memory, "physical_memory_bytes", lambda: 10**9)
    for module, name in ((control, "evaluate_control"), (control, "train_control"), (karman, "generate_karman_data")):
        monkeypatch.setattr(module, name, no_run)
    model = Path(__file__).parents[2] / "benchmarks" / "models" / "control_64x16.npz"
    out = tmp_path / "new" / ("eval" if args[0] == "control-eval" else "m.h5")
    extra = ["--checkpoint", str(model)] if args[0] == "control-eval" else []
    result = runner.invoke(app, [*args, *extra, "--out", str(out)])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert lines[0].startswith(f"error: out of memory ({message}") and lines[0].endswith(
        ", more than the 1 GB of this machine); try smaller sizes (grid, particles, steps, batch)"), lines[0]
    assert not (tmp_path / "new").exists()
    # the model's 16 held-out pairs (and sizes that fit) pass the check
    if args[0] == "control-eval":
        result = runner.invoke(app, ["control-eval", *extra, "--out", str(out)])
        assert "the command started" in repr(result.exception), result.output


def test_sol_train_batch_beyond_the_memory_is_refused_before_training(tmp_path, monkeypatch):
    """Before: `sol-train --batch 100000000` compiled the loss over all samples and ran out of
    memory. The grid comes from the data file's attributes (32x64 here; physical memory 1 GB)."""
    import h5py

    import astrograd._cli_util as memory
    import astrograd.learn._sol as sol

    def no_run(*args, **kwargs):
        raise AssertionError("the training started")

    monkeypatch.setattr(memory, "physical_memory_bytes", lambda: 10**9)
    monkeypatch.setattr(sol, "train_sol", no_run)
    data = tmp_path / "k.h5"
    with h5py.File(data, "w") as f:
        f.attrs["nx"], f.attrs["ny"] = 32, 64
    out = tmp_path / "new" / "m.npz"
    # per sample: 4 unrolled steps x 33 x 65 float32 x (2 x 32 channels + 7 fields) = 2.44 MB
    result = runner.invoke(app, ["sol-train", "--data", str(data), "--batch", "1000", "--out", str(out)])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1 and lines == [
        "error: out of memory (--batch 1000 with --unroll 4 and --channels 32 needs at least 2.44 GB (float32 images "
        "of the 32x64 grid for each sample and step, and the weights of one block), more than the 1 GB of this "
        "machine); try smaller sizes (grid, particles, steps, batch)"], result.output
    assert not (tmp_path / "new").exists()
    result = runner.invoke(app, ["sol-train", "--data", str(data), "--batch", "100", "--out", str(out)])
    assert "the training started" in repr(result.exception), result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["karman-data", "--frames", str(10**20)], f"--frames = {10**20} is not allowed; it must be an integer in "
         "[2, 2147483647]"),
        (["karman-data", "--warmup", str(2**31)], f"--warmup = {2**31} is not allowed; it must be an integer in "
         "[0, 2147483647]"),
        (["control-eval", "--direct-iterations", str(10**20)], f"--direct-iterations = {10**20} is not allowed; it "
         "must be an integer in [1, 2147483647]"),
    ],
)
def test_counts_beyond_int32_are_refused(tmp_path, args, message):
    """Before: `karman-data --frames 10**20` left a file without its attributes (every rerun then
    refused it) and a TypeError traceback; `control-eval --direct-iterations 10**20` an MLIR one."""
    from pathlib import Path

    model = Path(__file__).parents[2] / "benchmarks" / "models" / "control_64x16.npz"
    extra = ["--checkpoint", str(model)] if args[0] == "control-eval" else []
    out = tmp_path / "new" / ("eval" if args[0] == "control-eval" else "k.h5")
    result = runner.invoke(app, [*args, *extra, "--out", str(out)])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and lines == [f"error: {message}"], result.output
    assert not (tmp_path / "new").exists()
