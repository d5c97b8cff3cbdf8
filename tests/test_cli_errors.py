"""The root CLI: the one-line usage errors of its shared handler (astrograd.cli._main), a value that
is not of its option's type or an unknown option, run in-process through ``main`` as the console
script; and what `--help` says of each option's default."""

import re
import sys
from fractions import Fraction

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from astrograd import cli


def _error(monkeypatch, capsys, *args):
    """The error line of `astrograd ARGS` without its pointer to the help, which must be the command's
    (the program's name, before it, is pytest's here), after checking the exit status 2, that stdout
    is empty and that the error is one line."""
    monkeypatch.setattr(sys, "argv", ["astrograd", *args])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    captured = capsys.readouterr()
    assert (exit_.value.code, captured.out) == (2, ""), captured
    message, see = captured.err.rsplit(" (see '", 1)
    assert see.endswith(f" {args[0]} {args[1]} --help')\n") and "\n" not in message, captured.err
    return message


@pytest.mark.parametrize(("args", "option", "value", "must_be"), [
    (["hydro", "run", "sod", "--cells", "abc"], "--cells", "abc", "an integer"),
    (["pm", "run", "--ptcl-grid", "1.5"], "--ptcl-grid", "1.5", "an integer"),
    (["orbit", "best-angle", "--drag", "x"], "--drag", "x", "a number"),
    (["flow", "run", "karman", "--steps=2e3"], "--steps", "2e3", "an integer"),
    (["learn", "sol-train", "--lr", "fast"], "--lr", "fast", "a number"),
])
def test_a_value_of_the_wrong_type_is_named_with_what_it_must_be(monkeypatch, capsys, args, option, value, must_be):
    """Before: "Invalid value for '--ptcl-grid': Input should be a valid integer, unable to parse
    string as an integer", neither the value typed nor, plainly, the type allowed."""
    assert _error(monkeypatch, capsys, *args) == (
        f"error: Invalid value for {option!r}: {value!r} is not allowed; it must be {must_be}")


def test_an_unknown_option_is_named_and_only_a_close_match_suggested(monkeypatch, capsys):
    """Before: `--bogus` got "(Possible options: --out)": click's fuzzy matcher compared the names
    with their dashes, and "--" alone made a match."""
    assert _error(monkeypatch, capsys, "hydro", "run", "sod", "--bogus") == "error: No such option: --bogus"
    assert _error(monkeypatch, capsys, "hydro", "run", "sod", "--cell", "8") == (
        "error: No such option: --cell; did you mean --cells?")
    assert _error(monkeypatch, capsys, "pm", "run", "--ptcl-grd=8") == (
        "error: No such option: --ptcl-grd; did you mean --ptcl-grid?")


def _help(app, *args) -> tuple[str, dict[str, str]]:
    """The description and the options of `--help` of ``app ARGS`` (a wide terminal): {option: its
    metavar and help text, its wrapped lines joined}."""
    output = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "400"}).output
    lines = output.splitlines()
    description = lines[lines.index(next(ln for ln in lines if ln.strip().startswith("Usage:"))) + 2].strip()
    options, last = {}, None
    for line in lines:
        row = re.match(r"^│ (--[\w-]+)(?:\s+--[\w-]+)?\s+(<\w+>.*?)\s*│$", line)
        more = re.match(r"^│\s{20,}(\S.*?)\s*│$", line)
        if row:
            last = row[1]
            options[last] = row[2]
        elif more and last is not None:
            options[last] += " " + more[1]
        else:
            last = None
    return description, options


def _commands(area: str):
    import importlib

    group = importlib.import_module(f"astrograd.{area}.cli").app
    return group, [c.name or c.callback.__name__.replace("_", "-") for c in group.registered_commands]


