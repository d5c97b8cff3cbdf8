"""The learn tour (`astrograd tour --only learn`, run by `make demo`): with the shipped weights it
runs end to end, draws real figures, and its networks beat the solver they correct or steer."""

from pathlib import Path

import numpy as np
import pytest

from astrograd._tour import TourSection
from astrograd.learn.tour import TOUR_DATA, tour_sections


@pytest.mark.slow  # the tour's data alone are 3 reference Kármán runs at 32x64 (120 steps each) and the
# control section optimises 2 pairs directly: minutes on 2 busy cores; no section has a smaller size
def test_tour_sections_quick_with_the_shipped_weights(tmp_path, check_output_file):
    sol, control = tour_sections(tmp_path, quick=True)
    for s in (sol, control):
        assert isinstance(s, TourSection) and s.seconds > 0 and s.numbers
        for fig in s.figures:
            check_output_file(Path(fig))
    assert len(sol.figures) == 2 and len(control.figures) == 1
    assert "weights shipped" in sol.summary and not (tmp_path / "weights").exists()  # nothing retrained
    check_output_file(tmp_path / "tour_karman.h5")
    # against the down-sampled reference run: the corrector trained through the solver beats the
    # coarse solver alone and the one trained on one-step pairs (the claim of Um et al. 2020; the
    # tiny supervised network is worse than no correction over the 40-step rollout: measured 0.064
    # against 0.050)
    error = {mode: sol.numbers[f"mean rel. L1 error, {mode}"] for mode in ("none", "supervised", "loop")}
    assert 0 < error["loop"] < min(error["none"], error["supervised"]), (sol.numbers, control.numbers)
    # the networks steer the marker closer to its target than no control does
    assert 0 < control.numbers["rel. MAE networks"] < control.numbers["rel. MAE uncontrolled"], control.numbers
    assert np.isfinite(control.numbers["rel. MAE direct (2 pairs)"])
    assert TOUR_DATA["nx"] == 16  # the shipped weights' grid (tour_sections trains anew otherwise)
