"""`astrograd orbit ...` through typer's CliRunner: summaries, JSON last line, PNGs, exit status 2."""

import json
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from typer.testing import CliRunner

from astrograd.orbit.cli import app

runner = CliRunner()


def _last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def test_fit_gravity_json_and_plot(tmp_path, check_output_file):
    png = tmp_path / "g.png"
    r = runner.invoke(app, ["fit-gravity", "--dt", "0.1", "--json", "--plot", str(png), "--no-progress"])
    assert r.exit_code == 0, r.output
    out = _last_json(r.stdout)
    assert abs(out["g"] - 2.5) / 2.5 < 5e-9 and out["iterations"] > 0  # measured 1.6e-10
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    check_output_file(png)  # a blank figure passed the header check
    assert "g = 2.5" in r.stdout
    assert not jax.config.read("jax_enable_x64")  # the command restored the precision


def test_best_angle_json(tmp_path, check_output_file):
    png = tmp_path / "a.png"
    r = runner.invoke(app, ["best-angle", "--dt", "0.05", "--json", "--plot", str(png), "--no-progress"])
    assert r.exit_code == 0, r.output
    out = _last_json(r.stdout)
    assert abs(out["angle_deg"] - 45.0) < 3e-7  # measured 1.1e-8
    assert png.stat().st_size > 1000
    check_output_file(png)  # a blank figure passed the size check


def test_learn_drag_runs_and_reports(tmp_path):
    r = runner.invoke(app, ["learn-drag", "--steps", "30", "--width", "8", "--json", "--no-progress"])
    assert r.exit_code == 0, r.output
    out = _last_json(r.stdout)
    assert out["iterations"] == 30
    assert out["test_position_rms_m"] < out["test_position_rms_no_drag_m"]


def test_learn_drag_depth_zero_is_a_linear_model():
    # --depth 0 was refused ("depth = 0 ... must be an integer > 0") although DragNet takes it
    r = runner.invoke(app, ["learn-drag", "--steps", "3", "--depth", "0", "--json", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "linear model, 3 Adam steps" in r.stdout and _last_json(r.stdout)["iterations"] == 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["best-angle", "--speed", "-3"], "speed = -3"),
        (["best-angle", "--speed", "nan"], "speed = nan"),
        (["best-angle", "--dt", "0"], "dt = 0"),
        (["best-angle", "--drag", "-1"], "drag = -1"),
        (["best-angle", "--integrator", "verlet"], "unknown --integrator 'verlet'"),
        (["best-angle", "--angle-init", "95"], "--angle-init = 95"),
        (["fit-gravity", "--angle", "0"], "angle = 0"),
        (["fit-gravity", "--angle", "90"], "angle = 90"),
        (["fit-gravity", "--g-init", "inf"], "--g-init = inf"),
        (["fit-gravity", "--steps", "0"], "steps = 0"),
        (["fit-gravity", "--optimizer", "newton"], "unknown --optimizer 'newton'"),
        (["fit-gravity", "--plot", "fig.pdf"], "must be a file name ending in .png"),
        (["learn-drag", "--dt", "-0.1"], "dt = -0.1"),
        # a dt longer than the flight: the range / the loss was identically 0 and the starting
        # angle / the untrained network was reported as the answer
        (["best-angle", "--dt", "3"], "dt = 3 s is too long for the throw at 30°"),
        (["learn-drag", "--dt", "3"], "dt = 3 s is too long for the training throw (20 m/s, 30°)"),
        (["fit-gravity", "--optimizer", "lbfgs", "--learning-rate", "0.5"],
         "--learning-rate is not available with --optimizer lbfgs; it uses a line search"),
        (["learn-drag", "--width", "0"], "width = 0"),
        (["learn-drag", "--depth", "-1"], "depth = -1 is not allowed; it must be an integer >= 0"),
        # a width with no hidden layer was accepted and ignored
        (["learn-drag", "--depth", "0", "--width", "8"], "--width is not available with --depth 0"),
        # a seed outside int64 was an OverflowError traceback from jax.random.key
        (["fit-gravity", "--seed", str(2**64)], f"--seed = {2**64} is not allowed; it must be an integer in"),
        (["learn-drag", "--seed", str(-(2**63) - 1)], "is not allowed; it must be an integer in [-2**63"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message):
    r = runner.invoke(app, [*args, "--no-progress"])
    assert r.exit_code == 2
    assert message in r.stderr
    assert r.stderr.strip().count("\n") == 0 and r.stderr.startswith("error: ")
    assert "Traceback" not in r.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # both ended "loss or gradient became non-finite (loss=nan, |grad|=nan) at step 0" (or 1),
        # naming neither option
        (["--g-init", "1e308"], "error: --g-init = 1e+308 is not allowed for this throw; the loss or its gradient "
         "is not a finite number there (loss = nan m²): the simulated positions overflow"),
        (["--g-init", "1e200", "--joint"], "error: --g-init = 1e+200 is not allowed for this throw"),
        (["--learning-rate", "1e308"], "error: --learning-rate = 1e+308 is not allowed for this fit; Adam's first "
         "step moves g by the learning rate, from 15 to -1e+308 m/s², where the loss or its gradient is not a finite "
         "number"),
    ],
)
def test_fit_gravity_names_a_start_or_learning_rate_that_overflows(args, message):
    r = runner.invoke(app, ["fit-gravity", "--dt", "0.1", *args, "--no-progress"])
    assert r.exit_code == 2 and r.stderr.startswith(message) and r.stderr.strip().count("\n") == 0, r.stderr


