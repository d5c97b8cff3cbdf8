"""Choosing devices for a split run: a count, a sequence of devices or a one-axis mesh."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np

from astrograd._errors import InputError

__all__ = ["one_axis_mesh"]


def one_axis_mesh(devices, axis_name: str) -> jax.sharding.Mesh:
    """A one-axis ``jax.sharding.Mesh`` from ``devices``: a count (the first ``devices`` of
    ``jax.devices()``), a sequence of devices, or a one-axis mesh (returned as is).

    On a CPU, several devices exist only if JAX was started with
    ``XLA_FLAGS=--xla_force_host_platform_device_count=N``; they share the same cores.
    """
    if isinstance(devices, jax.sharding.Mesh):
        if len(devices.axis_names) != 1:
            raise InputError(f"devices: a Mesh with axes {devices.axis_names} is not allowed; give one axis")
        return devices
    if isinstance(devices, bool) or not isinstance(devices, int | np.integer | Sequence) or isinstance(devices, str):
        raise InputError(
            f"devices = {devices!r} is not allowed; give a count, a sequence of jax devices or a one-axis Mesh"
        )
    if isinstance(devices, (int, np.integer)):
        available = jax.devices()
        if not 1 <= devices <= len(available):
            raise InputError(f"devices = {devices} is not allowed; choose 1 to {len(available)} (the devices JAX sees)")
        devices = available[: int(devices)]
    if not devices:
        raise InputError("devices = [] is not allowed; give at least one device")
    if not all(isinstance(d, jax.Device) for d in devices):
        raise InputError(f"devices = {devices!r} is not allowed; a sequence must hold jax devices (jax.devices())")
    if len(set(devices)) != len(devices):  # JAX failed later, with a bare AssertionError
        raise InputError(f"devices = {devices!r} is not allowed; a device is named twice")
    return jax.sharding.Mesh(np.asarray(list(devices)), (axis_name,))
