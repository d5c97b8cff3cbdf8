"""The Python examples in README.md and docs/*.md run as written, and the CLI options they
name exist.

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
