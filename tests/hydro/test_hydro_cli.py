"""CLI: `astrograd hydro run|fit-wind|loss-map` outputs, snapshot layout, and one-line errors."""

import json

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from astrograd.hydro import exact_riemann
from astrograd.hydro.cli import app

runner = CliRunner()


def _invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result


def test_run_sod_writes_snapshot_plot_and_json(tmp_path):
    out, png = tmp_path / "sod.h5", tmp_path / "sod.png"
    res = _invoke("run", "sod", "--cells", 64, "--out", out, "--plot", png, "--json")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    with h5py.File(out) as f:
        x, rho = f["x"][:], f["rho"][:]
        assert {"x", "rho", "u", "p"} <= set(f)
        assert f.attrs["geometry"] == "cartesian" and f.attrs["time"] == pytest.approx(0.2)
        assert f.attrs["gamma"] == pytest.approx(1.4)
    # the reported error is the snapshot's error against the exact solution at the centres
    exact = exact_riemann((1, 0, 1), (0.125, 0, 0.1), 1.4, x, 0.2)[0]
    assert summary["l1_density_error_centres"] == pytest.approx(np.mean(np.abs(rho - exact)), rel=1e-9)
    assert png.stat().st_size > 1000


def test_run_custom_round_trips_a_snapshot(tmp_path):
    init = tmp_path / "init.h5"
    n = 32
    with h5py.File(init, "w") as f:
        f["rho"] = np.full(n, 2.0)
        f["u"] = np.zeros(n)
        f["p"] = np.full(n, 3.0)
        f.attrs["gamma"] = 1.4
    out = tmp_path / "out.h5"
    res = _invoke("run", "custom", "--init", init, "--cells", n, "--t-end", 0.1, "--geometry", "spherical",
                  "--left-boundary", "reflective", "--out", out)
    assert res.exit_code == 0, res.output
    with h5py.File(out) as f:  # uniform gas at rest stays at rest in spherical geometry
        assert np.max(np.abs(f["u"][:])) < 1e-13
        np.testing.assert_allclose(f["rho"][:], 2.0, rtol=1e-13)
        assert f["x"].shape == (n,)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "foo"], "unknown problem"),
        (["run", "sod", "--cells", "3"], "--cells = 3"),
        (["run", "sod", "--cfl", "1.5"], "CFL number = 1.5"),
        (["run", "sod", "--t-end", "-1"], "t_end = -1"),
        (["run", "sod", "--riemann", "roe"], "unknown Riemann solver"),
        (["run", "sod", "--left-boundary", "sticky"], "unknown left boundary"),
        (["run", "custom"], "needs --init"),
        (["fit-wind", "--loss", "chi2"], "unknown loss"),
        (["fit-wind", "--learning-rate", "0"], "learning_rate = 0 "),
        (["loss-map", "--grid", "1"], "--grid = 1"),
        (["loss-map", "--vmap", "0"], "--vmap = 0"),
        (["loss-map", "--devices", "0"], "devices = 0"),
    ],
)
def test_bad_options_exit_2_with_one_line(args, message):
    res = _invoke(*args)
    assert res.exit_code == 2
    lines = [ln for ln in res.output.strip().splitlines() if ln]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]


def test_bad_init_files(tmp_path):
    missing = tmp_path / "missing.h5"
    with h5py.File(missing, "w") as f:
        f["rho"] = np.ones(8)
        f["u"] = np.zeros(8)
    short = tmp_path / "short.h5"
    with h5py.File(short, "w") as f:
        f["rho"] = np.ones(8)
        f["u"] = np.zeros(7)
        f["p"] = np.ones(8)
    negative = tmp_path / "negative.h5"
    with h5py.File(negative, "w") as f:
        f["rho"] = np.ones(8)
        f["u"] = np.zeros(8)
        f["p"] = np.array([1, 1, 1, -1, 1, 1, 1, 1.0])
    for path, message in ((missing, "lacks dataset(s) p"), (short, "'u'"), (negative, "cell 3")):
        res = _invoke("run", "custom", "--init", path)
        assert res.exit_code == 2 and message in res.output, res.output
