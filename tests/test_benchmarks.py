"""Every benchmark script answers --help (argparse) without running: before, some ran the
whole benchmark (bench_hydro.py, bench_orbit.py, bench_hydro_weaver.py) and others died in
int("--help").

The smoke tests run the benchmarks themselves at their smallest sizes (``SMOKE``): a change to a
private function they call (``from astrograd.x._y import ...``) broke bench_hydro.py's wind case
once without any test noticing, and the script still exited 0."""

import ast
import inspect
import json
import math
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
# runs under jf1uids' own interpreter; without jf1uids it prints one "skipped" line and exits
PEER_ONLY = {"bench_hydro_peer_jf1uids.py"}
# scripts that need a peer's interpreter for their cases (their --help runs anywhere)
NOT_SMOKED = PEER_ONLY | {"bench_pm_jaxpm.py"}
ENV = {"PYTHONPATH": str(BENCHMARKS), "PATH": "", "MPLBACKEND": "Agg", "JAX_PLATFORMS": "cpu"}

DRIVER = r"""
import contextlib, io, json, runpy, sys
out = {}
for path in sys.argv[1:]:
    sys.argv = [path, "--help"]
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            runpy.run_path(path, run_name="__main__")
        code = "returned"  # it ran instead of printing its help
    except SystemExit as stop:
        code = stop.code
    out[path] = [code, buf.getvalue()]
print(json.dumps(out))
"""


def test_every_benchmark_answers_help_without_running(tmp_path):
    scripts = sorted(str(p) for p in BENCHMARKS.glob("bench_*.py") if p.name not in PEER_ONLY)
    assert len(scripts) >= 15
    proc = subprocess.run([sys.executable, "-c", DRIVER, *scripts], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600, env={"PYTHONPATH": str(BENCHMARKS), "PATH": "", "MPLBACKEND": "Agg",
                                            "JAX_PLATFORMS": "cpu"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.splitlines()[-1])
    for path, (code, text) in results.items():
        assert code in (0, None) and text.startswith("usage: "), (Path(path).name, code, text[:200])
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("name", sorted(PEER_ONLY))
def test_a_peer_only_benchmark_answers_help_and_bad_arguments_without_the_peer(name, tmp_path):
    """Without jf1uids, bench_hydro_peer_jf1uids.py printed its "skipped" line and exited 0 for
    --help and for a bad argument alike (it parsed its command line after importing the peer)."""
    def run(*args):
        return subprocess.run([sys.executable, str(BENCHMARKS / name), *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=60, env=ENV)

    helped, bad = run("--help"), run("--no-such-option")
    assert helped.returncode == 0 and helped.stdout.startswith(f"usage: {name} "), helped
    assert bad.returncode == 2 and bad.stdout == "", bad
    assert bad.stderr.strip().splitlines()[-1] == f"{name}: error: unrecognized arguments: --no-such-option", bad
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(("script", "args", "words"), [
    ("bench_diff.py", ["--cells", "0"], "argument --cells: '0' is not an integer >= 1"),  # ZeroDivisionError
    ("bench_diff.py", ["--repeat", "0"], "argument --repeat: '0' is not an integer >= 1"),  # ran; Infinity
    ("bench_hydro_step.py", ["--steps", "0"], "argument --steps: '0' is not an integer >= 1"),  # ZeroDivisionError
    # ran every case, then exit 1: "2 case(s) failed"
    ("bench_pm_nbody.py", ["--repeats", "0", "--ptcl", "4", "--steps", "2"],
     "argument --repeats: '0' is not an integer >= 1"),
    ("bench_flow_phiflow.py", ["--sizes", "abc", "--no-phiflow"],  # a ValueError traceback
     "argument --sizes: 'abc' is not a comma-separated list of integers >= 1"),
    ("bench_hydro_loss_map.py", ["--modes", "bogus", "--cells", "16", "--grid", "1"],  # exit 1, "1 mode(s) failed"
     "argument --modes: unknown mode 'bogus'; use one, vmapK, devicesN or devicesN_vmapK"),
])
def test_a_bad_benchmark_argument_is_a_usage_error_before_running(script, args, words, tmp_path):
    try:
        proc = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=60, env=ENV)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{script} {' '.join(args)}: still running after 60 s instead of refusing its argument")
    assert proc.returncode == 2 and proc.stdout == "", (script, proc.returncode, proc.stderr[-2000:])
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith(f"usage: {script} ") and lines[-1].startswith(f"{script}: error: {words}"), \
        (script, proc.stderr)
    assert "Traceback" not in proc.stderr and not list(tmp_path.iterdir())


def test_too_few_steps_for_a_benchmark_probe_is_a_usage_error(tmp_path):
    """bench_karman_onset.py --steps 10 and bench_flow_strouhal.py with 400 steps or fewer ran
    the whole simulation and then died on an empty probe (max() of nothing)."""
    for script, args in (("bench_karman_onset.py", ["--steps", "10"]), ("bench_flow_strouhal.py", ["48", "48", "10"])):
        proc = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=300, env={"PYTHONPATH": str(BENCHMARKS), "PATH": "",
                                                           "MPLBACKEND": "Agg", "JAX_PLATFORMS": "cpu"})
        assert proc.returncode == 2, (script, proc.stderr[-2000:])
        assert "error:" in proc.stderr and "too few" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


