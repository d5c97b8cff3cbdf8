"""The hydro tour sections run end to end (quick mode) and report measured numbers."""

import pytest

from astrograd.hydro.tour import tour_sections


@pytest.mark.slow
def test_tour_sections_quick(tmp_path, check_output_file):
    sections = tour_sections(tmp_path, quick=True)
    assert [s.title.split()[0] for s in sections] == ["Sod", "Stellar-wind", "Recover", "Loss", "Posterior"]
    for s in sections[:2] + sections[3:]:
        assert s.figures
        for path in s.figures:  # pictures with something drawn (exists() and a size passed a blank figure)
            check_output_file(path)
    assert all(s.numbers and s.seconds > 0 for s in sections)