@pytest.mark.parametrize("area", ["hydro", "pm", "flow", "orbit", "learn"])
def test_every_option_that_takes_a_value_states_its_default(area):
    """Before: `hydro run --help` gave --geometry, --gamma, --integrator, --left-boundary and
    --right-boundary no default, `loss-map --fit` and `pm fit-image --image` none either; `flow run`
    none of --steps, --save-every, --out, --gif, --advection, --viscosity-scheme (and "Defaults:"
    for --res), flow's fits none of --out, --plot, --checkpoint, orbit none of --plot and
    --checkpoint, `learn sol-train` none of --checkpoint and --init, control-train none of
    --checkpoint."""
    group, commands = _commands(area)
    unstated = []
    for command in commands:
        _, options = _help(group, command)
        assert options and "--help" in options, (command, options)
        unstated += [(command, option, text) for option, text in options.items()
                     if (not text.startswith("<bool>") and "default" not in text)  # a flag: off unless given
                     or "[default: no-" in text]  # typer's repeat of a flag's "off" in the help
    assert unstated == []


def _as_in_help(number: float) -> str:
    """An adiabatic index as the help writes it: 1.4, 5/3."""
    fraction = Fraction(number).limit_denominator(10)
    return f"{float(fraction):g}" if 10 % fraction.denominator == 0 else f"{fraction.numerator}/{fraction.denominator}"


def test_run_help_states_each_problems_defaults(tmp_path):
    """`hydro run --help` names each problem's default of the options whose default depends on the
    problem, as the problems are built (custom: from an --init file without attributes), and that
    the --init file's attributes come first for those that `run` reads from it."""
    from astrograd.hydro._examples import build_problem
    from astrograd.hydro._problems import WindSetup
    from astrograd.hydro._snapshot import NUMERICS
    from astrograd.hydro.cli import app

    init = tmp_path / "init.h5"
    with h5py.File(init, "w") as f:
        f["rho"], f["u"], f["p"] = np.ones(8), np.zeros(8), np.ones(8)
    problems = {name: build_problem(name, None, None, init if name == "custom" else None)
                for name in ("sod", "sedov", "wind", "custom")}
    description, options = _help(app, "run")
    for name, problem in problems.items():
        config = problem.config
        assert f"{name} {config.geometry}" in options["--geometry"], name
        assert f"{name} {_as_in_help(float(problem.params.gamma))}" in options["--gamma"], name
        assert f"{name} {config.limiter}" in options["--limiter"], name
        assert f"{name} {config.right_boundary}" in options["--right-boundary"], name
        if name != "custom":
            assert f"{name} {problem.t_end:.3g}" in options["--t-end"], name
            assert f"{name} {config.num_cells}" in options["--cells"], name
    assert f"wind {problems['wind'].t_end:.3g} ({WindSetup().t_end_yr:g} yr)" in options["--t-end"]
    assert f"custom {problems['custom'].t_end:g} or the --init file's attribute 't_end'" in options["--t-end"]
    spherical_sod = build_problem("sod", None, "spherical").config.left_boundary
    assert (f"sod {problems['sod'].config.left_boundary} (cylindrical, spherical: {spherical_sod}), sedov "
            f"{problems['sedov'].config.left_boundary}, wind {problems['wind'].config.left_boundary}, custom as sod"
            ) in options["--left-boundary"]
    assert problems["custom"].config.left_boundary == problems["sod"].config.left_boundary
    for key, option in (("riemann", "--riemann"), ("integrator", "--integrator"), ("cfl_width", "--cfl-width")):
        values = {getattr(p.config, key) for p in problems.values()}
        assert len(values) == 1 and f"(default: {values.pop()};" in options[option], option
    assert all(float(p.params.cfl) == pytest.approx(0.8) for p in problems.values())
    assert "(default: 0.8;" in options["--cfl"]
    for key in (*NUMERICS, "geometry", "gamma", "cfl"):
        assert f"the --init file's attribute {key!r} if it has one" in options["--" + key.replace("_", "-")], key
    # custom has no reference to compare with: the summary said "compare with its exact reference"
    assert description.startswith("Run PROBLEM to --t-end and compare with its reference") and (
        "custom: none" in description), description