def test_fit_gravity_overflow_check_refuses_only_what_overflows(x64):
    """A large start whose loss is finite (positions ~ 1e100 m, squared 1e200 m²) still fits; the
    refused 1e308 does overflow (the throw's closed form: g t²/2 at t = 1 s is 5e307 m, whose
    square is not a float64)."""
    from astrograd.orbit._problems import fit_gravity

    r = fit_gravity(dt=0.1, g_init=1e100, learning_rate=1e10, steps=2)
    assert np.all(np.isfinite(r.losses)) and r.iterations == 2 and r.g > 0
    assert 1e308 * 1.0**2 / 2 > np.sqrt(np.finfo(np.float64).max)


def test_fit_gravity_that_ends_below_zero_names_the_learning_rate():
    # Adam with a step of 100 m/s² ended at g = -3.17: "--g = -3.16886 is not allowed; it must be a
    # finite number > 0", naming best-angle's option --g, which fit-gravity does not have
    r = runner.invoke(app, ["fit-gravity", "--learning-rate", "100", "--steps", "50", "--no-progress"])
    assert r.exit_code == 2 and r.stderr.strip().count("\n") == 0, r.stderr
    assert r.stderr.startswith("error: --learning-rate = 100 is too large for this fit: Adam ended at g = -"), r.stderr
    assert "m/s² after 50 steps, which is not a gravity > 0; give a smaller learning rate" in r.stderr


