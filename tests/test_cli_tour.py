"""Root CLI and tour assembly."""

import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import astrograd.tour as tour
from astrograd._errors import InputError, SimulationError
from astrograd._tour import TourSection


def _astrograd(monkeypatch, capsys, *args, columns=200):
    """``astrograd ARGS`` run in this process through the console script's entry point (a fresh
    process took 2-5 s to import): (exit status, stdout, stderr) on a terminal ``columns`` wide."""
    from astrograd import cli

    monkeypatch.setattr(sys, "argv", ["astrograd", *args])
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setenv("MPLBACKEND", os.environ.get("MPLBACKEND", "Agg"))  # main() sets it if unset
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    out = capsys.readouterr()
    return exit_.value.code, out.out, out.err


def _installed_command() -> str:
    """The installed ``astrograd`` console script of this Python."""
    import shutil

    found = shutil.which("astrograd", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    assert found is not None, "the astrograd command is not installed"
    return found


def test_version_and_help(monkeypatch, capsys):
    from importlib.metadata import version

    # the installed command itself, in its own process: its exit status and output
    out = subprocess.run([_installed_command(), "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == version("astrograd")  # the installed package's
    assert out.stderr == "", out.stderr
    # "and help" was never run: `--help`, and no arguments at all, list every area and the tour
    for args in (["--help"], []):
        code, stdout, stderr = _astrograd(monkeypatch, capsys, *args)
        assert code == 0 and stderr == "", (args, stderr)
        listed = {line.strip("│ ").split()[0] for line in stdout.splitlines() if line.startswith("│ ")}
        assert {"tour", "orbit", "hydro", "pm", "flow", "learn"} <= listed, (args, stdout)


@pytest.mark.parametrize("area", ["orbit", "hydro", "pm", "flow", "learn"])
def test_group_help_lists_each_command_summary_on_one_line(monkeypatch, capsys, area):
    """The command listing of `astrograd AREA --help` shows each docstring's first paragraph as
    one line on a wide terminal (typer kept the source's line breaks there)."""
    import importlib
    import inspect

    group = importlib.import_module(f"astrograd.{area}.cli").app
    code, stdout, stderr = _astrograd(monkeypatch, capsys, area, "--help", columns=1000)
    assert code == 0, stderr
    rows = [" ".join(line.strip("│ ").split()) for line in stdout.splitlines()]
    for command in group.registered_commands:
        summary = " ".join(inspect.cleandoc(inspect.getdoc(command.callback)).split("\n\n")[0].split())
        name = command.name or command.callback.__name__.replace("_", "-")
        assert f"{name} {summary}" in rows, (name, summary)


def test_usage_errors_are_one_line_exit_2_and_help_is_unchanged(monkeypatch, capsys):
    """Text where a number is expected, an unknown option, a missing argument or command: one
    `error:` line naming the option, exit 2, like every other refusal (click printed a usage line,
    a hint and a five-line box). A group without a command still prints its help (`--help`:
    test_group_help_lists_each_command_summary_on_one_line)."""
    def cli(*args):
        return _astrograd(monkeypatch, capsys, *args, columns=100)

    for args, needle in ((["hydro", "run", "sod", "--cells", "abc"], "Invalid value for '--cells'"),
                         (["nosuch"], "No such command 'nosuch'")):
        code, stdout, stderr = cli(*args)
        assert code == 2 and stdout == "", (args, stdout, stderr)
        lines = stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {needle}") and "--help')" in lines[0], (args, lines)
    code, stdout, stderr = cli("hydro")
    assert code == 2 and "Usage:" in stdout and "fit-wind" in stdout, (stdout, stderr)


def test_unknown_tour_area_exits_2_with_one_line(monkeypatch, capsys):
    code, _, stderr = _astrograd(monkeypatch, capsys, "tour", "--only", "nosuch")
    assert code == 2
    assert stderr.strip().startswith("error: unknown --only area 'nosuch'")
    assert "Traceback" not in stderr


def test_tour_unknown_area_names_the_option_and_leaves_no_out(tmp_path, monkeypatch):
    """Before: 'unknown tour area', the library's name for a value of --only."""
    from typer.testing import CliRunner

    from astrograd.cli import app

    result = CliRunner().invoke(app, ["tour", "--out", str(tmp_path / "new" / "t"), "--only", "orbit,nosuch"])
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith("error: unknown --only area 'nosuch'; choose one of: "), result.output
    assert not (tmp_path / "new").exists()


def test_tour_only_naming_no_area_is_refused(tmp_path, monkeypatch):
    """`--only ,` (or spaces) named no area and ran every one of them, for minutes."""
    from typer.testing import CliRunner

    from astrograd.cli import app

    monkeypatch.setattr(tour, "run_tour", lambda *a, **k: pytest.fail("the tour ran"))
    result = CliRunner().invoke(app, ["tour", "--out", str(tmp_path / "t"), "--only", " , "])
    assert result.exit_code == 2
    assert "error: --only ' , ' names no area; give comma-separated areas from: " in result.output
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("only", [" ", ""])
def test_tour_only_blank_is_refused(tmp_path, monkeypatch, only):
    """`--only ' '` or `--only ''` (an unset shell variable) named no area and ran every one of
    them, for minutes: only `--only ,` was refused."""
    from typer.testing import CliRunner

    from astrograd.cli import app

    monkeypatch.setattr(tour, "run_tour", lambda *a, **k: pytest.fail("the tour ran"))
    result = CliRunner().invoke(app, ["tour", "--out", str(tmp_path / "t"), "--only", only])
    assert result.exit_code == 2, result.output
    assert result.output.strip().startswith(f"error: --only {only!r} names no area; give comma-separated areas from: ")
    assert not (tmp_path / "t").exists()


def test_tour_without_only_runs_every_available_area(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from astrograd.cli import app

    ran = []
    monkeypatch.setattr(tour, "run_tour", lambda out, areas, quick: ran.append(areas) or Path(out) / "index.html")
    result = CliRunner().invoke(app, ["tour", "--out", str(tmp_path / "t")])
    assert result.exit_code == 0, result.output
    assert ran == [["orbit", "hydro", "pm", "flow", "learn"]]


_FAILING_CHECK = """
import equinox as eqx, jax, jax.numpy as jnp
from astrograd._cli_util import handle_errors, quiet_callback_failures

@handle_errors
def command():
    f = jax.jit(lambda x: eqx.error_if(x, x > 0, "the step cap was reached at t = 0.5"))
    return float(f(jnp.array(1.0)))

{setup}
command()
"""


@pytest.mark.parametrize("quiet", [True, False])
def test_a_check_failing_in_a_compiled_program_is_one_line_exit_2(quiet):
    """A failed equinox.error_if inside a command (a solver's step cap, say) ends the command with
    its one-line message and status 2; with the filter the CLI installs, JAX's logged traceback of
    the failed callback is dropped (without it, it is printed before the message)."""
    script = _FAILING_CHECK.format(setup="quiet_callback_failures()" if quiet else "")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert lines[-1] == "error: the step cap was reached at t = 0.5", out.stderr
    assert (len(lines) == 1) == quiet, out.stderr


def test_ctrl_c_in_a_command_is_one_line_exit_130(capsys):
    from astrograd._cli_util import handle_errors

    @handle_errors
    def command():
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as exit_info:
        command()
    assert exit_info.value.code == 130 and capsys.readouterr().err == "interrupted\n"


@pytest.mark.slow
def test_ctrl_c_during_a_compiled_run_exits_130(tmp_path):
    """SIGINT while `pm run`'s compiled loop calls back into Python for its progress bar: one
    line, exit 130, no snapshot. The interpreter's teardown under the still-running loop crashed
    with SIGSEGV (exit -11: at the first interrupt in each of two runs of this test on the old
    code; one in ten interrupts of a 16³ run); `main` now leaves without that teardown."""
    import signal
    import time

    env = {**os.environ, "PYTHONHASHSEED": "0"}
    for attempt in range(3):
        out = tmp_path / f"run{attempt}"
        proc = subprocess.Popen([sys.executable, "-c", "from astrograd.cli import main; main()", "pm", "run",
                                 "--ptcl-grid", "8", "--steps", "1000000", "--out", str(out)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        time.sleep(8 + attempt)  # start-up and compilation, then the loop is running
        proc.send_signal(signal.SIGINT)
        try:
            stdout, stderr = proc.communicate(timeout=60)
        finally:
            proc.kill()
        assert proc.returncode == 130, (proc.returncode, stderr[-500:])
        assert stderr.rstrip().splitlines()[-1].endswith("interrupted"), stderr[-500:]
        assert not (out / "snapshot_000.h5").exists()


@pytest.mark.parametrize("where", ["numpy", "xla"])
def test_running_out_of_memory_in_a_command_is_one_line_exit_1(capsys, where):
    """An absurd size (a grid of 10⁷ × 10⁷ cells, say) that numpy (MemoryError) or XLA
    (RESOURCE_EXHAUSTED) cannot allocate ends the command with one line naming the allocation,
    exit status 1 (not 2: the input may be valid on a larger machine), not a traceback."""
    import jax.numpy as jnp
    import numpy as np

    from astrograd._cli_util import handle_errors

    @handle_errors
    def command():
        if where == "numpy":
            return np.empty((10**7, 10**7))
        return jnp.zeros((10**7, 10**7), jnp.float32).block_until_ready()

    with pytest.raises(SystemExit) as exit_info:
        command()
    err = capsys.readouterr().err
    assert exit_info.value.code == 1
    assert err.startswith("error: out of memory (") and err.count("\n") == 1, err
    assert ("TiB" in err) if where == "numpy" else ("bytes" in err), err


def test_other_runtime_errors_in_a_command_keep_their_traceback():
    from astrograd._cli_util import handle_errors

    @handle_errors
    def command():
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        command()


def _fake_area(monkeypatch, tmp_path, tour_fn):
    module = types.ModuleType("astrograd.fake.tour")
    module.tour_sections = tour_fn
    monkeypatch.setitem(sys.modules, "astrograd.fake.tour", module)
    monkeypatch.setattr(tour, "available_areas", lambda: ["fake"])


def test_tour_writes_sections_numbers_and_figures(monkeypatch, tmp_path):
    def sections(outdir, quick):
        fig = outdir / "plot.png"
        fig.write_bytes(b"\x89PNG fake")
        return [TourSection("Fake example", "what it shows", [fig], {"loss": 0.125, "steps": 3})]

    _fake_area(monkeypatch, tmp_path, sections)
    index = tour.run_tour(tmp_path / "t", ["fake"])
    page = index.read_text()
    assert "Fake example" in page and "0.125" in page and 'src="fake/plot.png"' in page


def test_an_area_named_twice_runs_once(monkeypatch, tmp_path):
    calls = []

    def sections(outdir, quick):
        calls.append(outdir)
        return [TourSection("Fake example", "what it shows", [], {"steps": 3})]

    _fake_area(monkeypatch, tmp_path, sections)
    page = tour.run_tour(tmp_path / "t", ["fake", "fake"]).read_text()  # as from --only fake,fake
    assert len(calls) == 1 and page.count("Fake example") == 1


def test_tour_reports_a_failing_example(monkeypatch, tmp_path):
    def sections(outdir, quick):
        raise RuntimeError("boom")

    _fake_area(monkeypatch, tmp_path, sections)
    with pytest.raises(SimulationError, match="fake"):
        tour.run_tour(tmp_path / "t", ["fake"])
    assert "boom" in (tmp_path / "t" / "index.html").read_text()


def test_tour_rejects_unknown_area(tmp_path):
    with pytest.raises(InputError, match="unknown tour area"):
        tour.run_tour(tmp_path, ["nosuch"])


@pytest.mark.parametrize("form", ["cwd-relative", "absolute", "outdir-relative"])
def test_tour_links_figures_in_place_whatever_the_path_form(monkeypatch, tmp_path, form):
    monkeypatch.chdir(tmp_path)

    def sections(outdir, quick):
        fig = outdir / "plot.png"
        fig.write_bytes(b"\x89PNG fake")
        path = {"cwd-relative": fig, "absolute": fig.resolve(), "outdir-relative": Path("fake/plot.png")}[form]
        return [TourSection("Fake", "s", [path], {})]

    _fake_area(monkeypatch, tmp_path, sections)
    page = tour.run_tour(Path("out/tour"), ["fake"]).read_text()
    assert 'src="fake/plot.png"' in page


def test_json_output_is_strict_json_with_null_for_non_finite_numbers(capsys):
    import json

    import numpy as np

    from astrograd._cli_util import print_json

    print_json({"r_hat": np.array([np.nan, 1.01]), "ess": float("inf"), "nested": {"x": [1.5, -np.inf]}, "n": 3})
    line = capsys.readouterr().out.strip()
    # was '{"r_hat": [NaN, 1.01], "ess": Infinity, ...}': not JSON (jq and JSON.parse refuse it)
    parsed = json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} in the JSON output"))
    assert parsed == {"r_hat": [None, 1.01], "ess": None, "nested": {"x": [1.5, None]}, "n": 3}


@pytest.mark.parametrize("below", [False, True])
def test_tour_out_that_is_a_file_names_the_option(tmp_path, monkeypatch, below):
    """`tour --out FILE` said "cannot use 'FILE': File exists", without naming --out."""
    from typer.testing import CliRunner

    from astrograd.cli import app

    monkeypatch.setattr(tour, "run_tour", lambda *a, **k: pytest.fail("the tour ran"))
    afile = tmp_path / "file"
    afile.write_text("")
    out = afile / "t" if below else afile
    result = CliRunner().invoke(app, ["tour", "--out", str(out), "--only", "orbit"])
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    where = f"{str(afile)!r} is a file" if below else "it is a file"
    assert lines[0] == f"error: cannot use --out {str(out)!r}: {where}; give a folder for index.html and the figures"
    assert afile.read_text() == ""


def test_check_positive_strict_refuses_text():
    from astrograd._errors import check_positive

    assert check_positive("dt", "0.5") == 0.5  # not strict: numeric text is read as a number
    for value in ("0.5", b"0.5", np.str_("2")):
        with pytest.raises(InputError, match=r"^dt = .* is text; it must be a finite number > 0$"):
            check_positive("dt", value, strict=True)
    with pytest.raises(InputError, match=r"it must be a finite number >= 0$"):
        check_positive("noise", "0", allow_zero=True, strict=True)
    assert check_positive("dt", np.float32(0.5), strict=True) == 0.5
    with pytest.raises(InputError, match="is not allowed"):
        check_positive("dt", True, strict=True)


def test_handle_errors_names_the_option_of_a_library_parameter(capsys):
    from astrograd._cli_util import handle_errors

    options = {"learning_rate": "--lr", "learning": "--wrong", "n": "--res"}

    @handle_errors(options=options)
    def command(message, kind=InputError):
        raise kind(message)

    cases = [
        ("learning_rate = 0 is not allowed; it must be a finite number > 0", InputError,
         "--lr = 0 is not allowed; it must be a finite number > 0"),
        ("n = 1 is not allowed", InputError, "--res = 1 is not allowed"),
        ("number of cells = 3", InputError, "number of cells = 3"),  # a name only at the start, whole
        ("unknown loss 'x'; choose one of: a, b", InputError, "unknown loss 'x'; choose one of: a, b"),
        ("learning_rate went non-finite", SimulationError, "learning_rate went non-finite"),  # input errors only
    ]
    for message, kind, expected in cases:
        with pytest.raises(SystemExit) as exit_info:
            command(message, kind)
        assert exit_info.value.code == 2 and capsys.readouterr().err == f"error: {expected}\n"


def test_an_integer_beyond_float_is_an_input_error():
    """An int too large for a float (10**400, as an int option of the CLI takes it) was an
    OverflowError traceback in check_positive and check_in_range."""
    from astrograd._errors import check_in_range, check_positive, is_real_number

    with pytest.raises(InputError, match=r"^steps = 1\.0+e\+400 is not allowed; it must be a finite number > 0$"):
        check_positive("steps", 10**400)
    with pytest.raises(InputError, match=r"^f = -1\.0+e\+400 is outside the allowed range \[0, 1\]$"):
        check_in_range("f", -(10**400), 0, 1)
    assert is_real_number(10**400)


def test_check_finite_array_of_text_is_an_input_error():
    """Text or None in an array was numpy's "ufunc 'isfinite' not supported" TypeError."""
    from astrograd._errors import check_finite_array

    for values in (["a", "b"], [1.0, None]):
        with pytest.raises(InputError, match=r"^times holds \S+ values; it must be an array of numbers$"):
            check_finite_array("times", values)


def test_a_progress_bar_with_a_total_beyond_float_does_not_crash():
    """`orbit best-angle --steps 10**400` ended in an OverflowError from rich's time-remaining
    column once the bar had been drawn."""
    import time

    from astrograd._cli_util import ProgressBar

    with ProgressBar(10**400, "fit") as bar:
        for _ in range(4):
            bar.advance()
            time.sleep(0.15)


def test_tour_figures_of_the_same_name_stay_apart(monkeypatch, tmp_path):
    """Two figures outside the tour folder with the same file name were both copied to
    figures/NAME: both sections showed the second one."""
    a, b = tmp_path / "a" / "plot.png", tmp_path / "b" / "plot.png"
    for path, data in ((a, b"A"), (b, b"B")):
        path.parent.mkdir()
        path.write_bytes(data)

    def sections(outdir, quick):
        return [TourSection("first", "s", [a], {}), TourSection("second", "s", [b], {})]

    _fake_area(monkeypatch, tmp_path, sections)
    out = tmp_path / "t"
    page = tour.run_tour(out, ["fake"]).read_text()
    import re

    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) == 2 and len(set(sources)) == 2, sources
    assert [(out / s).read_bytes() for s in sources] == [b"A", b"B"]


def test_tour_a_missing_figure_fails_its_area_only(monkeypatch, tmp_path):
    """A figure that did not exist ended the whole tour with FileNotFoundError and no page."""
    def good(outdir, quick):
        return [TourSection("Good example", "s", [], {"x": 1})]

    def bad(outdir, quick):
        return [TourSection("Bad example", "s", [tmp_path / "nowhere" / "missing.png"], {})]

    for name, fn in (("good", good), ("bad", bad)):
        module = types.ModuleType(f"astrograd.{name}.tour")
        module.tour_sections = fn
        monkeypatch.setitem(sys.modules, f"astrograd.{name}.tour", module)
    monkeypatch.setattr(tour, "available_areas", lambda: ["bad", "good"])
    with pytest.raises(SimulationError, match=r"^tour examples failed: bad \(see "):
        tour.run_tour(tmp_path / "t", ["bad", "good"])
    page = (tmp_path / "t" / "index.html").read_text()
    assert "Good example" in page and "missing.png" in page


def test_tour_summary_json_is_strict_json_with_numbers(monkeypatch, tmp_path):
    """summary.json wrote numpy numbers as text ("3") and NaN as NaN, which is not JSON."""
    import json

    def sections(outdir, quick):
        return [TourSection("Fake", "s", [], {"n": np.int64(3), "x": np.float32(0.5), "r_hat": float("nan")})]

    _fake_area(monkeypatch, tmp_path, sections)
    tour.run_tour(tmp_path / "t", ["fake"])
    text = (tmp_path / "t" / "summary.json").read_text()
    summary = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in summary.json"))
    assert summary == {"Fake": {"n": 3, "x": 0.5, "r_hat": None}}


def test_an_output_name_too_long_names_the_option(tmp_path, monkeypatch):
    """A file name longer than the file system allows was an OSError traceback (exit 1) from
    os.stat, in `tour --out` and in every command's --plot / --out."""
    from typer.testing import CliRunner

    from astrograd._cli_util import check_out_folder, check_output
    from astrograd.cli import app

    long = tmp_path / ("a" * 300)
    with pytest.raises(InputError, match=r"^cannot use --plot '.*a{300}\.png': File name too long$"):
        check_output(f"{long}.png", "--plot", ".png", "fig.png")
    with pytest.raises(InputError, match=r"^cannot use --out '.*a{300}/x': File name too long$"):
        check_out_folder(long / "x", "--out")
    monkeypatch.setattr(tour, "run_tour", lambda *a, **k: pytest.fail("the tour ran"))
    result = CliRunner().invoke(app, ["tour", "--out", str(long), "--only", "orbit"])
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith("error: cannot use --out ") and lines[0].endswith(": File name too long")


def test_an_unwritable_output_is_refused_before_the_run(tmp_path, monkeypatch):
    """An --out or --plot in a folder that cannot be written was found only when the first
    file was written, after the run (minutes, for a fit)."""
    import os

    from astrograd._cli_util import check_out_folder, check_output

    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == locked else real_access(p, mode))
    with pytest.raises(InputError, match=r"^cannot use --out '.*locked/run': '.*locked' is not writable$"):
        check_out_folder(locked / "run", "--out")
    with pytest.raises(InputError, match=r"^cannot use --plot '.*locked/f\.png': '.*locked' is not writable$"):
        check_output(locked / "f.png", "--plot", ".png", "fig.png")
    check_out_folder(tmp_path / "free" / "run", "--out")  # writable: nothing said, nothing made
    check_output(tmp_path / "f.png", "--plot", ".png", "fig.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["locked"]


def test_another_os_error_about_a_file_is_one_line_exit_2(capsys):
    """An OSError naming a file other than the four handled before (a name too long, a
    read-only or full file system) was a traceback; one without a file name still is."""
    import errno

    from astrograd._cli_util import handle_errors

    @handle_errors
    def command(err):
        raise err

    for code in (errno.ENAMETOOLONG, errno.EROFS, errno.ENOSPC):
        with pytest.raises(SystemExit) as exit_info:
            command(OSError(code, os.strerror(code), "out/run.h5"))
        assert exit_info.value.code == 2
        assert capsys.readouterr().err == f"error: cannot use 'out/run.h5': {os.strerror(code)}\n"
    with pytest.raises(BrokenPipeError):
        command(BrokenPipeError(errno.EPIPE, "Broken pipe"))


def test_a_file_that_cannot_be_written_is_named_as_given(tmp_path, capsys):
    """An atomic write's temporary (".x.h5.tmp-PID") that could not be created was reported as
    "file not found: [Errno 2] Unable to synchronously create file (... '.x.h5.tmp-123' ...)": a
    file being read, by a name the user never gave. Now: "cannot write", the user's file, for
    h5py and plain OS errors alike; a file that is read and missing is still "file not found"."""
    import h5py

    from astrograd._cli_util import handle_errors

    @handle_errors
    def command(write):
        write()

    missing = tmp_path / "gone"  # no such folder: the OS says "No such file or directory"
    temporary = missing / f".x.h5.tmp-{os.getpid()}"
    for write in (lambda: h5py.File(temporary, "w"), lambda: open(temporary, "wb")):
        with pytest.raises(SystemExit) as exit_info:
            command(write)
        assert exit_info.value.code == 2
        assert capsys.readouterr().err == f"error: cannot write {str(missing / 'x.h5')!r}: No such file or directory\n"
    with pytest.raises(SystemExit):  # h5py creating a file under its own name
        command(lambda: h5py.File(missing / "y.h5", "w"))
    assert capsys.readouterr().err == f"error: cannot write {str(missing / 'y.h5')!r}: No such file or directory\n"
    for read in (lambda: h5py.File(missing / "z.h5", "r"), lambda: open(missing / "z.h5", "rb")):
        with pytest.raises(SystemExit):
            command(read)
        assert capsys.readouterr().err == f"error: file not found: {str(missing / 'z.h5')}\n"


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc (a folder that takes no new files)")
def test_an_out_in_a_folder_that_takes_no_files_says_it_cannot_be_written():
    # `--out /proc/x.h5`: "error: file not found: [Errno 2] Unable to synchronously create file
    # (unable to open file: name = '/proc/.x.h5.tmp-29276', ...)"
    from typer.testing import CliRunner

    from astrograd.flow.cli import app

    r = CliRunner().invoke(app, ["run", "burgers", "--steps", "2", "--out", "/proc/x.h5"])
    if r.exit_code == 2 and "is not writable" in r.stderr:
        pytest.skip("not run as root: the folder is refused before the run as not writable")
    assert r.exit_code == 2 and r.stderr == (
        "error: cannot write '/proc/x.h5': files cannot be created in '/proc' (No such file or directory)\n"), r.output


def test_tour_out_empty_is_refused(tmp_path, monkeypatch):
    """`tour --out ""` (an unset shell variable) was read as "." and wrote index.html, summary.json
    and one folder per area into the current directory."""
    from typer.testing import CliRunner

    from astrograd.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tour, "run_tour", lambda *a, **k: pytest.fail("the tour ran"))
    result = CliRunner().invoke(app, ["tour", "--out", "", "--only", "orbit"])
    assert result.exit_code == 2
    assert result.output.strip() == "error: --out '' is empty; give a folder for index.html and the figures"
    assert list(tmp_path.iterdir()) == []



DETERMINISM_RUNS = [  # (command line, output files it writes below its folder): small, every area
    ("orbit best-angle --drag 0.02 --steps 20 --json --no-progress", []),
    ("hydro run sod --cells 32 --t-end 0.05 --out sod.h5 --json", ["sod.h5"]),
    ("flow run burgers --steps 4 --save-every 2 --out burgers.h5 --json --quiet", ["burgers.h5"]),
    ("flow fit-burgers --iterations 2 --out fit.h5 --json --quiet", ["fit.h5"]),
    ("pm run --ptcl-grid 4 --steps 2 --snapshots 0.5,1 --out pm --json", ["pm/snapshot_000.h5", "pm/snapshot_001.h5"]),
]
TIMING_KEYS = {"seconds", "seconds_per_iteration", "compile_seconds"}
DETERMINISM_DRIVER = r"""
import json, shlex, sys
from typer.testing import CliRunner
from astrograd.cli import _mount_areas, app
_mount_areas()
for line in json.loads(sys.argv[1]):
    result = CliRunner().invoke(app, shlex.split(line))
    assert result.exit_code == 0, (line, result.output[-2000:])
    print(result.output.strip().splitlines()[-1])
"""


@pytest.mark.slow  # 40 s of CPU here: two processes, each running one small command of every area
def test_commands_run_twice_give_identical_outputs(tmp_path):
    """The same command lines in two processes (different hash seeds, so set and dict orders of
    strings differ) print the same JSON, timings aside, and write bit-identical HDF5 data and
    attributes (measured: every command of the README at reduced sizes is deterministic)."""
    import json

    import h5py

    def run_all(folder, hash_seed):
        folder.mkdir()
        env = {**os.environ, "PYTHONHASHSEED": str(hash_seed), "MPLBACKEND": "Agg"}
        lines = json.dumps([line for line, _ in DETERMINISM_RUNS])
        out = subprocess.run([sys.executable, "-c", DETERMINISM_DRIVER, lines], cwd=folder, env=env,
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-3000:]
        printed = [json.loads(row) for row in out.stdout.strip().splitlines()]
        assert len(printed) == len(DETERMINISM_RUNS), out.stdout[-3000:]
        return [{k: v for k, v in summary.items() if k not in TIMING_KEYS} for summary in printed]

    def contents(path):
        found = {}
        with h5py.File(path, "r") as f:
            f.visititems(lambda name, obj: found.update({name: obj[()]}) if isinstance(obj, h5py.Dataset) else None)
            f.visititems(lambda name, obj: found.update({f"{name}@{k}": v for k, v in obj.attrs.items()}))
            found.update({f"@{k}": v for k, v in f.attrs.items()})
        return found

    first, second = run_all(tmp_path / "a", 1), run_all(tmp_path / "b", 2)
    assert first == second
    for _, files in DETERMINISM_RUNS:
        for name in files:
            a, b = contents(tmp_path / "a" / name), contents(tmp_path / "b" / name)
            assert a.keys() == b.keys() and len(a) > 3, (name, sorted(a))
            for key in a:
                assert np.array_equal(np.asarray(a[key]), np.asarray(b[key])), (name, key)