# The smallest invocation of each benchmark that still runs all its code paths, and what it
# prints: label -> (script, arguments, keys of each JSON line in order, in `make test`?).
# Benchmarks that import private astrograd names (``from astrograd.x._y import ...``) break
# unnoticed when such a function changes. `make test` runs the entries marked True, in one Python
# process (under a minute on 2 cores); the other scripts with private imports cost 0.5 to 3 min
# each even at these sizes (compilation), so there every direct call of a private name is checked
# against its signature instead (test_benchmark_calls_of_private_names_fit_their_signatures). The
# `slow` test runs every entry.
_SOD = ("case", "cells", "limiter", "riemann", "steps", "l1_cell_average", "l1_centres", "run_s", "compile_s")
_WIND = ("case", "cells", "compile_s", "forward_s", "shock_radius_pc", "weaver_radius_pc", "relative_to_weaver",
         "steps", "peak_rss_mb")
_WIND_GRAD = _WIND + ("grad_compile_s", "value_and_grad_s", "grad_over_forward", "forward_mode_grad_s",
                      "dloss_dv_ad", "dloss_dv_fd_h1e-06")
_LOSS_MAP = ("case", "mode", "vmap", "devices", "cells", "grid", "runs", "wall_s", "seconds_per_run",
             "argmin_v_km_s", "argmin_mass_msun", "min_loss", "devices_seen")
_WEAVER = ("cells", "ambient_p_k", "steps", "bubble_p_median_ratio", "bubble_u_max_rel", "shell_rho_max_rel",
           "contact_rel")
_STEP = ("case", "limiter", "cells", "steps", "forward_flops", "vjp_flops", "forward_us", "jvp_us",
         "value_and_grad_remat_us", "value_and_grad_no_remat_us")
_BATCHING = ("case", "cells", "fit_value_and_grad_3_starts_vmap_s", "fit_value_and_grad_3_starts_lax_map_s",
             "loss_map_40_vmap_s", "loss_map_40_lax_map_s")
_CONTROL = ("case", "form", "n", "num_steps", "channels", "batch", "first_call_s", "seconds_per_gradient")
_PARTS = ("case", "ptcl", "mesh", "scatter_ms", "three_adjoint_scatters_ms", "rfftn_ms", "irfftn_ms", "gather_ms",
          "poisson_ms", "poisson_in_loop_ms", "force_in_scan_ms", "force_and_vjp_in_scan_ms",
          "gradient_over_forward_estimate")
_PARTS_ROUNDED = {k for k in _PARTS if k.endswith("_ms")}  # rounded to 0.01 ms by the script
_FIELD_RUN = ("wall_s", "map_steps", "gradient_evaluations", "seconds_per_gradient", "ess_median",
              "posterior_std_mean", "posterior_std_linear", "coverage_1sigma", "r_wiener", "r_map", "r_mean")
