"""The orbit tour sections run end to end and report measured numbers and real figures."""

from pathlib import Path

import jax
import pytest

from astrograd._tour import TourSection
from astrograd.orbit.tour import tour_sections


@pytest.mark.slow
def test_tour_sections_quick(tmp_path: Path, check_output_file):
    sections = tour_sections(tmp_path, quick=True)
    assert len(sections) == 3 and all(isinstance(s, TourSection) for s in sections)
    for s in sections:
        assert s.seconds > 0 and s.numbers
        for fig in s.figures:
            assert Path(fig).read_bytes()[:4] == b"\x89PNG"
            check_output_file(Path(fig))  # a blank figure passed the header check
    gravity, angle, drag = (s.numbers for s in sections)
    assert float(gravity["relative error of g"]) < 1e-3
    assert abs(angle["angle without drag (deg)"] - 45.0) < 0.05
    assert angle["angle with drag (deg)"] < 44.0
    assert float(drag["position RMS, held-out throw (m)"]) < float(
        drag["position RMS, held-out throw, no-drag model (m)"])
    assert not jax.config.read("jax_enable_x64")
