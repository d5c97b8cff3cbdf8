"""The ``astrograd`` command: one sub-command group per simulator, plus ``tour``."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from pathlib import Path

import typer

from astrograd import __version__
from astrograd._cli_util import check_out_folder, fail, handle_errors, quiet_callback_failures

AREAS = {
    "orbit": "The ballistic throw: fit gravity, best angle, learn a drag force.",
    "hydro": "Radial compressible fluid solver: shock tubes, Sedov, stellar-wind bubbles; wind fits, loss maps and "
             "posteriors.",
    "pm": "Particle-mesh cosmological N-body: runs and snapshots, initial conditions that draw an image, and those "
          "behind an observed density map (reconstruct).",
    "flow": "2D incompressible flow: Kármán street, Taylor–Green, smoke, Burgers; fits through the solver.",
    "learn": "Networks trained with the solver in the loop.",
}

app = typer.Typer(
    name="astrograd",
    help="Differentiable simulators for astrophysics on JAX. Run `astrograd tour` for every worked example.",
    invoke_without_command=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _mount_areas() -> None:
    mounted = {group.name for group in app.registered_groups}  # once, however often main() runs in a process
    for area, help_text in AREAS.items():
        if area in mounted:
            continue
        module = f"astrograd.{area}.cli"
        if importlib.util.find_spec(f"astrograd.{area}") is None or importlib.util.find_spec(module) is None:
            continue
        sub = importlib.import_module(module).app
        _one_line_summaries(sub)
        app.add_typer(sub, name=area, help=help_text)


def _one_line_summaries(group: typer.Typer) -> None:
    """Give each command of ``group`` its docstring's first paragraph as one line of short help.

    Typer's group listing otherwise keeps the docstring's own line breaks, so a summary wrapped
    in the source appeared as broken lines in ``astrograd AREA --help``."""
    for command in group.registered_commands:
        if command.short_help is None:
            doc = inspect.cleandoc(command.help or inspect.getdoc(command.callback) or "")
            command.short_help = " ".join(doc.split("\n\n")[0].split())


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit()


@app.command()
@handle_errors(options={"unknown tour area": "unknown --only area"})  # run_tour's check, as typed
def tour(
    # text, not a Path: typer read `--out ""` (an unset shell variable, say) as ".", and the tour
    # wrote index.html and its folders into the current directory
    out: str = typer.Option("outputs/tour", "--out", metavar="<path>", help="Directory for index.html and figures."),
    only: str | None = typer.Option(None, "--only", help="Comma-separated areas to run (default: all available)."),
    full: bool = typer.Option(False, "--full", help="Larger, slower versions of the examples."),
) -> None:
    """Run every worked example at laptop size and write OUT/index.html with figures and numbers."""
    from astrograd._errors import InputError
    from astrograd.tour import available_areas, run_tour

    areas = [a.strip() for a in (only or "").split(",") if a.strip()]
    # "--only ," ran every area, for minutes, and so did "--only ' '" or "--only ''" (an unset
    # shell variable): given at all, --only must name an area
    if only is not None and not areas:
        raise InputError(f"--only {only!r} names no area; give comma-separated areas from: "
                         f"{', '.join(available_areas())}")
    areas = areas if only is not None else available_areas()
    if not out:
        raise InputError(f"--out {out!r} is empty; give a folder for index.html and the figures")
    out = Path(out)
    # an --out that is a file was refused by mkdir as "cannot use 'FILE': File exists", without the option
    check_out_folder(out, "--out", "index.html and the figures")
    index = run_tour(out, areas, quick=not full)
    typer.echo(f"tour written to {index}")


def _click_exceptions():
    """click's exception classes: typer >= 0.20 ships its own copy of click, older ones use click."""
    try:
        from typer._click import exceptions
    except ImportError:  # pragma: no cover - older typer
        from click import exceptions
    return exceptions


# what a value of each type must be, by the validator's error type (typer 0.29 checks values with pydantic)
_MUST_BE = {"int_parsing": "an integer", "int_from_float": "an integer", "int_type": "an integer",
            "float_parsing": "a number", "float_type": "a number", "bool_parsing": "true or false"}
