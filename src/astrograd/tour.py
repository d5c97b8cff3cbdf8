"""``astrograd tour``: run each area's worked examples and write an HTML page of the results."""

from __future__ import annotations

import html
import importlib
import importlib.util
import json
import os
import shutil
import time
import traceback
from pathlib import Path

from astrograd._cli_util import map_non_finite, to_jsonable
from astrograd._errors import check_choice
from astrograd._tour import TourSection

TOUR_AREAS = ("orbit", "hydro", "pm", "flow", "learn")


def available_areas() -> list[str]:
    """Areas whose package ships a ``tour`` module, in lecture order."""
    return [a for a in TOUR_AREAS if importlib.util.find_spec(f"astrograd.{a}") is not None
            and importlib.util.find_spec(f"astrograd.{a}.tour") is not None]


def _format_number(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return html.escape(str(value))


def _figure_html(path: Path, outdir: Path, copied: dict[str, Path] | None = None) -> str:
    """An <img> of ``path``; a figure outside ``outdir`` is copied into OUT/figures. ``copied``
    (file name -> source, shared by one tour) keeps two sources of the same name apart: both
    were copied to figures/NAME, and both sections showed the second figure."""
    path = Path(path)
    if not path.is_absolute() and not path.exists():
        path = outdir / path
    path, outdir = path.resolve(), outdir.resolve()
    try:
        rel = path.relative_to(outdir)
    except ValueError:
        copied = {} if copied is None else copied
        name, n = path.name, 1
        while copied.setdefault(name, path) != path:
            n += 1
            name = f"{path.stem}-{n}{path.suffix}"
        rel = Path("figures") / name
        (outdir / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, outdir / rel)
    return f'<figure><img src="{html.escape(str(rel))}" alt="{html.escape(rel.name)}"></figure>'


def _section_html(area: str, section: TourSection, outdir: Path, copied: dict[str, Path] | None = None) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{_format_number(v)}</td></tr>" for k, v in section.numbers.items()
    )
    figures = "".join(_figure_html(p, outdir, copied) for p in section.figures)
    return (
        f'<section id="{html.escape(area)}"><h2>{html.escape(section.title)}</h2>'
        f"<p>{html.escape(section.summary)}</p>"
        f"<table>{rows}</table><div class='figs'>{figures}</div>"
        f"<p class='time'>{area}: {section.seconds:.1f} s</p></section>"
    )


_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:0}section{border-top:1px solid #ccc;margin-top:2em}
table{border-collapse:collapse;margin:1em 0}th,td{padding:2px 10px;border-bottom:1px solid #eee;text-align:left}
th{font-weight:600}.figs{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}
img{max-width:520px;border:1px solid #ddd}.time{color:#888;font-size:90%}.error{color:#b00}
"""


def run_tour(outdir: Path, areas: list[str], quick: bool = True) -> Path:
    """Run the tour sections of ``areas`` into ``outdir``; returns the path of index.html.

    A failing example is reported on the page (and makes the command fail at the end) rather
    than hiding the other examples.
    """
    areas = list(dict.fromkeys(areas))  # --only hydro,hydro ran hydro twice
    for area in areas:
        check_choice("tour area", area, available_areas())
    os.environ.setdefault("MPLBACKEND", "Agg")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    parts, summary, failures, copied = [], {}, [], {}
    for area in areas:
        area_dir = outdir / area
        area_dir.mkdir(parents=True, exist_ok=True)
        print(f"[tour] {area} ...", flush=True)
        start = time.perf_counter()
        try:
            module = importlib.import_module(f"astrograd.{area}.tour")
            sections = module.tour_sections(area_dir, quick=quick)
            elapsed = time.perf_counter() - start
            for section in sections:
                if not section.seconds:
                    section.seconds = elapsed / max(1, len(sections))
            # a figure that cannot be copied (a missing file) ended the whole tour without a page
            html_parts = [_section_html(area, section, outdir, copied) for section in sections]
        except Exception:  # noqa: BLE001 - reported on the page and in the exit status
            failures.append(area)
            err = traceback.format_exc()
            print(err, flush=True)
            parts.append(f'<section id="{area}"><h2>{area}</h2><pre class="error">{html.escape(err)}</pre></section>')
            continue
        parts.extend(html_parts)
        for section in sections:
            summary[section.title] = section.numbers
            print(f"[tour]   {section.title}: " + ", ".join(
                f"{k}={_format_number(v)}" for k, v in list(section.numbers.items())[:4]), flush=True)
        print(f"[tour] {area} done in {elapsed:.1f} s", flush=True)
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>astrograd tour</title>"
        f"<style>{_STYLE}</style></head><body><h1>astrograd tour</h1>"
        "<p>Every worked example, run just now on this machine; every number below was measured in this run.</p>"
        + "".join(parts)
        + "</body></html>"
    )
    index = outdir / "index.html"
    index.write_text(page)
    # strict JSON, numbers as numbers: numpy ones were written as text ("3") and NaN as NaN
    summary = map_non_finite(to_jsonable(summary), lambda _: None)
    (outdir / "summary.json").write_text(json.dumps(summary, indent=1, default=str, allow_nan=False))
    if failures:
        from astrograd._errors import SimulationError

        raise SimulationError(f"tour examples failed: {', '.join(failures)} (see {index})")
    return index
