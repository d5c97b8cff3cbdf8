"""The pm tour sections (``make demo``'s path) run end to end and report measured numbers and real
figures.

Slow: neither section fits a fast test at the tour's quick size. The image fit is pmwd's fixed
setup (16×27×16 particles, 63 steps): about 14 s to compile and 0.5 s per iteration on 2 shared
cores, 55 s for its 40 iterations; the reconstruction runs 2 NUTS chains of 100 + 150 steps.
Fewer iterations would still compile for 14 s and no longer test the tour as `make demo` runs it.
"""

from pathlib import Path

import h5py
import jax
import numpy as np
import pytest

from astrograd._tour import TourSection
from astrograd.pm.tour import tour_sections


@pytest.mark.slow
def test_tour_sections_quick(tmp_path: Path, check_output_file):
    sections = tour_sections(tmp_path, quick=True)
    assert len(sections) == 2 and all(isinstance(s, TourSection) for s in sections)
    fit, rec = sections
    for s in sections:
        assert s.seconds > 0 and s.numbers
        for figure in s.figures:
            check_output_file(Path(figure))  # drawn, not only written
    assert [Path(f).name for f in fit.figures] == ["target.png", "initial.png", "final.png", "loss.png", "fit.gif"]
    check_output_file(tmp_path / "pm_fit_image" / "ics.h5")
    check_output_file(tmp_path / "pm_reconstruct" / "reconstruct.h5")

    # the image fit: the reported losses are the first and last of the loss history it wrote,
    # and Adam lowered it
    losses = np.loadtxt(tmp_path / "pm_fit_image" / "losses.txt")
    assert len(losses) == 41
    assert fit.numbers["initial loss"] == pytest.approx(losses[0], abs=1e-4)
    assert fit.numbers["loss after 40 iterations"] == pytest.approx(losses[-1], abs=1e-4)
    assert losses[-1] < 0.5 * losses[0]

    # the reconstruction, against what does not come from the code: the truth is drawn from the
    # prior, so the posterior's 1σ intervals cover it in about 68.3% of the 8³ cells (binomial sd
    # 0.02; the cells' errors are correlated, hence 0.1), and its width is near the linearised
    # posterior's, the exact one in the linear regime
    with h5py.File(tmp_path / "pm_reconstruct" / "reconstruct.h5") as f:
        truth, mean, std = f["truth"][:], f["mean"][:], f["std"][:]
    covered = float(np.mean(np.abs(truth - mean) <= std))
    assert abs(covered - 0.683) < 0.1
    assert rec.numbers["1σ coverage of the truth (0.683 if calibrated)"] == pytest.approx(covered, abs=1e-3)
    sd, sd_linear = (float(x.strip("()")) for x in rec.numbers["posterior sd per cell (linear theory)"].split())
    assert sd == pytest.approx(float(std.mean()), abs=1e-3) and abs(sd / sd_linear - 1) < 0.25
    assert not jax.config.read("jax_enable_x64")