def test_fit_gravity_refuses_a_seed_without_noise():
    # no noise is drawn with --noise 0: the seed was accepted and ignored
    r = runner.invoke(app, ["fit-gravity", "--seed", "3", "--no-progress"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert r.stderr.strip() == "error: --seed is not available with --noise 0; it seeds the noise on the observations"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fit-gravity", "--g-true", "0"], "error: --g-true = 0 is not allowed"),
        (["fit-gravity", "--learning-rate", "0"], "error: --learning-rate = 0 is not allowed"),
        (["fit-gravity", "--noise", "-1"], "error: --noise = -1 is not allowed"),
        (["fit-gravity", "--tol", "-1"], "error: --tol = -1"),
        (["best-angle", "--g", "0"], "error: --g = 0 is not allowed"),
        (["best-angle", "--steps", "0"], "error: --steps = 0 is not allowed"),
        (["learn-drag", "--learning-rate", "0"], "error: --learning-rate = 0 is not allowed"),
        (["learn-drag", "--depth", "-1"], "error: --depth = -1 is not allowed; it must be an integer >= 0"),
        (["fit-gravity", "--g-init", "0"], "error: --g-init = 0 is not allowed"),
        (["fit-gravity", "--integrator", "verlet"], "error: unknown --integrator 'verlet'"),
        (["fit-gravity", "--optimizer", "newton"], "error: unknown --optimizer 'newton'"),
        (["best-angle", "--angle-init", "0"], "error: --angle-init = 0 is outside the allowed range"),
        (["best-angle", "--angle-init", "nan"], "error: --angle-init = nan is outside the allowed range"),
        (["learn-drag", "--integrator", "verlet"], "error: unknown --integrator 'verlet'"),
        # a noise whose variance is 0 or inf in float64: "noise_covariance contains np.float64(0.0)", and
        # "loss or gradient became non-finite (loss=inf, |grad|=nan) at step 0"
        (["fit-gravity", "--noise", "1e-300"], "error: --noise = 1e-300 is not allowed; its variance noise² is not "
         "a finite number > 0 in float64: it must be 0 or lie in [1.49e-154, 1.34e+154] m"),
        (["fit-gravity", "--noise", "1e308"], "error: --noise = 1e+308 is not allowed; its variance noise²"),
    ],
)
def test_library_errors_name_the_options(args, message):
    """Before: the library's names (g_true, g_init, learning_rate, tol, g, best-angle's angle for
    --angle-init, 'unknown integrator', ...)."""
    r = runner.invoke(app, [*args, "--no-progress"])
    assert r.exit_code == 2 and r.stderr.startswith(message) and r.stderr.strip().count("\n") == 0, r.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # "or None" (inverse.fit's message): no command line can type None
        (["fit-gravity", "--tol", "-1"], "error: --tol = -1 is not allowed; it must be a finite number >= 0"),
        (["fit-gravity", "--tol", "nan"], "error: --tol = nan is not allowed; it must be a finite number >= 0"),
        # "lower dt", "raise dt or g, or lower the speed", "lower learning_rate": the library's names
        (["fit-gravity", "--dt", "10"], "error: --dt = 10 s is too long for this throw: the ball is observed in the "
         "air at 0 step(s) after the launch (the fit needs at least 1); lower --dt"),
        (["best-angle", "--dt", "3"], "error: --dt = 3 s is too long for the throw at 30°: the ball is in the air at "
         "0 step(s) after the launch (the range needs at least 1); lower --dt"),
        (["fit-gravity", "--dt", "1e-7"], "error: the flight lasts 6.9282 s: 6.93e+07 steps of dt = 1e-07 s, more "
         "than the 10,000,000 allowed (the whole trajectory is kept); raise --dt or --g-true, or lower --speed"),
        (["best-angle", "--dt", "1e-7"], "error: the flight lasts 4.07747 s: 4.69e+07 steps of dt = 1e-07 s, more "
         "than the 10,000,000 allowed (the whole trajectory is kept); raise --dt or --g, or lower --speed"),
        # learn-drag's throws are fixed: it has no --speed
        (["learn-drag", "--dt", "1e-7"], "error: the flight lasts 2.03874 s: 2.04e+07 steps of dt = 1e-07 s, more "
         "than the 10,000,000 allowed (the whole trajectory is kept); raise --dt or --g"),
        (["best-angle", "--learning-rate", "100"],
         "error: gradient ascent left (0°, 90°) (angle 5760°); lower --learning-rate"),
    ],
)
def test_advice_names_the_command_options(args, message):
    r = runner.invoke(app, [*args, "--no-progress"])
    assert r.exit_code == 2 and r.stderr.strip() == message, r.stderr


@pytest.mark.parametrize("command", ["fit-gravity", "learn-drag"])
def test_checkpoint_errors_name_the_option(tmp_path, command):
    # "checkpoint '...' is a directory", the library's name
    r = runner.invoke(app, [command, "--checkpoint", str(tmp_path), "--no-progress"])
    assert r.exit_code == 2
    assert r.stderr.strip() == f"error: --checkpoint {str(tmp_path)!r} is a directory; give a .npz file"


