"""Every script in examples/ runs end to end (at small sizes) and writes the files it announces.

Each runs in a fresh Python process in a temporary directory (they write to ``outputs/...``
under the working directory). The quickest are in ``make test``; the others are ``slow``.
Every script also has an argparse command line that answers ``--help`` before importing JAX,
without running or writing anything, and turns a bad value into a usage error (exit status 2).
"""

import ast
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
# (examples/_args.py holds their shared argparse types)
# retrains the networks shipped in src/astrograd/learn/weights (minutes); its pieces are tested
# in tests/learn
NOT_RUN = {"learn_tour_weights.py"}


def test_every_example_is_covered():
    assert {p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")} == set(CASES) | NOT_RUN


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=() if fast else pytest.mark.slow) for n, (_, _, fast) in CASES.items()]
)
def test_example_runs_and_writes_its_files(name, tmp_path, check_output_file):
    args, files, _ = CASES[name]
    env = {**os.environ, "MPLBACKEND": "Agg", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and proc.stdout.strip()
    for f in files:
        check_output_file(tmp_path / f)  # a picture with something drawn, HDF5 with finite numbers


# runs the script named after -c like `python SCRIPT ARGS...` (exit status and output unchanged),
# then says on stderr whether JAX got imported: --help and bad values must answer before that
_DRIVER = (
    "import atexit, runpy, sys\n"
    "atexit.register(lambda: print('jax imported:', 'jax' in sys.modules, file=sys.stderr))\n"
    "sys.argv = sys.argv[1:]\n"
    "sys.path.insert(0, __import__('os').path.dirname(sys.argv[0]))  # as python SCRIPT does\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


def _run_command_line(name, args, cwd):
    """``python examples/NAME ARGS`` in ``cwd`` through the driver; a failure (not a hang) if it
    is still running after 30 s (an example that ignores its arguments and starts working)."""
    env = {**os.environ, "MPLBACKEND": "Agg", "JAX_PLATFORMS": "cpu"}
    try:
        return subprocess.run([sys.executable, "-c", _DRIVER, str(EXAMPLES / name), *args], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name} {' '.join(args)}: still running after 30 s, so it does not parse its command line")


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")))
def test_example_help_is_quick_and_writes_nothing(name, tmp_path):
    proc = _run_command_line(name, ["--help"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.stdout.startswith(f"usage: {name} "), proc.stdout[:500]
    assert proc.stderr.splitlines()[-1:] == ["jax imported: False"], proc.stderr[-3000:]
    # the description is the first paragraph of the module docstring
    first_paragraph = ast.get_docstring(ast.parse((EXAMPLES / name).read_text())).split("\n\n")[0]
    assert " ".join(first_paragraph.split()) in " ".join(proc.stdout.split())
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("name", "args"), [
    ("hydro_wind.py", ["abc"]),  # a cell count that is not an integer
    ("hydro_wind.py", ["401", "8"]),  # wind_problem needs 16 cells (the injection region 1/8 at most)
    ("hydro_posterior.py", ["8"]),
    ("flow_karman.py", ["16", "32", "100", "20", "extra"]),
    ("flow_karman.py", ["1"]),  # one cell across: the library's InputError traceback after importing JAX
    ("pm_reconstruct.py", ["8", "30", "1"]),  # NUTS needs two draws per chain
    ("learn_tour_weights.py", ["work", "bogus"]),  # neither sol nor control
])
def test_example_bad_value_is_a_usage_error(name, args, tmp_path):
    proc = _run_command_line(name, args, tmp_path)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = proc.stderr.splitlines()
    assert lines[0].startswith(f"usage: {name} ") and lines[-1] == "jax imported: False", proc.stderr
    assert [line for line in lines if "error:" in line] == [lines[-2]], proc.stderr
    assert lines[-2].startswith(f"{name}: error: "), proc.stderr
    assert proc.stdout == "" and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("name", "option"), [("hydro_sod.py", []), ("pm_fit_image.py", ["--out"])])
@pytest.mark.parametrize("below", [False, True])
def test_example_output_folder_that_is_a_file_is_a_usage_error(name, option, below, tmp_path):
    """An output folder that is a file (or lies below one) was found when the first figure was
    written, after the whole run, as a NotADirectoryError/FileExistsError traceback (exit 1)."""
    afile = tmp_path / "afile"
    afile.write_text("keep")
    out = afile / "figs" if below else afile
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    proc = _run_command_line(name, [*option, str(out)], cwd)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = proc.stderr.splitlines()
    where = f"{str(afile)!r} is a file" if below else "it is a file"
    assert lines[-2].startswith(f"{name}: error: argument "), proc.stderr
    assert lines[-2].endswith(f"{str(out)!r}: {where}; give a folder"), proc.stderr
    assert lines[-1] == "jax imported: False", proc.stderr
    assert afile.read_text() == "keep" and list(cwd.iterdir()) == []


def test_check_output_file_refuses_a_blank_figure_and_a_still_gif(tmp_path, check_output_file):
    """The check that replaced `st_size > 0`: a blank figure or a GIF of one repeated frame fails it."""
    from PIL import Image

    from astrograd._plotting import pyplot, save_figure

    plt = pyplot()
    drawn, blank = plt.figure(figsize=(3, 2)), plt.figure(figsize=(3, 2))
    drawn.add_subplot().plot([0, 1], [1, 0])
    check_output_file(save_figure(drawn, tmp_path / "drawn.png"))
    with pytest.raises(AssertionError, match="blank"):
        check_output_file(save_figure(blank, tmp_path / "blank.png"))
    frame = Image.open(tmp_path / "drawn.png").convert("P")
    frame.save(tmp_path / "still.gif", save_all=True, append_images=[frame.copy()], duration=100)
    with pytest.raises(AssertionError):
        check_output_file(tmp_path / "still.gif")
