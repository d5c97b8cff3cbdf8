"""``astrograd pm run`` / ``fit-image``: snapshots, JSON, bad input (exit status 2, one line)."""

import json

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from astrograd.pm.cli import app

runner = CliRunner()


def _run(args):
    return runner.invoke(app, args, catch_exceptions=False)


def test_pm_run_writes_gadget_snapshots(tmp_path, check_output_file):
    out = tmp_path / "run"
    res = _run(["run", "--ptcl-grid", "8", "--mesh-factor", "2", "--box", "64", "--a-start", "0.1",
                "--steps", "4", "--snapshots", "0.5,1", "--out", str(out), "--json", "--plot"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["scale_factors"] == [0.5, 1.0] and summary["num_steps"] == 5
    pk = summary["power_spectrum"]
    assert len(pk["k"]) == len(pk["P"]) == len(pk["P_linear"]) > 3
    for i, a in enumerate((0.5, 1.0)):
        with h5py.File(out / f"snapshot_{i:03d}.h5") as f:
            h = f["Header"].attrs
            assert h["Time"] == a and abs(h["Redshift"] - (1 / a - 1)) < 1e-12
            assert list(h["NumPart_ThisFile"]) == [0, 512, 0, 0, 0, 0]
            assert list(h["NumPart_Total"]) == [0, 512, 0, 0, 0, 0]
            assert h["BoxSize"] == 64000.0 and h["Omega0"] == pytest.approx(0.3)
            assert h["OmegaLambda"] == pytest.approx(0.7) and h["HubbleParam"] == pytest.approx(0.7)
            # particle mass: Ω_m ρ_crit V / N with ρ_crit = 2.775e11 h² M☉/Mpc³
            assert h["MassTable"][1] == pytest.approx(0.3 * 27.7536627 * 64**3 / 512, rel=1e-6)
            pos = f["PartType1/Coordinates"][:]
            assert pos.shape == (512, 3) and pos.min() >= 0 and pos.max() < 64000  # kpc/h
            assert f["PartType1/Velocities"].shape == (512, 3)
            np.testing.assert_array_equal(f["PartType1/ParticleIDs"][:], np.arange(512))
    # drawn, not just written (a blank figure passed `.exists()`)
    assert summary["figures"] == [str(out / "projection.png"), str(out / "power_spectrum.png")]
    for name in ("projection.png", "power_spectrum.png", "snapshot_000.h5", "snapshot_001.h5"):
        check_output_file(out / name)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--ptcl-grid", "8", "--mesh-factor", "0"], "mesh-factor"),
        # these named a_stop (the last snapshot), not an option of this command
        (["--ptcl-grid", "8", "--a-start", "1.0"],
         "--a-start = 1 is not allowed; it must be before the last snapshot 1"),
        (["--ptcl-grid", "8", "--a-start", "0.5", "--snapshots", "0.2,0.3"],
         "--snapshots scale factor 0.2 is before --a-start = 0.5"),
        # a repeated snapshot was written twice
        (["--ptcl-grid", "8", "--snapshots", "0.5,1,0.50"], "--snapshots '0.5,1,0.50' repeats the scale factor 0.5"),
        (["--ptcl-grid", "8", "--omega-m", "0"], "--omega-m"),
        (["--ptcl-grid", "8", "--sigma8", "-0.8"], "sigma8"),
        (["--ptcl-grid", "8", "--snapshots", "0.5,x"], "snapshots"),
        # an empty entry was skipped: '0.5,,1' ran as 0.5,1 and '1,' as 1
        (["--ptcl-grid", "8", "--snapshots", "0.5,,1"], "--snapshots '0.5,,1' has an empty entry; give scale factors"),
        (["--ptcl-grid", "8", "--snapshots", "1,"], "--snapshots '1,' has an empty entry"),
        (["--ptcl-grid", "8", "--snapshots", "0.5,6"], "--snapshots scale factor = 6 is outside the allowed range"),
        (["--ptcl-grid", "8", "--lpt-order", "3"], "--lpt-order"),
        (["--ptcl-grid", "8", "--devices", "0"], "devices = 0"),
        (["--ptcl-grid", "8", "--devices", "1000"], "devices = 1000"),
        # a seed outside int64 was JAX's OverflowError traceback (as in hydro, orbit, learn)
        (["--ptcl-grid", "8", "--seed", str(2**64)], f"--seed = {2**64} is not allowed; it must be an integer in"),
        # an absurd box ran, but the particles never moved (linear modes underflowed to 0 in float32);
        # a tiny one failed with "k = inf is not allowed"
        (["--ptcl-grid", "8", "--box", "1e30"], "--box = 1e+30 is outside the allowed range [0.01, 100000] Mpc/h"),
        (["--ptcl-grid", "8", "--box", "1e-30"], "--box = 1e-30 is outside the allowed range [0.01, 100000] Mpc/h"),
        # named as the config's fields before ("num_steps = 0", "ptcl_grid = (1, 1, 1)")
        (["--ptcl-grid", "8", "--steps", "0"], "--steps = 0 is not allowed; it must be an integer >= 1"),
        (["--ptcl-grid", "1"], "--ptcl-grid = 1 is not allowed; it must be an integer >= 2"),
    ],
)
def test_pm_run_bad_input(tmp_path, args, needle):
    res = runner.invoke(app, ["run", *args, "--out", str(tmp_path)])
    assert res.exit_code == 2
    err = res.stderr if hasattr(res, "stderr") else res.output
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], err


