"""`astrograd flow ...` commands: files, JSON, error handling."""

import json

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from astrograd._errors import InputError
from astrograd.flow.cli import app

runner = CliRunner()


def _json(result):
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_run_karman_writes_the_documented_layout(tmp_path, check_output_file):
    out = tmp_path / "k.h5"
    gif = tmp_path / "k.gif"
    r = runner.invoke(
        app,
        [
            "run",
            "karman",
            "--res",
            "16x32",
            "--steps",
            "4",
            "--save-every",
            "2",
            "--out",
            str(out),
            "--gif",
            str(gif),
            "--json",
            "--quiet",
        ],
    )
    assert r.exit_code == 0, r.output
    summary = _json(r)
    assert summary["steps"] == 4 and summary["res"] == "16x32"
    assert summary["viscosity"] == pytest.approx(20 / 100)  # Re = U 2r / nu
    with h5py.File(out) as f:
        assert f["vx"].shape == (32, 17) and f["vy"].shape == (33, 16)
        assert f["marker"].shape == (32, 16) and f["pressure"].shape == (32, 16)
        assert f["obstacle"].shape == (32, 16) and f["obstacle"][()].sum() > 0
        assert f.attrs["time"] == pytest.approx(4.0)
        assert f.attrs["dx"] == pytest.approx(100 / 16) and f.attrs["dy"] == pytest.approx(200 / 32)
        assert f.attrs["viscosity"] == pytest.approx(0.2)
        assert sorted(k for k in f if k.startswith("step_")) == ["step_000000", "step_000002", "step_000004"]
        assert f["step_000002"].attrs["time"] == pytest.approx(2.0)
        assert np.array_equal(f["step_000004/vx"][()], f["vx"][()])
        assert float(np.abs(f["step_000000/vx"][()]).max()) < 0.1  # the initial state
    assert gif.stat().st_size > 0
    check_output_file(gif)  # blank or repeated frames passed the size check