#: how close (difflib's ratio of the names without dashes) an option must be to an unknown one to be
#: suggested: click compared the names with their dashes, so "--" alone made "--out" a match for "--bogus"
SUGGESTION_CUTOFF = 0.7


def _usage_message(err, errors) -> str:
    """click's message for a usage error, with the value as typed and what it must be for a value
    that is not of its option's type (pydantic's "Input should be a valid integer, unable to parse
    string as an integer" named neither), and only close matches suggested for an unknown option."""
    if isinstance(err, errors.NoSuchOption):
        return _no_such_option(err)
    cause = err.__cause__
    if not isinstance(err, errors.BadParameter) or not callable(getattr(cause, "errors", None)):
        return err.format_message()  # older typer: click's "'abc' is not a valid integer." names both
    found = cause.errors()
    if not found or "input" not in found[0]:
        return err.format_message()
    kind, value, said = found[0]["type"], found[0]["input"], str(found[0].get("msg", ""))
    must_be = _MUST_BE.get(kind) or (said[len("Input should be "):] if said.startswith("Input should be ") else said)
    message = err.format_message()
    prefix = message[: -len(err.message)] if err.message and message.endswith(err.message) else "Invalid value: "
    return f"{prefix}{value!r} is not allowed; it must be {must_be}"


def _no_such_option(err) -> str:
    """"No such option: --bogus", with the command's options that are close to it, if any."""
    import difflib

    names = set()
    if err.ctx is not None:
        for param in err.ctx.command.get_params(err.ctx):
            names.update(o for o in (*param.opts, *param.secondary_opts) if o.startswith("--"))
    typed = err.option_name.split("=", 1)[0]
    close = sorted(n for n in names if difflib.SequenceMatcher(None, typed.lstrip("-"), n.lstrip("-")).ratio()
                   >= SUGGESTION_CUTOFF)
    return err.message + (f"; did you mean {' or '.join(close)}?" if close else "")


def _command_path(args: list[str], errors) -> str | None:
    """The command path (``astrograd hydro run``) that ``args`` name, as click writes it, or None
    if they name no command. For a usage error click raises without its context: an option given
    last without its value (`hydro run sod --cells`) was reported with no pointer to the help."""
    from importlib import import_module

    utils = import_module(errors.__name__.rsplit(".", 1)[0] + ".utils")  # click's, or typer's copy of it
    command = typer.main.get_command(app)
    path = [utils._detect_program_name()]
    for arg in args:
        commands = getattr(command, "commands", None)
        if commands is None:  # a command, not a group: its options and arguments follow
            break
        if arg.startswith("-"):  # a group's own option (`--version`): none of them takes a value
            continue
        if arg not in commands:
            return None
        command = commands[arg]
        path.append(arg)
    return " ".join(path)


def main() -> None:
    try:
        _main()
    except SystemExit as exc:
        if exc.code == 130:
            # Ctrl-C: leave without the interpreter's teardown. A compiled loop may still be
            # running and calling back into Python (a progress bar); finalising under it crashed
            # with SIGSEGV (exit -11) instead of exiting 130. Every
            # file was closed as the interrupt unwound; only the standard streams need flushing.
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):  # a closed or broken pipe: nothing more to say there
                    pass
            os._exit(130)
        raise


def _main() -> None:
    os.environ.setdefault("MPLBACKEND", "Agg")
    quiet_callback_failures()
    _mount_areas()
    errors = _click_exceptions()
    try:
        code = app(standalone_mode=False)
    except errors.UsageError as err:
        if type(err).__name__ == "NoArgsIsHelpError":  # a group without a command: its help (printed), as before
            raise SystemExit(err.exit_code) from None
        # one line like every other refusal (`--cells abc`, an unknown option, a missing argument):
        # click's own report was a usage line, a hint and a five-line box
        path = err.ctx.command_path if err.ctx is not None else _command_path(sys.argv[1:], errors)
        where = f" (see '{path} --help')" if path is not None else ""
        fail(_usage_message(err, errors) + where, err.exit_code)
    except errors.ClickException as err:  # e.g. a file option that cannot be opened
        fail(err.format_message(), err.exit_code)
    except typer.Abort:
        fail("interrupted", 130)
    raise SystemExit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
