"""Splitting a PM run over several devices: particles in equal blocks, the force mesh in slabs.

Inside ``jax.shard_map`` each device holds a block of the particles (in C order of the
Lagrangian grid) and one slab of the density and potential meshes along mesh axis 0. A device
paints its own particles on a whole mesh, the meshes are summed into slabs (``psum_scatter``),
the Poisson solve runs on the slabs with a distributed FFT (local FFTs over axes 1 and 2, one
``all_to_all`` to make axis 0 local, then the FFT over axis 0; wavevectors then split along
axis 1), and the potential is gathered back into a whole mesh (``all_gather``) for the read-out.
Particles are never exchanged, so they may move anywhere in the box; the price is one whole mesh
per device during the paint and the read-out. ``jnp.fft.rfftn`` of a sharded array would instead
gather the whole array on every device (jax-ml/jax#15680).

:class:`Decomposition` with ``axis_name=None`` is the single-device case: every collective is the
identity and the FFTs are ``jnp.fft.rfftn``/``irfftn``, so one code path serves both.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from jax import lax

from astrograd._devices import one_axis_mesh
from astrograd._errors import InputError
from astrograd.pm._config import PMConfig

AXIS = "pm"


@dataclasses.dataclass(frozen=True)
class Decomposition:
    """Static description of the split (hashable; a ``nondiff`` argument of the custom VJPs)."""

    axis_name: str | None = None
    num_devices: int = 1

    @property
    def sharded(self) -> bool:
        return self.axis_name is not None

    def sum_to_slab(self, full):
        """Per-device partial whole meshes (M0, M1, M2) → this device's slab of their sum."""
        if not self.sharded:
            return full
        return lax.psum_scatter(full, self.axis_name, scatter_dimension=0, tiled=True)

    def whole(self, slab):
        """This device's slab → the whole mesh (every device gets all slabs)."""
        if not self.sharded:
            return slab
        return lax.all_gather(slab, self.axis_name, axis=0, tiled=True)

    def rfftn(self, slab):
        """rfftn of the whole real mesh from its slabs; returns this device's block of wavevectors
        (all of axis 0, a block of axis 1, the rfft half of axis 2)."""
        if not self.sharded:
            return jnp.fft.rfftn(slab)
        y = jnp.fft.rfftn(slab, axes=(1, 2))
        y = lax.all_to_all(y, self.axis_name, split_axis=1, concat_axis=0, tiled=True)
        return jnp.fft.fft(y, axis=0)

    def irfftn(self, block, shape):
        """Inverse of :meth:`rfftn`: this device's wavevector block → its slab of the real mesh."""
        if not self.sharded:
            return jnp.fft.irfftn(block, s=shape)
        y = jnp.fft.ifft(block, axis=0)
        y = lax.all_to_all(y, self.axis_name, split_axis=0, concat_axis=1, tiled=True)
        return jnp.fft.irfftn(y, s=shape[1:], axes=(1, 2))

    def wavevector_block(self, kernel):
        """This device's block (along axis 1) of a Fourier-space array broadcastable to the rfft
        grid."""
        if not self.sharded or kernel.shape[1] == 1:
            return kernel
        n = kernel.shape[1] // self.num_devices
        return lax.dynamic_slice_in_dim(kernel, lax.axis_index(self.axis_name) * n, n, axis=1)

    def particles(self, x):
        """This device's block of a per-particle array (N, ...) given whole."""
        if not self.sharded:
            return x
        n = x.shape[0] // self.num_devices
        return lax.dynamic_slice_in_dim(x, lax.axis_index(self.axis_name) * n, n, axis=0)

    def psum(self, x):
        """Sum over devices (of per-device partial sums over their particles)."""
        return lax.psum(x, self.axis_name) if self.sharded else x

    def first_true(self, mask):
        """(whether any particle of any device has ``mask`` (its block, (n,) bool), the smallest
        global index of one that has; 0 if none)."""
        local = jnp.argmax(mask).astype(jnp.int32)
        if not self.sharded:
            return jnp.any(mask), local
        none = jnp.iinfo(jnp.int32).max
        here = jnp.where(jnp.any(mask), local + lax.axis_index(self.axis_name) * mask.shape[0], none)
        first = lax.pmin(here, self.axis_name)
        return first < none, jnp.where(first < none, first, 0)


SINGLE = Decomposition()


def device_mesh(config: PMConfig, devices) -> tuple[jax.sharding.Mesh, Decomposition]:
    """A one-axis device mesh and its :class:`Decomposition` from ``devices``: a count (the first
    ``devices`` of ``jax.devices()``), a sequence of devices, or a one-axis ``jax.sharding.Mesh``.

    The split needs the particle count and mesh axes 0 and 1 to be multiples of the device count.
    """
    mesh = one_axis_mesh(devices, AXIS)
    n = mesh.devices.size
    for what, size in (
        ("the particle count", config.num_ptcl),
        ("mesh_shape[0]", config.mesh_shape[0]),
        ("mesh_shape[1]", config.mesh_shape[1]),
    ):
        if size % n:
            raise InputError(
                f"{n} devices is not allowed for {what} = {size}; it must be a multiple of the device count"
            )
    return mesh, Decomposition(mesh.axis_names[0], n)