def test_pm_group_help_describes_every_command():
    """`astrograd pm --help` (and the area's line in `astrograd --help`) described runs and image
    fits only, not `reconstruct`."""
    cli._mount_areas()
    description, _ = _help(cli.app, "pm")
    _, commands = _commands("pm")
    assert set(commands) == {"run", "fit-image", "reconstruct"}
    for command, said in (("run", "runs and snapshots"), ("fit-image", "draw an image"),
                          ("reconstruct", "behind an observed density map (reconstruct)")):
        assert said in description, (command, description)
    assert cli.AREAS["pm"] == description  # the area's line in `astrograd --help`


def test_a_missing_option_value_points_to_the_commands_help(monkeypatch, capsys):
    """An option given last without its value: "Option '--cells' requires an argument." with no
    pointer to the help, which every other usage error has (click raises it without a context)."""
    assert _error(monkeypatch, capsys, "hydro", "run", "sod", "--cells") == (
        "error: Option '--cells' requires an argument.")
    assert _error(monkeypatch, capsys, "orbit", "best-angle", "--drag") == (
        "error: Option '--drag' requires an argument.")
    assert _error(monkeypatch, capsys, "learn", "sol-train", "--mode", "loop", "--lr") == (
        "error: Option '--lr' requires an argument.")
    assert cli._command_path(["flow", "run", "--steps"], cli._click_exceptions()).endswith(" flow run")
    assert cli._command_path(["nosuch", "--out"], cli._click_exceptions()) is None


class _Stop(Exception):
    """Raised by a stub once a command has built what the test looks at."""


def _defaults_by_scene(text: str) -> dict[str, str]:
    """{scene: value} of "default by scene: karman 32x64, taylor-green 32x32, ..." in a help text."""
    listed = re.search(r"default by scene: ([^)]*)", text)[1]
    return dict(item.split(" ", 1) for item in listed.split(", "))


def test_flow_run_help_states_each_scenes_defaults(monkeypatch):
    """`flow run --help` gave --steps (200, 50, 100 or 32 by scene), --advection and
    --viscosity-scheme (by scene) no default. Checked against what `flow run SCENE` builds."""
    import astrograd.flow
    import astrograd.flow._burgers
    from astrograd.flow import cli as flow_cli

    built = {}

    class Bar:  # the progress bar of a run: its total is the number of steps
        def __init__(self, total, *args, **kwargs):
            built["steps"] = total

        def __enter__(self):
            if built.get("burgers"):  # burgers runs its steps in chunks under the bar: stop before them
                raise _Stop
            return self

        def __exit__(self, *exc):
            return False

    def simulate_2d(state, params, config, steps):
        built.update(config=config, params=params)
        raise _Stop

    def check_burgers(u0, viscosity, config):
        built.update(config=config, burgers=True)

    monkeypatch.setattr(flow_cli, "ProgressBar", Bar)
    monkeypatch.setattr(astrograd.flow, "simulate", simulate_2d)
    monkeypatch.setattr(astrograd.flow._burgers, "check_burgers", check_burgers)
    _, options = _help(flow_cli.app, "run")
    stated = {option: _defaults_by_scene(options[option]) for option in ("--res", "--steps", "--advection")}
    schemes = _defaults_by_scene(options["--viscosity-scheme"])
    assert "default 100" in options["--re"]
    for scene in flow_cli.SCENES:
        built.clear()
        result = CliRunner().invoke(flow_cli.app, ["run", scene])
        assert isinstance(result.exception, _Stop), result.output
        config = built["config"]
        res = str(config.n) if scene == "burgers" else f"{config.grid.nx}x{config.grid.ny}"
        assert (stated["--res"][scene], stated["--steps"][scene]) == (res, str(built["steps"])), scene
        assert stated["--advection"][scene] == config.advection, scene
        if scene == "burgers":
            assert scene not in schemes and config.dt == pytest.approx(1 / 32)
            assert "burgers 1/32" in options["--dt"]
        else:
            assert schemes[scene] == config.viscosity_scheme, scene
        if scene in ("karman", "smoke"):
            assert f"{scene} {config.dt:g}" in options["--dt"], scene
        if scene == "taylor-green":  # --re 100 is its viscosity 1/100
            assert float(built["params"].viscosity) == pytest.approx(1 / 100)
    assert set(stated["--res"]) == set(stated["--steps"]) == set(stated["--advection"]) == set(flow_cli.SCENES)