def test_run_burgers_json_and_file(tmp_path):
    out = tmp_path / "b.h5"
    r = runner.invoke(app, ["run", "burgers", "--steps", "16", "--save-every", "8", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    assert _json(r)["time"] == pytest.approx(0.5)
    with h5py.File(out) as f:
        assert f["u"].shape == (128,)
        assert f["step_000008"].attrs["time"] == pytest.approx(0.25)
        np.testing.assert_allclose(f["step_000000/u"][()], -np.sin(np.pi * f["x"][()]), atol=1e-6)


def test_run_burgers_godunov_conserves_the_mean(tmp_path):
    out = tmp_path / "b.h5"
    r = runner.invoke(app, ["run", "burgers", "--advection", "godunov", "--dt", "0.015625", "--steps", "16",
                            "--save-every", "16", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    with h5py.File(out) as f:  # the finite-volume step keeps the mean to float32 round-off (3e-9 measured)
        assert abs(np.mean(f["u"][()], dtype=float) - np.mean(f["step_000000/u"][()], dtype=float)) < 1e-7
        assert np.abs(f["u"][()] - f["step_000000/u"][()]).max() > 0.05  # it moved


def test_run_smoke_with_viscosity_scheme_none_is_inviscid():
    # it was refused ("viscosity = 0.01 is not allowed with viscosity_scheme 'none'"): smoke's
    # viscosity has no option
    r = runner.invoke(app, ["run", "smoke", "--viscosity-scheme", "none", "--res", "16x16", "--steps", "1", "--json"])
    assert r.exit_code == 0, r.output
    assert _json(r)["viscosity"] == 0.0 and _json(r)["reynolds"] is None


def test_fit_burgers_json(tmp_path, check_output_file):
    r = runner.invoke(app, ["fit-burgers", "--iterations", "5", "--json", "--quiet", "--out", str(tmp_path / "fit.h5")])
    assert r.exit_code == 0, r.output
    s = _json(r)
    assert s["iterations"] == 5 and s["final_loss"] < s["initial_loss"]
    check_output_file(tmp_path / "fit.h5")  # the file was not looked at


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "karman", "--res", "0x3"], "--res"),
        (["run", "karman", "--dt", "-1"], "--dt"),
        (["run", "vortex"], "unknown scene"),
        (["run", "karman", "--res", "128x256", "--re", "10"], "explicit viscosity limit"),
        (["run", "karman", "--steps", "0"], "--steps"),
        (["fit-burgers", "--lr", "0"], "--lr = 0"),
        # burgers is 1D: a second cell count, a GIF and a viscosity scheme were silently ignored
        (["run", "burgers", "--res", "32x16"], "--res '32x16' is not allowed for burgers (1D)"),
        # a bad count for burgers was given the 2D hint "give NXxNY ..., e.g. 32x64", and 3 cells
        # were refused as "resolution n = 3" (not naming --res)
        (["run", "burgers", "--res", "0"],
         "error: --res '0' is not allowed for burgers (1D); give one cell count N >= 4, e.g. 128"),
        (["run", "burgers", "--res", "3"], "--res '3' is not allowed for burgers (1D); give one cell count N >= 4"),
        (["run", "burgers", "--res", "abc"], "--res 'abc' is not allowed for burgers (1D); give one cell count N"),
        (["run", "burgers", "--gif", "b.gif"], "--gif is not available for burgers"),
        (["run", "burgers", "--viscosity-scheme", "implicit"], "--viscosity-scheme is not available for burgers"),
        # the library's advice "use a smaller dt" is given as the option
        (["run", "burgers", "--advection", "godunov"],
         "error: Courant number dt*max|u0|/dx = 1.999 is above the godunov limit 1; use a smaller --dt"),
        (["run", "taylor-green", "--viscosity-scheme", "none", "--re", "50"],
         "error: --re is not available with --viscosity-scheme none; it runs inviscid flow (viscosity 0)"),
        (["run", "karman", "--advection", "godunov"],
         "error: unknown --advection 'godunov'; choose one of: semi-lagrangian, maccormack"),
        (["run", "smoke", "--re", "50"], "--re is not available for smoke"),
        (["run", "smoke", "--res", "4x4"], "resolution 4x4 is too coarse for the smoke source"),
        # the saved states were computed and dropped without a word
        (["run", "taylor-green", "--res", "8x8", "--save-every", "2"], "--save-every needs --out"),
        (["run", "burgers", "--save-every", "2"], "--save-every needs --out"),
        # output files are checked before the run: a GIF of another type was a PIL traceback after
        # it, a --plot folder was written as FOLDER.png while the summary named the folder
        (["run", "taylor-green", "--res", "8x8", "--gif", "run.txt"],
         "--gif 'run.txt' must be a file name ending in .gif"),
        (["run", "karman", "--out", "."], "--out '.' is a directory; give a file name such as 'out.h5'"),
        (["fit-burgers", "--plot", "."], "--plot '.' is a directory"),
        (["fit-marker", "--plot", "fit.pdf"], "--plot 'fit.pdf' must be a file name ending in .png"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message):
    r = runner.invoke(app, args)
    assert r.exit_code == 2
    assert "Traceback" not in r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]


# measured max_divergence: smoke 3.6e-6 (CG), taylor-green 1.8e-7 (FFT; the bound is ~100 float32 eps)
@pytest.mark.parametrize("scene, res, max_div", [("smoke", "16x16", 1e-4), ("taylor-green", "8x8", 2e-5)])
def test_run_other_scenes(scene, res, max_div):
    r = runner.invoke(app, ["run", scene, "--res", res, "--steps", "3", "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    s = _json(r)
    assert s["steps"] == 3 and s["max_divergence"] < max_div


def test_run_taylor_green_reports_its_reynolds_number(tmp_path):
    # --re sets the viscosity 1/Re of taylor-green, but the summary said "reynolds": null and the
    # file had no reynolds attribute
    out = tmp_path / "tg.h5"
    r = runner.invoke(app, ["run", "taylor-green", "--res", "8x8", "--steps", "1", "--re", "50", "--out", str(out),
                            "--json", "--quiet"])
    assert r.exit_code == 0, r.output
    s = _json(r)
    assert s["reynolds"] == 50 and s["viscosity"] == pytest.approx(1 / 50)
    with h5py.File(out) as f:
        assert f.attrs["reynolds"] == 50 and f.attrs["viscosity"] == pytest.approx(1 / 50)


@pytest.mark.slow
def test_fit_marker_cli_reduces_the_loss(tmp_path, check_output_file):
    r = runner.invoke(
        app,
        [
            "fit-marker",
            "--iterations",
            "30",
            "--res",
            "16",
            "--steps",
            "10",
            "--json",
            "--quiet",
            "--plot",
            str(tmp_path / "m.png"),
        ],
    )
    assert r.exit_code == 0, r.output
    s = _json(r)
    assert s["iterations"] == 30 and s["final_loss"] < 0.05 * s["initial_loss"]
    check_output_file(tmp_path / "m.png")  # the figure was not looked at


@pytest.mark.slow
def test_fit_marker_checkpoint_resumes_to_the_uninterrupted_result(tmp_path):
    """fit-marker --checkpoint: 2 iterations, then rerun with 4 from the checkpoint, ends exactly
    where 4 uninterrupted iterations end; a checkpoint of another --steps is refused in one line."""
    base = ["fit-marker", "--res", "8", "--steps", "3", "--json", "--quiet"]
    ckpt = str(tmp_path / "marker.npz")
    full = runner.invoke(app, [*base, "--iterations", "4"])
    first = runner.invoke(app, [*base, "--iterations", "2", "--checkpoint", ckpt])
    resumed = runner.invoke(app, [*base, "--iterations", "4", "--checkpoint", ckpt])
    for r in (full, first, resumed):
        assert r.exit_code == 0, r.output
    assert _json(resumed)["final_loss"] == _json(full)["final_loss"]
    assert _json(resumed)["initial_loss"] == _json(full)["initial_loss"]
    assert _json(first)["final_loss"] != _json(full)["final_loss"]
    stale = runner.invoke(app, ["fit-marker", "--res", "8", "--steps", "4", "--iterations", "4", "--checkpoint", ckpt])
    assert stale.exit_code == 2
    # named as the option (was the library's "checkpoint")
    assert stale.output.strip().splitlines()[-1].startswith("error: --checkpoint ") and "extra differ" in stale.output


def test_snapshot_writers_need_the_save_interval_of_saved_states(tmp_path):
    import jax
    import jax.numpy as jnp

    from astrograd import flow
    from astrograd.flow._io import write_burgers_snapshot, write_flow_snapshot

    final, params, config = flow.taylor_green(8)
    saved = jax.tree.map(lambda a: jnp.stack([a, a, a]), final)  # three saved states, no run needed
    # every saved state was named step_000000: the file kept only the last one, labelled step 0
    with pytest.raises(InputError, match="save_every = None is not allowed; it must be an integer >= 1"):
        write_flow_snapshot(tmp_path / "f.h5", final, params, config, saved=saved)
    with pytest.raises(InputError, match="save_every = None is not allowed"):  # was a TypeError from int(None)
        write_burgers_snapshot(tmp_path / "b.h5", np.arange(4.0), np.zeros(4), saved=np.zeros((2, 4)), dt=0.1,
                               time=0.1, dx=1.0, viscosity=0.01)
    write_flow_snapshot(tmp_path / "f.h5", final, params, config, saved=saved, save_every=1)
    with h5py.File(tmp_path / "f.h5") as f:
        assert sorted(k for k in f if k.startswith("step_")) == ["step_000000", "step_000001", "step_000002"]


def test_fit_marker_refuses_a_checkpoint_with_no_iterations(tmp_path):
    # nothing is optimised with --iterations 0: the checkpoint was neither read nor written
    ckpt = tmp_path / "c.npz"
    r = runner.invoke(app, ["fit-marker", "--iterations", "0", "--checkpoint", str(ckpt), "--quiet"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert lines == ["error: --checkpoint is not available with --iterations 0; nothing is optimised or saved"]
    assert not ckpt.exists()


@pytest.mark.parametrize("command", ["fit-burgers", "fit-marker"])
def test_fits_refuse_a_learning_rate_with_no_iterations(command):
    # nothing is optimised with --iterations 0: the learning rate was accepted and ignored
    r = runner.invoke(app, [command, "--iterations", "0", "--lr", "0.5", "--quiet"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert lines == ["error: --lr is not available with --iterations 0; nothing is optimised"]


@pytest.mark.parametrize("command", ["fit-burgers", "fit-marker"])
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lr", "0"], "error: --lr = 0 is not allowed; it must be a finite number > 0"),
        (["--lr", "nan"], "error: --lr = nan is not allowed"),
        (["--iterations", "-1"], "error: --iterations = -1 is not allowed; it must be an integer >= 0"),
    ],
)
def test_fit_errors_name_the_options(tmp_path, command, args, message):
    """Before: the library's names, `learning rate = 0` and `iterations = -1`."""
    out = tmp_path / "new" / "fit.h5"
    r = runner.invoke(app, [command, *args, "--out", str(out), "--quiet"])
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith(message), r.output
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["karman", "--advection", "upwind"], "error: unknown --advection 'upwind'; choose one of:"),
        (["burgers", "--advection", "upwind"], "error: unknown --advection 'upwind'; choose one of:"),
        (["smoke", "--viscosity-scheme", "spectral"], "error: unknown --viscosity-scheme 'spectral'; choose one of:"),
        # an empty name ran the default scheme
        (["burgers", "--advection", ""], "error: unknown --advection ''; choose one of:"),
        (["smoke", "--viscosity-scheme", ""], "error: unknown --viscosity-scheme ''; choose one of:"),
        # a --re whose viscosity float32 cannot hold was refused as "viscosity = 0" or "= inf", values
        # never given (karman: nu = U 2r / Re = 20 / Re; taylor-green: nu = 1 / Re)
        (["karman", "--re", "1e308", "--res", "16x32"],
         "error: --re = 1e+308 is not allowed; it gives the viscosity 2e-307, which float32 cannot hold (its "
         "magnitude must lie in [1.18e-38, 3.4e+38])"),
        (["taylor-green", "--re", "1e-300"], "error: --re = 1e-300 is not allowed; it gives the viscosity 1e+300, "
         "which float32 cannot hold"),
        # a --dt that float32 holds as 0 stopped the run with "non-finite velocity ... at t = 0"
        (["smoke", "--dt", "1e-300"], "error: --dt = 1e-300 is not allowed; float32 (the state's precision) cannot "
         "hold it: its magnitude must lie in [1.18e-38, 3.4e+38]"),
        # burgers ran, printing the unchanged initial state as its result
        (["burgers", "--dt", "1e-45"], "error: --dt = 1e-45 is not allowed; float32 (the state's precision) cannot "
         "hold it: its magnitude must lie in [1.18e-38, 3.4e+38]"),
        (["burgers", "--dt", "0"], "error: --dt = 0 is not allowed; it must be a finite number > 0"),
        (["burgers", "--dt", "nan"], "error: --dt = nan is not allowed; it must be a finite number > 0"),
        (["burgers", "--dt", "-inf"], "error: --dt = -inf is not allowed; it must be a finite number > 0"),
    ],
)
def test_run_errors_name_the_options(tmp_path, args, message):
    """Before: the library's names, 'unknown advection scheme' and 'unknown viscosity scheme'."""
    out = tmp_path / "new" / "run.h5"
    res = [] if "--res" in args else ["--res", "16" if args[0] == "burgers" else "8x8"]
    r = runner.invoke(app, ["run", *args, *res, "--steps", "1", "--out", str(out), "--quiet"])
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith(message), r.output
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # the library's advice named dt and "the implicit viscosity scheme", not the options
        (["run", "karman", "--re", "1", "--steps", "1"],
         "error: diffusion number nu*dt*(2/dx^2+2/dy^2) = 8.192 is above the explicit viscosity limit 1; "
         "use --viscosity-scheme implicit or a smaller --dt"),
        (["run", "burgers", "--dt", "100", "--steps", "1"],
         "error: diffusion number nu*dt*2/dx^2 = 2608 is above the explicit viscosity limit 1; use a smaller --dt"),
        # fit-marker has neither --dt nor --viscosity-scheme: its fixed time step limits the grid
        (["fit-marker", "--res", "400", "--iterations", "0"],
         "error: diffusion number nu*dt*(2/dx^2+2/dy^2) = 1.28 is above the explicit viscosity limit 1; "
         "use a smaller --res"),
        # no advice at all, or "use more cells" without the option
        (["run", "karman", "--res", "4x4", "--steps", "1"],
         "error: cylinder radius 10 is too small for the grid: it covers no cell centre (dx = 25, dy = 50); "
         "use more cells (--res)"),
        (["run", "smoke", "--res", "2x2", "--steps", "1"],
         "error: resolution 2x2 is too coarse for the smoke source (a disc of radius 10 covering no cell centre at "
         "dx = 50, dy = 50); use more cells (--res)"),
        # "lower the learning rate" (the option is --lr)
        (["fit-burgers", "--lr", "1e30", "--iterations", "3"],
         "error: the fit diverged: the loss became inf at iteration 1; lower --lr"),
    ],
)
def test_advice_names_the_command_options(args, message):
    r = runner.invoke(app, [*args, "--quiet"])
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert r.exit_code == 2 and lines == [message], r.output