@pytest.mark.parametrize(("a_start", "snapshots"), [(1 / 64, "1"), (1.5, "1.6,2"), (0.24, "0.26")])
def test_pm_run_caps_steps_where_float32_scale_factors_repeat(tmp_path, monkeypatch, a_start, snapshots):
    """--steps had no upper bound: --steps 100000000 was run, its scale factors rounded to float32
    (the run's dtype), most steps of zero length. Checked against float32 itself: the largest
    count allowed keeps every scale factor distinct; twice as many repeat some."""
    import re

    import astrograd.pm.cli
    from astrograd._errors import InputError

    def accepted(out):  # the next check after the options': the run would start
        raise InputError("the options were accepted")

    monkeypatch.setattr(astrograd.pm.cli, "check_out_folder", accepted)

    def refusal(steps):
        res = runner.invoke(app, ["run", "--ptcl-grid", "4", "--a-start", str(a_start), "--snapshots", snapshots,
                                  "--steps", str(steps), "--out", str(tmp_path)])
        assert res.exit_code == 2
        lines = [ln for ln in (res.stderr if hasattr(res, "stderr") else res.output).strip().splitlines() if ln]
        assert len(lines) == 1 and lines[0].startswith("error:"), lines
        return lines[0]

    line = refusal(100000000)
    assert line.startswith("error: --steps = 100000000 is not allowed; it must be an integer in [1, ")
    assert "float32" in line
    largest = int(re.search(r"in \[1, (\d+)\]", line).group(1))
    assert refusal(largest) == "error: the options were accepted"
    assert refusal(largest + 1).startswith(f"error: --steps = {largest + 1} is not allowed")
    a_stop = max(float(s) for s in snapshots.split(","))
    for steps, distinct in ((largest, True), (2 * largest, False)):
        a32 = np.linspace(a_start, a_stop, steps + 1).astype(np.float32)
        assert bool(np.all(np.diff(a32) > 0)) is distinct, (steps, distinct)


def test_pm_run_refuses_an_out_that_is_a_file_before_the_run(tmp_path, monkeypatch):
    import astrograd.pm._nbody

    def no_run(*args, **kwargs):
        raise AssertionError("the run started")

    monkeypatch.setattr(astrograd.pm._nbody, "nbody_snapshots", no_run)
    (tmp_path / "file").write_text("")
    res = runner.invoke(app, ["run", "--ptcl-grid", "4", "--steps", "1", "--out", str(tmp_path / "file")])
    assert res.exit_code == 2 and "cannot use" in res.output + getattr(res, "stderr", ""), res.output


