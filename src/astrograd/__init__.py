"""astrograd: differentiable simulators for astrophysics on JAX.

Subpackages are imported lazily by the user (``import astrograd.hydro``); importing
``astrograd`` itself never changes JAX's global configuration (float64 stays off).
"""

__version__ = "0.1.0"
