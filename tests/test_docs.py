"""The Python examples in README.md and docs/*.md run as written; the CLI options, defaults,
input files and signature sketches they show are the real ones.

A ```python block whose first line is an import is a program: it runs here in a fresh Python
process and must exit cleanly (and, where it prints a number it states, print that number).
Other blocks are signature sketches (``f(x, *, option=default)``) and are not run.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SLOW = {  # (file, a word in the block): the longer programs (20-30 s each here)
    ("docs/pm.md", "white_noise"),
    ("docs/orbit.md", "learn_drag"),
    ("docs/flow.md", "corrected_rollout"),
}
PRINTS = {  # (file, a word in the block): a regex its output must match
    ("README.md", "height_after_1s"): r"^-0\.50[45]\d*\s*$",  # the comment says -0.505
    ("docs/cosmo.md", "sigma_r"): r"^0\.8\d* 0\.48\d*\s*$",  # sigma8 and 0.8 D1(0.5), D1(0.5) = 0.61
}


def _programs():
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text()
        for m in re.finditer(r"```python\n(.*?)```", text, re.S):
            code = m.group(1)
            if not re.match(r"(import|from) ", code.lstrip()):
                continue
            name = str(path.relative_to(ROOT))
            line = text[: m.start()].count("\n") + 2
            slow = any(f == name and word in code for f, word in SLOW)
            expect = next((rx for (f, word), rx in PRINTS.items() if f == name and word in code), None)
            marks = [pytest.mark.slow] if slow else []
            found.append(pytest.param(code, expect, id=f"{name}:{line}", marks=marks))
    return found


PROGRAMS = _programs()


def test_the_docs_hold_the_programs_this_file_knows():
    """Guards against a pattern that silently finds nothing (the markers name real blocks)."""
    assert len(PROGRAMS) >= 10
    for f, word in [*SLOW, *PRINTS]:
        text = (ROOT / f).read_text()
        assert word in text, (f, word)


@pytest.mark.parametrize(("code", "expect"), PROGRAMS)
def test_doc_program_runs(code, expect, tmp_path):
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    if expect is not None:
        assert re.match(expect, run.stdout), run.stdout


def test_every_documented_cli_option_exists():
    """Each ``astrograd AREA COMMAND --option`` written in README.md or docs/ names a real command
    and real options of it (checked against the CLI's own definition, without running it)."""
    import typer

    from astrograd.cli import _mount_areas, app

    _mount_areas()
    root = typer.main.get_command(app)
    checked, wrong = 0, []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text().replace("\\\n", " ")  # shell line continuations
        for m in re.finditer(r"astrograd ([a-z]+) ([a-z][a-z-]*)([^`\n]*)", text):
            area, name, rest = m.groups()
            if area not in root.commands:
                continue  # prose such as "astrograd import flow"
            command = root.commands[area].commands.get(name)
            if command is None:
                wrong.append(f"{path.name}: no command 'astrograd {area} {name}'")
                continue
            options = {o for p in command.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}
            rest = rest.split("#")[0].split(" | ")[0]  # up to a comment or the next alternative
            for flag in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", rest):
                checked += 1
                if flag not in options:
                    wrong.append(f"{path.name}: 'astrograd {area} {name}' has no option {flag}")
    assert not wrong, wrong
    assert checked > 100, checked  # the pattern still finds the documented commands


def test_readme_hydro_runs_from_a_file_are_accepted(tmp_path, monkeypatch):
    """The README's `astrograd hydro run ... --init FILE` lines run as written (on small inputs
    made here: a 64-cell Sod state and a 16-cell `run wind --out snap.h5`). Before: the README
    continued a wind snapshot with `--t-end 0.2`, which the command refuses (the Weaver shock
    would lie at r = 4.7, outside the domain r <= 1)."""
    import shlex

    import h5py
    import numpy as np
    from typer.testing import CliRunner

    from astrograd.hydro.cli import app

    monkeypatch.chdir(tmp_path)
    x = (np.arange(64) + 0.5) / 64
    with h5py.File("my_state.h5", "w") as f:
        f["rho"], f["u"], f["p"] = np.where(x < 0.5, 1.0, 0.125), np.zeros(64), np.where(x < 0.5, 1.0, 0.1)
    runner = CliRunner()
    made = runner.invoke(app, ["run", "wind", "--cells", "16", "--out", "snap.h5"])
    assert made.exit_code == 0, made.output
    lines = re.findall(r"^astrograd hydro (run [^#\n]*--init [^#\n]*)", (ROOT / "README.md").read_text(), re.M)
    assert len(lines) == 2, lines
    for line in lines:
        result = runner.invoke(app, shlex.split(line))
        assert result.exit_code == 0, (line, result.output)


def _cli_blocks(text):
    """The text of each fenced block that is not Python (shell and CLI listings), line
    continuations joined."""
    blocks = re.finditer(r"```(\w*)\n(.*?)```", text, re.S)
    return [m.group(2).replace("\\\n", " ") for m in blocks if m.group(1) != "python"]


def _cli_commands():
    import typer

    from astrograd.cli import _mount_areas, app

    _mount_areas()
    root = typer.main.get_command(app)
    return {
        (area, name): command
        for area, group in root.commands.items()
        for name, command in getattr(group, "commands", {}).items()
    }


USER_FILES = {"my_state.h5"}  # the README's files that the reader brings (an initial state of their own)


def _inputs_made_before(text, commands):
    """Files that a command listed in ``text`` reads (``--data``, ``--init``, ``--fit``, and
    the ``--checkpoint`` of an ``*-eval`` command) and that no line before it writes."""
    missing = []
    for block in _cli_blocks(text):
        for m in re.finditer(r"^astrograd ([a-z]+) ([a-z][a-z-]*)([^\n]*)", block, re.M):
            area, name, rest = m.groups()
            command = commands.get((area, name))
            if command is None:
                continue
            before = block[: m.end()]  # earlier lines, and this line's comment ("continue a `run --out F`")
            made_dirs = [
                str(p.default)
                for (a, n), c in commands.items()
                if re.search(rf"^astrograd {a} {n}\b", block[: m.start()], re.M)
                for p in c.params
                if "--out" in p.opts and p.default
            ]
            inputs = {"--data", "--init", "--fit"} | ({"--checkpoint"} if name.endswith("-eval") else set())
            for flag, path in re.findall(r"(--[a-z-]+)[ =]([\w./-]+\.(?:h5|npz))", rest.split("#")[0]):
                written = re.search(rf"--out[ =]{re.escape(path)}(?![\w.])", before)
                made = written or any(path.startswith(d + "/") for d in made_dirs)
                if flag in inputs and not made and path not in USER_FILES:
                    missing.append(f"astrograd {area} {name} {flag} {path}")
    return missing


def test_readme_commands_read_only_files_an_earlier_line_writes():
    """A reader who runs the README's command lines in order has every file a command reads.
    Before: `learn sol-eval --checkpoint sup.npz` read a supervised network that no line made."""
    text = (ROOT / "README.md").read_text()
    commands = _cli_commands()
    missing = _inputs_made_before(text, commands)
    assert not missing, missing
    assert _inputs_made_before(text.replace("--out k.h5", "--out data.h5"), commands)  # the check can fail


DEFAULT_BLOCKS = {  # (file, the start of a CLI block whose numbers are the defaults, as its text says)
    ("docs/pm.md", "astrograd pm run --ptcl-grid 64"),
    ("docs/orbit.md", "astrograd orbit fit-gravity [--g-true"),
}


def _wrong_defaults(block, commands):
    """``--option VALUE`` pairs of ``block`` whose VALUE is neither the parser's default nor the
    default its help text names ("default 0.1")."""
    wrong = []
    # a command's options run on to its continuation lines, up to the next `astrograd` line
    for m in re.finditer(r"astrograd ([a-z]+) ([a-z][a-z-]*)((?:[^\n]|\n(?!astrograd ))*)", block):
        area, name, rest = m.groups()
        params = {o: p for p in commands[(area, name)].params for o in p.opts}
        for flag, value in re.findall(r"(--[a-z][a-z0-9-]*)[ =]([0-9][0-9.e+-]*|[a-z][a-z0-9_]*)(?=[\s\]|]|$)", rest):
            p = params.get(flag)
            if p is None or p.is_flag or re.search(rf"default:? '?{re.escape(value)}\b", p.help or ""):
                continue
            try:
                same = float(value) == float(p.default)
            except (TypeError, ValueError):
                same = str(p.default) == value
            if not same:
                wrong.append(f"astrograd {area} {name} {flag} {value}: the default is {p.default!r}")
    return wrong


def test_cli_listings_of_defaults_show_the_defaults():
    """The CLI listings that state the defaults (pm.md: "The numbers shown are the defaults";
    orbit.md's bracketed options) agree with the parser or the option's help."""
    commands = _cli_commands()
    for f, start in DEFAULT_BLOCKS:
        blocks = [b for b in _cli_blocks((ROOT / f).read_text()) if b.startswith(start)]
        assert len(blocks) == 1, (f, start)
        assert not _wrong_defaults(blocks[0], commands), (f, _wrong_defaults(blocks[0], commands))
        assert _wrong_defaults(blocks[0].replace(" 0.", " 0.01", 1), commands)  # the check can fail
    # on a command's continuation line too (only each command's first line was read)
    orbit = next(b for b in _cli_blocks((ROOT / "docs/orbit.md").read_text()) if b.startswith("astrograd orbit"))
    assert _wrong_defaults(orbit.replace("--learning-rate 0.15 --steps 500", "--learning-rate 0.2 --steps 500"),
                           commands) == ["astrograd orbit best-angle --learning-rate 0.2: the default is 0.15"]


def _signature_sketches(text):
    """``(name, keyword arguments)`` of each call with a bare ``*`` (``f(x, *, option=default)``)
    in the code of ``text``."""
    import ast

    found = []
    for m in re.finditer(r"(?<![\w.])([a-z_][a-z0-9_]*)\(", text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        args = text[m.end() : i - 1]
        if depth or not re.search(r"(^|,)\s*\*\s*(,|$)", args):
            continue
        without_star = re.sub(r"(^|,)\s*\*\s*,", r"\1", args).replace("\n", " ")
        call = ast.parse(f"f({without_star})", mode="eval").body
        found.append((m.group(1), {kw.arg: kw.value for kw in call.keywords}))
    return found


def test_signature_sketches_name_real_arguments_and_defaults():
    """Each signature sketch in docs/AREA.md (a call with a bare ``*``) of a function of
    ``astrograd.AREA`` names its real arguments, and each literal default is the real one."""
    import ast
    import importlib
    import inspect

    checked, wrong = 0, []
    for path in sorted((ROOT / "docs").glob("*.md")):
        if not (ROOT / "src/astrograd" / path.stem).is_dir():
            continue  # developing.md
        module = importlib.import_module(f"astrograd.{path.stem}")
        for name, keywords in _signature_sketches(path.read_text()):
            if not callable(getattr(module, name, None)):
                continue
            params = inspect.signature(getattr(module, name)).parameters
            for arg, node in keywords.items():
                checked += 1
                if arg not in params:
                    wrong.append(f"{path.name}: {name}() has no argument {arg}")
                    continue
                try:
                    doc = ast.literal_eval(node)
                except ValueError:
                    continue  # key=jax.random.key(0): not a literal
                real = params[arg].default
                if doc is not Ellipsis and (tuple(real) if isinstance(real, list | tuple) else real) != doc:
                    wrong.append(f"{path.name}: {name}({arg}=...) defaults to {real!r}, not {doc!r}")
    assert not wrong, wrong
    assert checked > 30, checked  # the sketches of diff.md and inverse.md are found