def test_fit_image_bad_image(tmp_path):
    (tmp_path / "x.png").write_text("nope")
    res = runner.invoke(app, ["fit-image", "--image", str(tmp_path / "x.png"), "--out", str(tmp_path)])
    assert res.exit_code == 2 and "cannot read" in res.output + getattr(res, "stderr", "")
    res = runner.invoke(app, ["fit-image", "--views", "3", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "views" in res.output + getattr(res, "stderr", "")
    # an empty --text is refused (it used to draw the default 'pmwd' instead)
    res = runner.invoke(app, ["fit-image", "--text", "", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "text = '' is empty" in res.output + getattr(res, "stderr", "")
    res = runner.invoke(app, ["fit-image", "--seed", str(-(2**63) - 1), "--out", str(tmp_path)])
    assert res.exit_code == 2 and f"seed = {-(2**63) - 1} is not allowed" in res.output + getattr(res, "stderr", "")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        # named `iterations` and `seed`, and --out was created before --iterations was checked
        (["--iterations", "0"], "--iterations = 0 is not allowed; it must be an integer >= 1"),
        (["--seed", str(2**64)], f"--seed = {2**64} is not allowed; it must be an integer in"),
        (["--lr", "0"], "--lr = 0 is not allowed; it must be a finite number > 0"),
        (["--lr", "nan"], "--lr = nan is not allowed"),
        (["--text", "  "], "--text = '  ' is empty"),
        (["--views", "3"], "--views = 3 is not allowed; choose 1 or 2"),
        (["--text", "a", "--image", "x.png"], "give either --text or --image, not both"),
        (["--image", "missing.png"], "missing.png"),
        (["--image", "missing.png"], "--image file 'missing.png' does not exist"),
        (["--checkpoint", "--checkpoint-every", "0"], "--checkpoint-every = 0 is not allowed; it must be an integer"),
        (["--text", "\u200b"], "--text = '\\u200b' draws nothing (no visible glyph)"),  # var(target) = 0 in the loss
    ],
)
def test_fit_image_checks_every_option_before_creating_out(tmp_path, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "new" / "fit"
    res = runner.invoke(app, ["fit-image", *args, "--out", str(out)])
    assert res.exit_code == 2
    err = res.stderr if hasattr(res, "stderr") else res.output
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], err
    assert not (tmp_path / "new").exists()


@pytest.mark.slow
def test_fit_image_resumes_from_checkpoint(tmp_path, check_output_file):
    out = tmp_path / "fit"
    res = _run(["fit-image", "--iterations", "4", "--out", str(out), "--checkpoint", "--json"])
    assert res.exit_code == 0, res.output
    first = json.loads(res.output.strip().splitlines()[-1])
    res = _run(["fit-image", "--iterations", "8", "--out", str(out), "--checkpoint", "--json"])
    second = json.loads(res.output.strip().splitlines()[-1])
    history = np.loadtxt(out / "losses.txt")
    assert len(history) == 9 and history[4] == pytest.approx(first["final_loss"], rel=1e-4)
    # the resumed run continues the same trajectory as an uninterrupted one
    res = _run(["fit-image", "--iterations", "8", "--out", str(tmp_path / "straight"), "--json"])
    straight = json.loads(res.output.strip().splitlines()[-1])
    assert second["final_loss"] == pytest.approx(straight["final_loss"], rel=1e-4)
    for name in ("target.png", "initial.png", "final.png", "loss.png", "fit.gif", "ics.h5"):
        check_output_file(out / name)  # drawn, not just written (a blank figure passed `.exists()`)
    # another --seed starts from other noise: its checkpoint is refused, not resumed
    res = runner.invoke(app, ["fit-image", "--iterations", "8", "--seed", "1", "--out", str(out), "--checkpoint"])
    assert res.exit_code == 2 and "written for another starting_noise;" in res.output


def test_pm_run_refuses_stale_snapshots_of_an_earlier_run_before_the_run(tmp_path, monkeypatch):
    import astrograd.pm._nbody

    def no_run(*args, **kwargs):
        raise AssertionError("the run started")

    monkeypatch.setattr(astrograd.pm._nbody, "nbody_snapshots", no_run)
    for i in range(3):  # an earlier run with three snapshots
        (tmp_path / f"snapshot_{i:03d}.h5").write_text("")
    # two snapshots now: snapshot_002.h5 would have stayed and been read as part of this run
    args = ["run", "--ptcl-grid", "4", "--steps", "1", "--snapshots", "0.5,1", "--out", str(tmp_path)]
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert "holds snapshot_002.h5 from an earlier run with more snapshots" in res.output + getattr(res, "stderr", "")


def test_pm_run_snapshot_on_a_grid_step_adds_no_step(tmp_path):
    """np.linspace(0.1, 1, 11) holds 0.5499999999999999, not 0.55: the snapshot at 0.55 was added
    as a twelfth scale factor, a step of 1e-16 and one more force evaluation (num_steps 11)."""
    out = tmp_path / "run"
    res = _run(["run", "--ptcl-grid", "4", "--mesh-factor", "1", "--box", "64", "--a-start", "0.1",
                "--steps", "10", "--snapshots", "0.55,1", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["num_steps"] == 10
    with h5py.File(out / "snapshot_000.h5") as f:
        assert f["Header"].attrs["Time"] == 0.55


def _one_error_line(res):
    err = res.stderr if hasattr(res, "stderr") else res.output
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_run_refusing_devices_leaves_no_out_directory(tmp_path):
    """Before: --out was made before the run was traced, where a bad --devices is found: it left
    an empty folder, and the message said `devices = 3`."""
    out = tmp_path / "new" / "run"
    res = runner.invoke(app, ["run", "--ptcl-grid", "4", "--steps", "1", "--devices", "3", "--out", str(out)])
    assert _one_error_line(res).startswith("error: --devices = 3 is not allowed")
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--warmup", "0"], "--warmup = 0 is not allowed; it must be an integer >= 1"),
        (["--samples", "1"], "--samples = 1 is not allowed; it must be an integer >= 2"),
        (["--chains", "0"], "--chains = 0 is not allowed"),
        (["--map-steps", "0"], "--map-steps = 0 is not allowed"),
        (["--seed", str(2**64)], f"--seed = {2**64} is not allowed"),
        (["--noise", "0"], "--noise = 0 is not allowed; it must be a finite number > 0"),
        (["--dtype", "float16"], "unknown --dtype 'float16'"),
        (["--a-start", "0.5", "--a-stop", "0.25"], "--a-start = 0.5 is not allowed"),
        (["--omega-m", "0"], "--omega-m = 0 is not allowed"),
        (["--a-stop", "nan"], "--a-stop = nan is outside the allowed range"),
    ],
)
def test_reconstruct_errors_name_the_options(tmp_path, args, needle):
    """Before: the library's names (num_warmup, num_samples, sigma (the noise level of the
    data), ...), which are not options of the command."""
    out = tmp_path / "new" / "rec"
    res = runner.invoke(app, ["reconstruct", "--ptcl-grid", "4", *args, "--out", str(out)])
    assert needle in _one_error_line(res)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    ("args", "start"),
    [
        (["--omega-m", "0"], "--omega-m = 0 is not allowed"),
        (["--omega-m", "nan"], "--omega-m = nan is not allowed"),
        (["--lpt-order", "3"], "--lpt-order = 3 is not allowed"),
        (["--snapshots", "0"], "--snapshots scale factor = 0 is outside the allowed range"),
        (["--snapshots", "0.01"], "--snapshots scale factor 0.01 is before --a-start = 0.015625"),
    ],
)
def test_run_errors_name_the_options_and_leave_no_out(tmp_path, args, start):
    """Before: the library's names omega_m and lpt_order, and 'snapshot scale factor' for the
    values of --snapshots."""
    res = runner.invoke(app, ["run", "--ptcl-grid", "8", *args, "--out", str(tmp_path / "new" / "run")])
    assert _one_error_line(res).startswith(f"error: {start}")
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("command", ["run", "reconstruct"])
def test_a_mesh_beyond_int32_names_the_options(tmp_path, command):
    """Before: "mesh_shape = (200000, 200000, 200000) has 8000000000000000 cells", the config's
    field, not an option."""
    res = runner.invoke(app, [command, "--ptcl-grid", "100000", "--out", str(tmp_path / "new")])
    assert _one_error_line(res) == ("error: --ptcl-grid 100000 × --mesh-factor 2 is not allowed: a mesh of 200000³ = "
                                    "8000000000000000 cells; at most 2147483647 (2**31 - 1) are allowed (int32 cell "
                                    "indices)")
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(("args", "line"), [
    (["--a-start", "2"], "error: --a-start = 2 is not allowed; it must be smaller than --a-stop = 1"),
    (["--a-stop", "0.01"], "error: --a-start = 0.0625 is not allowed; it must be smaller than --a-stop = 0.01"),
])
def test_reconstruct_order_of_the_scale_factors_names_a_stop_as_the_option(tmp_path, args, line):
    """Before: "... it must be smaller than a_stop = 1", the library's name of --a-stop."""
    res = runner.invoke(app, ["reconstruct", "--ptcl-grid", "4", *args, "--out", str(tmp_path / "new")])
    assert _one_error_line(res) == line
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(("omega_m", "why"), [
    ("1.5", "above it Ω_Λ = 1 − Ω_m makes the universe stop expanding before a = 4, the end of the growth table"),
    ("1e-12", "below it dark energy is not negligible at a = 1e-05, where the growth equations start in the "
     "matter era"),
])
def test_run_omega_m_without_a_growth_table_names_the_option(tmp_path, omega_m, why):
    """Before: "E²(a) = -0.018 at a = 1.46 for the cosmology with omega_m = 1.5, omega_k = 0, w0 = -1,
    wa = 0: ..." and "w0 + wa = -1 (w0 = -1, wa = 0) is not allowed with omega_m = 1e-12", parameters
    that no option of the command sets."""
    res = runner.invoke(app, ["run", "--ptcl-grid", "4", "--omega-m", omega_m, "--out", str(tmp_path / "new")])
    assert _one_error_line(res) == (f"error: --omega-m = {float(omega_m):g} is not allowed; it must be in (1e-11, "
                                    f"1.01587) for the flat ΛCDM cosmology of the pm commands: {why}")
    assert not (tmp_path / "new").exists()


def test_run_refuses_a_mesh_without_a_power_spectrum_before_the_run(tmp_path):
    """Before: --ptcl-grid 2 --mesh-factor 1 ran, wrote its snapshot and reported an empty power
    spectrum (k, P = []): a 2³ mesh has no mode below its Nyquist frequency."""
    res = runner.invoke(app, ["run", "--ptcl-grid", "2", "--mesh-factor", "1", "--steps", "1",
                              "--out", str(tmp_path / "new")])
    assert _one_error_line(res) == ("error: --ptcl-grid 2 × --mesh-factor 1 is not allowed: a mesh of 2³ cells has "
                                    "no mode below its Nyquist frequency for the power spectrum; it must have at "
                                    "least 3 cells per side (e.g. --mesh-factor 2)")
    assert not (tmp_path / "new").exists()


def test_reconstruct_refuses_an_omega_m_without_a_growth_table():
    """Before: `pm reconstruct --omega-m 1.5` ran (its cosmology is traced, where the growth table
    is not checked) on a universe that stops expanding at a = 1.46 inside the table; `pm run` refused
    it. Both take their cosmology from cli_cosmology, which now refuses it."""
    from astrograd._errors import InputError
    from astrograd.pm._config import cli_cosmology

    with pytest.raises(InputError, match=r"^--omega-m = 1\.5 is not allowed; it must be in \(1e-11, 1\.01587\)"):
        cli_cosmology(1.5, 0.8)
    assert float(cli_cosmology(1.01, 0.8).omega_m) == pytest.approx(1.01)  # inside the range


def _fit_image_args(out, iterations):
    return ["pm", "fit-image", "--text", "ag", "--iterations", str(iterations), "--out", str(out), "--json"]


@pytest.mark.slow
def test_fit_image_killed_with_sigkill_resumes_to_the_uninterrupted_result(tmp_path):
    """SIGKILL a ``fit-image --checkpoint`` process once a checkpoint exists, rerun it: the loss history
    and the saved initial conditions are bit for bit those of an uninterrupted run (106 s on 2 loaded cores)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    iterations = 12
    cli = [sys.executable, "-c", "from astrograd.cli import main; main()"]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    killed = tmp_path / "killed"
    ckpt = killed / "checkpoint.npz"
    args = _fit_image_args(killed, iterations) + ["--checkpoint", "--checkpoint-every", "2"]
    proc = subprocess.Popen(cli + args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while not ckpt.exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no checkpoint after 300 s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with np.load(ckpt) as c:
        reached = int(c["iteration"])
    assert 0 < reached < iterations and not (killed / "ics.h5").exists()  # killed inside the run
    resumed = subprocess.run(cli + args, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    straight = subprocess.run(cli + _fit_image_args(tmp_path / "straight", iterations), env=env,
                              capture_output=True, text=True, timeout=600)
    assert straight.returncode == 0, straight.stderr
    resumed_losses, straight_losses = (np.loadtxt(d / "losses.txt") for d in (killed, tmp_path / "straight"))
    assert resumed_losses.shape == (iterations + 1,) and resumed_losses[-1] < resumed_losses[0]
    np.testing.assert_array_equal(resumed_losses, straight_losses)
    with h5py.File(killed / "ics.h5") as r, h5py.File(tmp_path / "straight" / "ics.h5") as s:
        names = []
        r.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
        assert "noise" in " ".join(names)
        for name in names:
            np.testing.assert_array_equal(r[name][()], s[name][()], err_msg=name)
    assert json.loads(resumed.stdout.strip().splitlines()[-1])["final_loss"] == \
        json.loads(straight.stdout.strip().splitlines()[-1])["final_loss"]