_NBODY = ("code", "case", "ptcl", "mesh", "steps", "devices", "compile_s", "run_s", "peak_rss_mb", "xla_temp_mb")
SMOKE = {
    # wind case in-process (the hidden --case of the subprocess): _wind.wind_model,
    # outer_shock_radius and _solve._simulate_jit (the call that broke)
    "hydro_wind": ("bench_hydro.py", ["--case", "wind", "16", "fwd"], [_WIND], True),
    # one Sod case in-process: _examples.sod_l1_error
    "hydro_sod": ("bench_hydro.py", ["--case", "sod", "16", "mc"], [_SOD], True),
    # the whole script: every case in its subprocess (both limiters, spherical Sod, wind with its
    # gradient, a forward-only wind), no peer
    "hydro_all": ("bench_hydro.py", ["--sod-cells", "16", "--wind-cells", "16", "16", "--peer", "/nonexistent"],
                  [("machine", "jax"), _SOD, _SOD, ("case", "cells", "steps", "wall_s", "finite"), _WIND_GRAD,
                   _WIND, ("peer", "skipped")], False),
    # one mode in-process: _wind.wind_loss_map (devicesN needs a fresh JAX: subprocess below)
    "hydro_loss_map_one": ("bench_hydro_loss_map.py", ["--case", "one", "--cells", "16", "--grid", "1"],
                           [_LOSS_MAP], True),
    # every kind of mode, each in its subprocess
    "hydro_loss_map_all": ("bench_hydro_loss_map.py", ["--cells", "16", "--grid", "2", "--modes",
                                                       "one,vmap2,devices2,devices2_vmap2"], [_LOSS_MAP] * 4, False),
    # no options: 401 and 201 cells, two ambient pressures; _examples.run_problem
    "hydro_weaver": ("bench_hydro_weaver.py", [], [_WEAVER] * 3, True),
    # one step of the scan per limiter: _step.step, cfl_time_step; batching (64 cells, fixed):
    # _wind.wind_loss, wind_model, theta_from_physical
    "hydro_step": ("bench_hydro_step.py", ["--steps", "1"], [_STEP] * 3 + [_BATCHING], False),
    # one Reynolds number, one probe (>= 100 steps): learn._karman.fine_scene
    "karman_onset": ("bench_karman_onset.py", ["--re", "73.2", "--steps", "100"],
                     [("reynolds", "every", "cross_stream_velocity", "max_abs_last_1000")], False),
    # N STEPS CHANNELS BATCH: the smallest U-Nets; the scan form uses learn._control's
    # _network_control and _apply_control
    "learn_control": ("bench_learn_control.py", ["8", "1", "1", "1"], [_CONTROL] * 2, False),
    # 4³ particles, one KDK step, one box: pm._nbody.nbody, kdk_factors
    "pm_box_precision": ("bench_pm_box_precision.py", ["--ptcl", "4", "--steps", "1", "--boxes", "1000"],
                         [("box_mpc_h", "ptcl", "steps", "rms_displacement_mpc_h", "relative_difference_float32")],
                         False),
    # 4³ particles, one repeat, one loop step: pm._gravity's private pieces
    "pm_parts": ("bench_pm_parts.py", ["--ptcl", "4", "--repeats", "1", "--loop-steps", "1"], [_PARTS], True),
    # 4³ particles, a few NUTS draws of one chain: pm._config.cli_config, cli_cosmology,
    # pm._field.mock_data, log_posterior, reconstruct_to_dir
    "pm_field": ("bench_pm_field.py", ["--ptcl-grid", "4", "--warmup", "5", "--samples", "5", "--chains", "1"],
                 [("machine", "ptcl_grid", "nonlinear", "linear")], False),
    # 16 cells, a few NUTS draws of one chain: hydro._posterior.wind_posterior, _programs,
    # _model_args, _laplace_cov
    "wind_posterior": ("bench_wind_posterior.py", ["--cells", "16", "--warmup", "5", "--samples", "5",
                                                   "--chains", "1"],
                       [("case", "cells", "wall_s", "gradient_evaluations", "wall_ms_per_gradient", "ess", "r_hat",
                         "cov_samples", "cov_laplace", "cov_grid", "laplace_sd_ln_v_at_offsets")], False),
    # public API only from here on
    # 8 cells, one repeat (the end times and step counts are fixed)
    "diff": ("bench_diff.py", ["--cells", "8", "--repeat", "1"],
             [("bench", "t_end", "steps", "forward_s", "grad_checkpointed_s", "grad_direct_s",
               "grad_checkpointed_temp_MB")] * 3 + [("bench", "num_steps", "grad_none_s", "grad_nested_s")] * 2,
             False),
    # the gradient runs only at n = 128
    "flow_phiflow": ("bench_flow_phiflow.py", ["--sizes", "128", "--grad-steps", "1", "--no-phiflow"],
                     [("code", "n", "step_s", "compile_s", "max_div", "status"),
                      ("code", "n", "case", "forward_s", "grad_s", "grad_over_forward", "status")], False),
    # one rollout length, both checkpoint modes (compiled, not run)
    "flow_rollout_memory": ("bench_flow_rollout_memory.py", ["1"], [("bench", "checkpoint", "steps", "temp_MB")] * 2,
                            False),
    # the coarsest grid with a cell centre inside the cylinder; > 400 steps (no full period by
    # then: the Strouhal number is NaN, the code path is the same)
    "flow_strouhal": ("bench_flow_strouhal.py", ["40", "28", "401"],
                      [("case", "nx", "ny", "steps", "strouhal", "periods", "seconds")], False),
    # NX NY: the coarsest Kármán grid with a cell centre inside the cylinder (8 16 has none)
    "learn_sol": ("bench_learn_sol.py", ["12", "24"],
                  [("case", "grid", "unroll", "seconds_per_update", "first_call_seconds")] * 3
                  + [("case", "grid", "steps", "seconds_per_step")] * 2, False),
    # no options: three integrators, two step counts
    "orbit": ("bench_orbit.py", [], [("case", "forward_s", "value_and_grad_s", "grad_over_forward")] * 6, False),
    # forward and gradient, each in its subprocess; then split over 2 host devices
    "pm_nbody": ("bench_pm_nbody.py", ["--ptcl", "4", "--steps", "1", "--repeats", "1"], [_NBODY] * 2, False),
    "pm_nbody_devices": ("bench_pm_nbody.py", ["--ptcl", "4", "--steps", "1", "--repeats", "1", "--devices", "2"],
                         [_NBODY] * 2, False),
    # one dimension, a few NUTS draws and random-walk steps
    "sample_gaussian": ("bench_sample_gaussian.py", ["--dims", "2", "--nuts-draws", "10", "--rwm-steps", "10"],
                        [("case", "dim", "nuts_gradient_evaluations", "nuts_min_ess", "rwm_min_ess")], False),
}
# timings the scripts round (to 0.01 ms, 1 ms, 0.1 s): at these sizes they may print 0
ROUNDED = {"pm_parts": _PARTS_ROUNDED, "learn_control": {"seconds_per_gradient"},
           "pm_nbody": {"compile_s", "run_s"}, "pm_nbody_devices": {"compile_s", "run_s"},
           "wind_posterior": {"wall_ms_per_gradient"}, "hydro_loss_map_one": {"seconds_per_run"},
           "hydro_loss_map_all": {"seconds_per_run"}}

