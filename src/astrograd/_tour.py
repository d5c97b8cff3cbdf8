"""The tour protocol: each worked example contributes a section to outputs/tour/index.html."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TourSection:
    """One worked example in the tour.

    title: section heading. summary: a paragraph of plain text (what was run and what it shows).
    figures: PNG/GIF paths (relative to the tour directory or absolute). numbers: measured key
    numbers, name -> value (floats, ints or short strings), never typed in by hand.
    """

    title: str
    summary: str
    figures: list[Path] = field(default_factory=list)
    numbers: dict[str, object] = field(default_factory=dict)
    seconds: float = 0.0