KILL_WORKER = Path(__file__).parents[1] / "learn" / "kill_worker.py"


def _killable_run(kill_after_saves: int, *args: str) -> subprocess.CompletedProcess:
    """``astrograd orbit ARGS`` in a subprocess that saves its checkpoint every 5 steps and SIGKILLs
    itself right after its ``kill_after_saves``-th atomic file save (0: runs to the end)."""
    command = [sys.executable, str(KILL_WORKER), "--every", "astrograd.orbit._problems", "5", "os", "replace",
               str(kill_after_saves), "orbit", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


@pytest.mark.slow  # three processes per command, each compiling its fit: ~20 s (2 busy cores)
@pytest.mark.parametrize("command", [["fit-gravity", "--steps", "12", "--tol", "0"],
                                     ["learn-drag", "--steps", "12", "--width", "4", "--depth", "1"]])
def test_sigkill_after_a_checkpoint_resumes_to_the_uninterrupted_result(tmp_path, command):
    """Killed (no clean-up) after the checkpoint of step 5, the fit run again with the same
    --checkpoint ends with the parameters, optimiser state and loss history of an uninterrupted run."""
    from astrograd.io import load_npz

    args = [*command, "--no-progress", "--json"]
    ref = _killable_run(0, *args, "--checkpoint", str(tmp_path / "ref.npz"))
    assert ref.returncode == 0, ref.stderr
    part = tmp_path / "part.npz"
    killed = _killable_run(1, *args, "--checkpoint", str(part))
    assert killed.returncode == -9, killed.stderr
    assert load_npz(part, "checkpoint")[0]["step"] == 5
    resumed = _killable_run(0, *args, "--checkpoint", str(part))
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.splitlines()[-1] == ref.stdout.splitlines()[-1]
    (meta_a, a), (meta_b, b) = load_npz(tmp_path / "ref.npz", "checkpoint"), load_npz(part, "checkpoint")
    assert meta_a == meta_b and meta_b["step"] == 12 and sorted(a) == sorted(b) and "losses" in a
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_fit_gravity_non_finite_loss_after_updates_names_the_learning_rate_option(monkeypatch):
    """inverse.fit's advice for a loss that became non-finite after some Adam updates named the
    library's "learning_rate = 1e+300"; the command names --learning-rate. Reached where the
    library's own check of the first step (monkeypatched away here) lets the fit's error through."""
    import astrograd.orbit._problems as problems

    monkeypatch.setattr(problems, "_check_fit_start", lambda *args: None)
    r = runner.invoke(app, ["fit-gravity", "--dt", "0.1", "--learning-rate", "1e300", "--steps", "3", "--no-progress"])
    assert r.exit_code == 2 and r.stderr.strip().count("\n") == 0, r.stderr
    assert r.stderr.startswith("error: loss or gradient became non-finite ("), r.stderr
    assert r.stderr.strip().endswith(") at step 1; the parameters came from 1 adam updates with --learning-rate = "
                                     "1e+300: a smaller learning rate may help"), r.stderr


def test_learn_drag_non_finite_loss_after_updates_names_the_learning_rate_option():
    """learn-drag ended "... 1 adam updates with learning_rate = 1e+300: a smaller learning rate
    may help", the library's name; now --learning-rate."""
    r = runner.invoke(app, ["learn-drag", "--steps", "2", "--depth", "0", "--dt", "0.1",
                            "--learning-rate", "1e300", "--no-progress"])
    assert r.exit_code == 2 and r.stderr.strip().count("\n") == 0, r.stderr
    assert r.stderr.startswith("error: loss or gradient became non-finite ("), r.stderr
    assert r.stderr.strip().endswith(") at step 1; the parameters came from 1 adam updates with --learning-rate = "
                                     "1e+300: a smaller learning rate may help"), r.stderr