# Runs each [script, arguments] as `python SCRIPT ARGS` would, one after the other in this one
# process (JAX starts once; each script compiles its own functions anyway), with float64 off
# before each (some scripts switch it on), and prints one JSON line per run: exit status, stdout,
# the uncaught exception or SystemExit message, wall seconds.
SMOKE_DRIVER = r"""
import contextlib, io, json, runpy, sys, time, traceback
import jax
for script, args in json.loads(sys.argv[1]):
    jax.config.update("jax_enable_x64", False)
    sys.argv = [script, *args]
    buf, message, t0 = io.StringIO(), None, time.perf_counter()
    try:
        with contextlib.redirect_stdout(buf):
            runpy.run_path(script, run_name="__main__")
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) or stop.code is None else 1
        message = None if code in (0, None) else str(stop.code)
    except BaseException:
        code, message = 1, traceback.format_exc()
    print(json.dumps({"script": script, "args": args, "code": code or 0, "stdout": buf.getvalue(),
                      "message": message, "seconds": round(time.perf_counter() - t0, 1)}), flush=True)
"""


def run_benchmarks(runs, cwd, timeout=3600, prelude=""):
    """Run ``[(script name, arguments)]`` through SMOKE_DRIVER (after ``prelude``); one result
    dict per run."""
    spec = json.dumps([[str(BENCHMARKS / script), args] for script, args in runs])
    proc = subprocess.run([sys.executable, "-c", prelude + SMOKE_DRIVER, spec], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(results) == len(runs), proc.stderr[-3000:]
    return results


def _is_timing(key: str) -> bool:
    parts = key.split("_")
    return bool({"s", "ms", "us", "seconds"} & set(parts))


def _check_timings(record, rounded, where):
    for key, value in record.items():
        if isinstance(value, dict):
            _check_timings(value, rounded, where)
        elif _is_timing(key) and isinstance(value, int | float) and not isinstance(value, bool):
            assert math.isfinite(value) and (value > 0 or (value == 0 and key in rounded)), (where, key, value)


def _not_json(constant):
    """json.loads' hook for NaN and Infinity, which strict JSON has no words for (a script should
    print null): bench_flow_strouhal.py printed a bare NaN when it measured no period, and the
    NUTS benchmarks an r_hat of one chain."""
    raise AssertionError(f"a benchmark printed {constant}, which is not JSON; print null")


def check_run(label, result):
    """Exit status 0, one JSON object per line with the keys SMOKE lists for it, no "error", and
    finite positive timings."""
    _, args, expected, _ = SMOKE[label]
    where = f"{label}: {result['script']} {' '.join(args)}"
    assert result["code"] == 0, (where, result["message"], result["stdout"][-2000:])
    lines = [ln for ln in result["stdout"].splitlines() if ln.strip()]
    try:
        records = [json.loads(ln, parse_constant=_not_json) for ln in lines]  # strict JSON: no bare NaN
    except AssertionError as err:
        raise AssertionError(f"{where}: {err}") from None
    assert len(records) == len(expected), (where, lines)
    for record, keys in zip(records, expected, strict=True):
        assert isinstance(record, dict) and "error" not in record, (where, record)
        assert set(keys) <= set(record), (where, sorted(set(keys) - set(record)))
        _check_timings(record, ROUNDED.get(label, set()), where)


def _smoke(labels, tmp_path):
    results = run_benchmarks([SMOKE[label][:2] for label in labels], tmp_path)
    for label, result in zip(labels, results, strict=True):
        check_run(label, result)


def test_smoke_entries_cover_every_benchmark():
    """Every benchmark script has a smoke entry (peer-only scripts excepted); `make test`'s
    entries are scripts with private imports."""
    scripts = {p.name for p in BENCHMARKS.glob("bench_*.py")}
    assert {script for script, *_ in SMOKE.values()} == scripts - NOT_SMOKED
    assert set(ROUNDED) <= set(SMOKE)
    fast = {script for script, _, _, in_make_test in SMOKE.values() if in_make_test}
    assert fast and all(_private_imports(BENCHMARKS / script) for script in fast)


def test_benchmarks_that_use_private_astrograd_names_run(tmp_path):
    """The `make test` entries of SMOKE in one process (see SMOKE for what each exercises).
    bench_hydro.py's wind case called ``_solve._simulate_jit`` without an argument it had gained,
    printed a TypeError line and exited 0, and no test noticed."""
    _smoke([label for label, entry in SMOKE.items() if entry[3]], tmp_path)


@pytest.mark.slow
def test_every_benchmark_runs_at_its_smallest_size(tmp_path):
    _smoke(list(SMOKE), tmp_path)


def _private_imports(path):
    """``(module, name)`` of each ``from astrograd.x._y import name`` in a script."""
    tree = ast.parse(path.read_text())
    return [(node.module, alias.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
            and (node.module or "").startswith("astrograd.")
            and any(part.startswith("_") for part in node.module.split(".")) for alias in node.names]


def test_benchmark_calls_of_private_names_fit_their_signatures():
    """Every private name a benchmark imports exists, and each call of it in the script (direct,
    or through ``jax.jit(name, ...)(...)``) binds to its current signature (arguments counted,
    keywords by name): a check, in seconds, of the call sites that `make test` does not run and of
    those reached only with a peer (bench_hydro.py's ``_exact_riemann``)."""
    checked = 0
    for path in sorted(BENCHMARKS.glob("bench_*.py")):
        private = {name: getattr(import_module(module), name) for module, name in _private_imports(path)}
        check_calls = checked
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Call) and isinstance(func.func, ast.Attribute) and func.func.attr == "jit" \
                    and func.args:
                func = func.args[0]  # jax.jit(name, ...)(arguments)
            if not (isinstance(func, ast.Name) and func.id in private):
                continue
            signature = inspect.signature(private[func.id])
            # with *args or **kwargs in the call, the arguments written out must still fit
            unpacked = any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords)
            try:
                (signature.bind_partial if unpacked else signature.bind)(
                    *[a for a in node.args if not isinstance(a, ast.Starred)],
                    **{k.arg: k for k in node.keywords if k.arg is not None})
            except TypeError as err:
                pytest.fail(f"{path.name}:{node.lineno}: {func.id}(...) does not fit its signature: {err}")
            checked += 1
        assert checked > check_calls or not private, (path.name, "no call of its private names found")
    assert checked >= 20