def test_fit_marker_checkpoint_errors_name_the_option(tmp_path):
    # "checkpoint '...' is a directory", the library's name
    r = runner.invoke(app, ["fit-marker", "--checkpoint", str(tmp_path), "--iterations", "1", "--res", "8",
                            "--steps", "1", "--quiet"])
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith(f"error: --checkpoint {str(tmp_path)!r}")


@pytest.mark.slow  # three processes, each compiling the fit through the solver: ~90 s (2 busy cores)
def test_fit_marker_sigkill_after_a_checkpoint_resumes_to_the_uninterrupted_result(tmp_path):
    """Killed (no clean-up) after the checkpoint of iteration 5, fit-marker run again with the same
    --checkpoint ends with the velocities, optimiser state, losses and summary of an uninterrupted run."""
    import subprocess
    import sys
    from pathlib import Path

    from astrograd.io import load_npz

    worker = Path(__file__).parents[1] / "learn" / "kill_worker.py"

    def run(kill_after_saves, checkpoint):
        args = ["fit-marker", "--res", "8", "--steps", "2", "--iterations", "12", "--quiet", "--json",
                "--checkpoint", str(checkpoint)]
        return subprocess.run([sys.executable, str(worker), "--every", "astrograd.flow._fit", "5", "os", "replace",
                               str(kill_after_saves), "flow", *args], capture_output=True, text=True, timeout=600)

    def summary(r):
        assert r.returncode == 0, r.stderr
        s = json.loads(r.stdout.splitlines()[-1])
        del s["seconds"]
        return s

    ref, part = tmp_path / "ref.npz", tmp_path / "part.npz"
    reference = summary(run(0, ref))
    killed = run(1, part)
    assert killed.returncode == -9, killed.stderr
    assert load_npz(part, "checkpoint")[0]["step"] == 5
    assert summary(run(0, part)) == reference
    (meta_a, a), (meta_b, b) = load_npz(ref, "checkpoint"), load_npz(part, "checkpoint")
    assert meta_a == meta_b and meta_b["step"] == 12 and sorted(a) == sorted(b) and "losses" in a
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "karman", "--res", "12000x12000"], "--res 12000x12000 needs at least 4.03 GB (float32, 7 values per "
         "cell)"),
        (["run", "burgers", "--res", "200000000"], "--res 200000000 needs at least 1.6 GB (float32, 2 values per "
         "cell)"),
        (["run", "smoke", "--res", "500", "--steps", "400", "--save-every", "1"], "--res 500 with 401 saved states "
         "(--steps 400, --save-every 1) needs at least 1.61 GB (float32, 7 values per cell and 4 per saved state "
         "(vx, vy, marker, pressure))"),
        (["fit-marker", "--res", "4000", "--steps", "20"], "--res 4000 with --steps 20 needs at least 4.03 GB "
         "(float32 vx, vy and marker of every step, kept for the gradient)"),
    ],
)
def test_sizes_beyond_the_memory_are_refused_before_anything_is_built(tmp_path, monkeypatch, args, message):
    """Before: `run karman --res 100000x100000` (or a --save-every that keeps 100001 states) built
    arrays with no output until the memory ran out. Now, where a lower bound of the arrays exceeds
    the physical memory (made 1 GB here), one line, exit status 1 (a larger machine may run it)."""
    import astrograd._cli_util as memory
    import astrograd.flow as flow
    import astrograd.flow._burgers as burgers
    import astrograd.flow._fit as fit

    def no_build(*args, **kwargs):
        raise AssertionError("the run was started")

    monkeypatch.setattr(memory, "physical_memory_bytes", lambda: 10**9)
    for module, name in ((flow, "karman"), (flow, "smoke"), (burgers, "burgers_initial"), (fit, "fit_marker")):
        monkeypatch.setattr(module, name, no_build)
    out = ["--out", str(tmp_path / "new" / "o.h5")] if "--save-every" in args else []
    r = runner.invoke(app, [*args, *out])
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert r.exit_code == 1 and lines == [f"error: out of memory ({message}, more than the 1 GB of this machine); "
                                          "try smaller sizes (grid, particles, steps, batch)"], r.output
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    "args",
    [["run", "burgers", "--steps", str(10**20)], ["run", "karman", "--steps", str(2**31)],
     ["fit-marker", "--steps", str(2**31)]],
)
def test_step_counts_beyond_the_int32_loop_counter_are_refused(tmp_path, args):
    """Before: `run burgers --steps 100000000000000000000` ended in an MLIR TypeError traceback
    (the loop counts steps in int32)."""
    r = runner.invoke(app, [*args, "--out", str(tmp_path / "new" / "o.h5"), "--quiet"])
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert r.exit_code == 2 and lines == [f"error: --steps {args[-1]} is not allowed; it must be an integer in "
                                          "[1, 2147483647]"], r.output
    assert not (tmp_path / "new").exists()


