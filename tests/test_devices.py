"""astrograd._devices.one_axis_mesh (the ``devices=`` argument of pm and hydro): what it
accepts, and one-line errors for the rest (before: numpy/JAX errors for 'x', 1.5, [0])."""

import jax
import numpy as np
import pytest

from astrograd._devices import one_axis_mesh
from astrograd._errors import InputError


@pytest.mark.parametrize("devices", [1, np.int64(1), [jax.devices()[0]], (jax.devices()[0],)])
def test_accepted(devices):
    mesh = one_axis_mesh(devices, "x")
    assert mesh.axis_names == ("x",) and mesh.devices.shape == (1,)
    assert one_axis_mesh(mesh, "x") is mesh


@pytest.mark.parametrize(
    ("devices", "match"),
    [
        ("x", "^devices = 'x' is not allowed; give a count, a sequence of jax devices or a one-axis Mesh$"),
        (1.5, "^devices = 1.5 is not allowed"),
        (True, "^devices = True is not allowed"),
        (None, "^devices = None is not allowed"),
        (0, "^devices = 0 is not allowed; choose 1 to"),
        ([], r"^devices = \[\] is not allowed"),
        ([0], r"^devices = \[0\] is not allowed; a sequence must hold jax devices"),
        # JAX failed later, on the first sharded array, with a bare AssertionError
        ([jax.devices()[0]] * 2, r"^devices = \[.*\] is not allowed; a device is named twice$"),
    ],
)
def test_refused(devices, match):
    with pytest.raises(InputError, match=match):
        one_axis_mesh(devices, "x")