def test_a_failed_case_makes_the_benchmark_exit_non_zero(tmp_path):
    """A case run in a subprocess that fails prints its "error" line, and the script now exits
    with status 1 (it exited 0, so a broken case went unnoticed). Every subprocess fails here."""
    prelude = ("import subprocess\n"
               "subprocess.run = lambda cmd, *a, **k: subprocess.CompletedProcess(cmd, 1, '',\n"
               "                                                                   'Boom: a failed case\\n')\n")
    runs = [("bench_hydro.py", ["--sod-cells", "16", "--wind-cells", "16", "--peer", "/bin/sh"]),
            ("bench_hydro_loss_map.py", ["--cells", "16", "--grid", "1", "--modes", "one,devices2"]),
            ("bench_pm_nbody.py", ["--ptcl", "4", "--steps", "1"]),
            ("bench_pm_jaxpm.py", ["--ptcl", "4", "--steps", "1"]),
            # our own 8 x 8 case runs; the PhiFlow run is the one that fails
            ("bench_flow_phiflow.py", ["--sizes", "8", "--phiflow-python", "/bin/sh"])]
    for (script, _), result in zip(runs, run_benchmarks(runs, tmp_path, prelude=prelude), strict=True):
        assert result["code"] == 1, (script, result)
        assert "failed" in result["message"] and "Traceback" not in result["message"], (script, result["message"])
        records = [json.loads(line) for line in result["stdout"].splitlines()]
        errors = [r for r in records if "error" in r]
        assert errors and all("Boom: a failed case" in str(r["error"]) for r in errors), (script, records)


