"""Every benchmark script answers --help (argparse) without running: before, some ran the
whole benchmark (bench_hydro.py, bench_orbit.py, bench_hydro_weaver.py) and others died in
int("--help")."""

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
# runs under jf1uids' own interpreter; without jf1uids it prints one "skipped" line and exits
PEER_ONLY = {"bench_hydro_peer_jf1uids.py"}

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


def test_too_few_steps_for_a_benchmark_probe_is_a_usage_error(tmp_path):
    """bench_karman_onset.py --steps 10 and bench_flow_strouhal.py with 400 steps or fewer ran
    the whole simulation and then died on an empty probe (max() of nothing)."""
    for script, args in (("bench_karman_onset.py", ["--steps", "10"]), ("bench_flow_strouhal.py", ["48", "48", "10"])):
        proc = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=300, env={"PYTHONPATH": str(BENCHMARKS), "PATH": "",
                                                           "MPLBACKEND": "Agg", "JAX_PLATFORMS": "cpu"})
        assert proc.returncode == 2, (script, proc.stderr[-2000:])
        assert "error:" in proc.stderr and "too few" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