def test_run_burgers_has_a_progress_bar_that_does_not_change_the_result(tmp_path, monkeypatch):
    """`run burgers` ran with no progress bar (the 2D scenes have one): it now runs in chunks under
    one; the file holds what one burgers_simulate over all the steps gives, with or without it."""
    import astrograd.flow.cli as flow_cli
    from astrograd._cli_util import ProgressBar
    from astrograd.flow import BOOK_VISCOSITY, BurgersConfig, burgers_initial, burgers_simulate

    bars = []

    class RecordingBar(ProgressBar):
        def __init__(self, total, description="", enabled=True):
            super().__init__(total, description, enabled)
            bars.append({"total": total, "enabled": enabled, "advanced": 0})

        def advance(self, n=1, status=None):
            bars[-1]["advanced"] += n
            super().advance(n, status)

    monkeypatch.setattr(flow_cli, "ProgressBar", RecordingBar)
    files = {}
    for flags in ((), ("--quiet",)):  # the bar is on by default
        files[flags] = tmp_path / f"b{len(flags)}.h5"
        r = runner.invoke(app, ["run", "burgers", "--res", "16", "--steps", "7", "--save-every", "3",
                                "--out", str(files[flags]), *flags])
        assert r.exit_code == 0, r.output
    assert [(b["total"], b["enabled"], b["advanced"]) for b in bars] == [(7, True, 7), (7, False, 7)]
    config = BurgersConfig(n=16)
    u, saved = burgers_simulate(burgers_initial(config), BOOK_VISCOSITY, config, 7, save_every=3)
    for path in files.values():
        with h5py.File(path) as f:
            assert np.array_equal(f["u"][()], np.asarray(u))
            assert sorted(k for k in f if k.startswith("step_")) == ["step_000000", "step_000003", "step_000006"]
            for k, step in enumerate((0, 3, 6)):
                assert np.array_equal(f[f"step_{step:06d}/u"][()], np.asarray(saved[k]))


