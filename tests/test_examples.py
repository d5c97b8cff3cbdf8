"""Every script in examples/ runs end to end (at small sizes) and writes the files it announces.

Each runs in a fresh Python process in a temporary directory (they write to ``outputs/...``
under the working directory). The quickest are in ``make test``; the others are ``slow``.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

# script: (arguments, files it must write, fast?)
CASES = {
    "orbit_fit_gravity.py": ([], ["outputs/orbit/fit_gravity.png"], True),
    "orbit_best_angle.py": ([], ["outputs/orbit/best_angle.png"], False),
    "orbit_learn_drag.py": ([], ["outputs/orbit/learn_drag.png"], False),
    "hydro_sod.py": (["sod"], ["sod/sod_cartesian.png", "sod/sod_spherical.png"], True),
    "hydro_wind.py": (["101", "32", "20"], ["outputs/hydro/examples/wind.png"], False),
    "hydro_posterior.py": (["16", "30", "40", "2"], ["outputs/hydro/examples/hydro_posterior.png"], False),
    "pm_linear_growth.py": (["--ptcl", "16", "--steps", "5"], [], False),
    "pm_fit_image.py": (["--iterations", "5"], ["outputs/pm_fit_image/final.png", "outputs/pm_fit_image/fit.gif",
                                                 "outputs/pm_fit_image/ics.h5"], False),
    "pm_reconstruct.py": (["8", "30", "40", "2"], [], False),
    "flow_karman.py": (["16", "32", "100", "20"], ["outputs/flow/karman.gif", "outputs/flow/karman.h5"], True),
    "flow_burgers_fit.py": ([], ["outputs/flow/burgers_fit.png"], True),
    "flow_marker_fit.py": ([], ["outputs/flow/marker_fit.png"], False),
}
# retrains the networks shipped in src/astrograd/learn/weights (minutes); its pieces are tested
# in tests/learn
NOT_RUN = {"learn_tour_weights.py"}


def test_every_example_is_covered():
    assert {p.name for p in EXAMPLES.glob("*.py")} == set(CASES) | NOT_RUN


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=() if fast else pytest.mark.slow) for n, (_, _, fast) in CASES.items()]
)
def test_example_runs_and_writes_its_files(name, tmp_path):
    args, files, _ = CASES[name]
    env = {**os.environ, "MPLBACKEND": "Agg", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and proc.stdout.strip()
    for f in files:
        assert (tmp_path / f).stat().st_size > 0, f