@pytest.mark.parametrize("command", ["run", "fit-burgers", "fit-marker"])
def test_flow_progress_options_and_the_hidden_quiet(monkeypatch, command):
    """flow used --quiet where every other area has --progress/--no-progress; both now, --quiet
    kept (hidden from --help) for scripts that use it."""
    import astrograd.flow._fit
    from astrograd.flow import cli as flow_cli

    shown = []

    def bar(total, description, enabled=True):
        shown.append(enabled)
        raise _Stop

    def fit_marker(*args, progress=True, **kwargs):
        shown.append(progress)
        raise _Stop

    monkeypatch.setattr(flow_cli, "ProgressBar", bar)
    monkeypatch.setattr(astrograd.flow._fit, "fit_marker", fit_marker)
    args = ["run", "taylor-green", "--res", "8"] if command == "run" else [command]
    for flags, progress in (([], True), (["--progress"], True), (["--no-progress"], False), (["--quiet"], False),
                            (["--quiet", "--progress"], False), (["--progress", "--quiet"], False)):
        shown.clear()
        result = CliRunner().invoke(flow_cli.app, [*args, *flags])
        assert isinstance(result.exception, _Stop) and shown == [progress], (flags, result.output)
    _, options = _help(flow_cli.app, command)
    assert "--progress" in options and "[default: progress]" in options["--progress"]
    assert "--quiet" not in CliRunner().invoke(flow_cli.app, [command, "--help"]).output


def test_sol_train_help_states_the_defaults_it_trains_with(monkeypatch):
    """The defaults `learn sol-train --help` states are those the command trains with (supervised
    and loop; --unroll loop only), and --mode none passes none of them."""
    import astrograd.learn._sol
    from astrograd.learn import cli as learn_cli

    given = {}

    def train_sol(data, out, **kwargs):
        given.update(kwargs)
        raise _Stop

    monkeypatch.setattr(astrograd.learn._sol, "train_sol", train_sol)
    monkeypatch.setattr(learn_cli, "_refuse_sol_train_beyond_memory", lambda *args: None)
    _, options = _help(learn_cli.app, "sol-train")
    keys = {"--steps": "steps", "--batch": "batch", "--lr": "learning_rate", "--blocks": "blocks",
            "--channels": "channels", "--kernel": "kernel", "--seed": "seed", "--checkpoint-every": "checkpoint_every"}
    library = {name: default for name, default, _ in astrograd.learn._sol.TRAIN_SOL_DEFAULTS}
    for mode in ("supervised", "loop", "none"):
        given.clear()
        result = CliRunner().invoke(learn_cli.app, ["sol-train", "--mode", mode, "--data", "none.h5"])
        assert isinstance(result.exception, _Stop), result.output
        for option, key in keys.items():
            stated = re.search(r"\bdefault (\d[^;)]*)", options[option])[1]
            assert given[key] == (None if mode == "none" else float(stated)), (mode, option)
        assert given["unroll"] is None and given["checkpoint"] is None and given["init"] is None
    assert re.search(r"--mode loop only; default (\d+)\)", options["--unroll"])[1] == str(library["unroll"])


def test_a_progress_bar_on_a_stderr_that_is_not_a_terminal_writes_nothing(capfd):
    """rich draws no bar on a log file or pipe, but wrote a blank line when the bar stopped: a
    command's error in `2> log` (or under a test runner) read "\\nerror: ..."."""
    from astrograd._cli_util import ProgressBar

    with ProgressBar(3, "steps") as bar:
        bar.advance()
        bar.reach(3)
    assert capfd.readouterr().err == ""