@pytest.mark.parametrize("scene", ["smoke", "karman"])
def test_a_dt_the_state_cannot_hold_is_refused_before_the_viscosity_limit(scene):
    """Review: `run smoke --dt 1e39` advised "use --viscosity-scheme implicit or a smaller --dt",
    and with that scheme the run was then refused because float32 cannot hold the dt: the dt
    refusal comes first, as before the dt check moved to the state."""
    res = runner.invoke(app, ["run", scene, "--res", "32x64", "--steps", "1", "--dt", "1e39"])
    assert res.exit_code == 2 and "--dt = 1e+39 is not allowed; float32 (the state's precision) cannot hold it" in \
        res.output, res.output


def test_rewording_advice_keeps_errors_that_take_more_than_a_message():
    """Review: the advice rewriter re-raised with type(err)(message), a TypeError for a
    FitStepError (which also takes step, cause and params)."""
    from astrograd._errors import SimulationError
    from astrograd.flow.cli import FIT_ADVICE, _advice_as_options
    from astrograd.inverse import FitStepError

    with pytest.raises(SimulationError, match="^the loss failed at step 3: x; lower --lr$") as info:
        with _advice_as_options(FIT_ADVICE):
            raise FitStepError("the loss failed at step 3: x; lower the learning rate", 3, RuntimeError("x"), {})
    assert type(info.value) is SimulationError


def test_fit_marker_non_finite_advice_names_the_lr_option():
    """inverse.fit's "... 2 adam updates with learning_rate = 1e+30: a smaller learning rate may
    help" named the library's argument; fit-marker's option is --lr."""
    from astrograd._errors import SimulationError
    from astrograd.flow.cli import FIT_ADVICE, _advice_as_options

    message = ("loss or gradient became non-finite (loss=nan, |grad|=nan) at step 2; the parameters came from 2 adam "
               "updates with learning_rate = 1e+30: a smaller learning rate may help")
    with pytest.raises(SimulationError, match=r"2 adam updates with --lr = 1e\+30: a smaller"):
        with _advice_as_options(FIT_ADVICE):
            raise SimulationError(message)
