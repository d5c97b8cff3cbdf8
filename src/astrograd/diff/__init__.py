"""Time loops that can be differentiated, and gradient checks.

- :func:`fixed_loop`: fixed number of steps in one ``lax.scan``; optional per-step or nested
  (√N) rematerialisation.
- :func:`adaptive_loop`: step size computed from the state (e.g. CFL), landing exactly on output
  times and the end time; reverse mode at bounded memory (segment checkpointing in a
  ``custom_vjp``), forward mode, or a direct reference.
- :func:`check_grad`: reverse vs forward vs central finite differences along random directions.
"""

from astrograd.diff._adaptive import ADJOINTS, AdaptiveResult, adaptive_loop
from astrograd.diff._check import GradCheckReport, check_grad
from astrograd.diff._fixed import CHECKPOINTS, fixed_loop

__all__ = [
    "ADJOINTS",
    "CHECKPOINTS",
    "AdaptiveResult",
    "GradCheckReport",
    "adaptive_loop",
    "check_grad",
    "fixed_loop",
]
