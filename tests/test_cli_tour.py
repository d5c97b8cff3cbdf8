"""Root CLI and tour assembly."""

import subprocess
import sys
import types
from pathlib import Path

import pytest

import astrograd.tour as tour
from astrograd._errors import InputError, SimulationError
from astrograd._tour import TourSection


def test_version_and_help():
    out = subprocess.run([sys.executable, "-m", "astrograd.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "0.1.0"


def test_unknown_tour_area_exits_2_with_one_line():
    out = subprocess.run([sys.executable, "-m", "astrograd.cli", "tour", "--only", "nosuch"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip().startswith("error: unknown tour area 'nosuch'")
    assert "Traceback" not in out.stderr


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