def test_a_size_too_small_for_the_scene_is_a_usage_error(tmp_path):
    """bench_learn_sol.py 8 16 and bench_flow_strouhal.py 4 4 401 ended in an astrograd
    InputError traceback (the scene checks its sizes before anything is compiled); now one line
    ``error: ...`` on stderr and exit status 2, as argparse reports a bad option."""
    for script, args, words in (("bench_learn_sol.py", ["8", "16"], "thinner than one cell"),
                                ("bench_flow_strouhal.py", ["4", "4", "401"], "covers no cell centre")):
        proc = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=300, env=ENV)
        assert proc.returncode == 2, (script, proc.stderr[-2000:])
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], (script, proc.stderr)
        assert proc.stdout == ""


def test_every_benchmark_reports_input_errors_as_usage_errors():
    """Every benchmark that calls astrograd runs its ``__main__`` code inside
    ``_timing.input_errors_as_usage_errors`` (the peer-only scripts call no astrograd)."""
    for path in sorted(BENCHMARKS.glob("bench_*.py")):
        if path.name in NOT_SMOKED:
            continue
        main = ast.parse(path.read_text()).body[-1]
        assert isinstance(main, ast.If) and "__main__" in ast.unparse(main.test), path.name
        assert len(main.body) == 1 and isinstance(main.body[0], ast.With), path.name
        assert ast.unparse(main.body[0].items[0].context_expr) == "input_errors_as_usage_errors()", path.name


def test_a_case_subprocess_with_a_usage_error_stops_the_benchmark_with_it(tmp_path):
    """bench_hydro_loss_map.py runs each mode in a subprocess: a size the wind problem refuses
    made every mode print an error line and the script exit 1; now the first mode's one-line
    usage error and exit status 2."""
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "bench_hydro_loss_map.py"), "--cells", "2", "--grid", "1",
                           "--modes", "one,vmap2"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=ENV)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: number of cells = 2"), proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("script, expected", [("exit 3", "exited with status 3"), ("kill -9 $$", "signal 9")])
def test_a_phiflow_run_that_fails_silently_is_reported_with_its_status(tmp_path, monkeypatch, script, expected):
    """A PhiFlow run that failed without a word on stderr (killed for memory, say) made
    bench_flow_phiflow.phiflow raise IndexError (the last line of an empty stderr)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    bench = import_module("bench_flow_phiflow")
    python = tmp_path / "python"
    python.write_text(f"#!/bin/sh\n{script}\n")
    python.chmod(0o755)
    rows = bench.phiflow(8, 0, str(python))
    assert len(rows) == 1 and rows[0]["code"] == "phiflow" and expected in rows[0]["error"], rows
