"""Equinox networks: a ResNet that corrects staggered velocities and a small U-Net.

Fields are channel-first ``(channels, ny, nx)`` images. Staggered velocities ``vx (ny, nx+1)``
and ``vy (ny+1, nx)`` are zero-padded to a common ``(ny+1, nx+1)`` frame (vx gets a zero top
row, vy a zero right column) and cropped back after the network.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from astrograd._errors import InputError, check_choice, check_int, check_key, check_positive


def stack_staggered(vx: Float[Array, "ny nxp1"], vy: Float[Array, "nyp1 nx"]) -> Float[Array, "2 nyp1 nxp1"]:
    """``(2, ny+1, nx+1)`` image of the two staggered components (zero-padded)."""
    vx_p = jnp.pad(vx, ((0, 1), (0, 0)))
    vy_p = jnp.pad(vy, ((0, 0), (0, 1)))
    return jnp.stack([vx_p, vy_p])


def split_staggered(image: Float[Array, "2 nyp1 nxp1"]) -> tuple[Float[Array, "ny nxp1"], Float[Array, "nyp1 nx"]]:
    """Inverse of :func:`stack_staggered`: ``(vx (ny, nx+1), vy (ny+1, nx))``."""
    return image[0, :-1, :], image[1, :, :-1]


class _ResBlock(eqx.Module):
    conv1: eqx.nn.Conv2d
    conv2: eqx.nn.Conv2d

    def __init__(self, channels: int, kernel: int, key):
        k1, k2 = jax.random.split(key)
        self.conv1 = eqx.nn.Conv2d(channels, channels, kernel, padding="SAME", key=k1)
        self.conv2 = eqx.nn.Conv2d(channels, channels, kernel, padding="SAME", key=k2)

    def __call__(self, x):
        h = jax.nn.leaky_relu(self.conv1(x), 0.1)
        return jax.nn.leaky_relu(x + self.conv2(h), 0.1)


class CorrectorResNet(eqx.Module):
    """ResNet predicting an additive correction of the staggered velocity.

    Input: the solver's velocity ``vx (ny, nx+1)``, ``vy (ny+1, nx)`` (length/time) and the
    Reynolds number, given to the network as a constant channel ``reynolds / reynolds_scale``.
    Velocities are divided by ``velocity_scale`` on input and the output multiplied by it.
    Architecture: a 5×5 convolution to ``channels``, ``blocks`` residual blocks (two
    ``kernel``×``kernel`` convolutions each, leaky ReLU), a 5×5 convolution to 2 channels.
    Output: ``(dvx, dvy)`` with the shapes of ``(vx, vy)``.
    """

    inp: eqx.nn.Conv2d
    blocks: tuple[_ResBlock, ...]
    out: eqx.nn.Conv2d
    reynolds_scale: float = eqx.field(static=True)
    velocity_scale: float = eqx.field(static=True)

    def __init__(
        self,
        *,
        blocks: int = 3,
        channels: int = 32,
        kernel: int = 3,
        reynolds_scale: float = 1000.0,
        velocity_scale: float = 1.0,
        key: jax.Array,
    ):
        check_int("blocks", blocks, 0)
        check_int("channels", channels, 1)
        check_int("kernel", kernel, 1)
        check_positive("reynolds_scale", reynolds_scale)
        check_positive("velocity_scale", velocity_scale)
        check_key("key", key)
        keys = jax.random.split(key, blocks + 2)
        self.inp = eqx.nn.Conv2d(3, channels, 5, padding="SAME", key=keys[0])
        self.blocks = tuple(_ResBlock(channels, kernel, k) for k in keys[1:-1])
        out = eqx.nn.Conv2d(channels, 2, 5, padding="SAME", key=keys[-1])
        # Start close to "no correction": a small output layer.
        self.out = eqx.tree_at(lambda c: c.weight, out, out.weight * 0.1)
        self.reynolds_scale = float(reynolds_scale)
        self.velocity_scale = float(velocity_scale)

    def __call__(self, vx, vy, reynolds):
        image = stack_staggered(vx, vy) / self.velocity_scale
        re = jnp.full_like(image[:1], 1.0) * (jnp.asarray(reynolds, image.dtype) / self.reynolds_scale)
        h = jax.nn.leaky_relu(self.inp(jnp.concatenate([image, re])), 0.1)
        for block in self.blocks:
            h = block(h)
        return split_staggered(self.out(h) * self.velocity_scale)


class UNet(eqx.Module):
    """A U-Net on ``(in_channels, ny, nx)`` images (ny, nx divisible by ``2**levels``).

    Each level: two 3×3 convolutions (ReLU), then 2×2 average pooling; the decoder upsamples by
    repetition, concatenates the skip connection and applies two 3×3 convolutions. Channels
    double per level from ``channels``. ``padding_mode``: ``"CIRCULAR"`` for periodic domains,
    ``"ZEROS"`` otherwise. Returns ``(out_channels, ny, nx)``.
    """

    down: tuple[tuple[eqx.nn.Conv2d, eqx.nn.Conv2d], ...]
    bottom: tuple[eqx.nn.Conv2d, eqx.nn.Conv2d]
    up: tuple[tuple[eqx.nn.Conv2d, eqx.nn.Conv2d], ...]
    head: eqx.nn.Conv2d
    levels: int = eqx.field(static=True)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        channels: int = 16,
        levels: int = 3,
        padding_mode: str = "CIRCULAR",
        key: jax.Array,
    ):
        check_int("in_channels", in_channels, 1)
        check_int("out_channels", out_channels, 1)
        check_int("channels", channels, 1)
        check_int("levels", levels, 0)
        check_choice("padding mode", padding_mode, ("ZEROS", "REFLECT", "REPLICATE", "CIRCULAR"))
        check_key("key", key)
        keys = iter(jax.random.split(key, 4 * levels + 3))

        def conv(cin, cout):
            return eqx.nn.Conv2d(cin, cout, 3, padding="SAME", padding_mode=padding_mode, key=next(keys))

        widths = [channels * 2**i for i in range(levels + 1)]
        down, cin = [], in_channels
        for w in widths[:-1]:
            down.append((conv(cin, w), conv(w, w)))
            cin = w
        self.down = tuple(down)
        self.bottom = (conv(cin, widths[-1]), conv(widths[-1], widths[-1]))
        up = []
        for i in reversed(range(levels)):
            up.append((conv(widths[i + 1] + widths[i], widths[i]), conv(widths[i], widths[i])))
        self.up = tuple(up)
        self.head = eqx.nn.Conv2d(widths[0], out_channels, 1, key=next(keys))
        self.levels = levels

    def __call__(self, x):
        n = 2**self.levels
        if x.shape[1] % n or x.shape[2] % n:
            raise InputError(f"U-Net input shape {x.shape[1:]} must be divisible by 2**levels = {n}")
        skips = []
        for c1, c2 in self.down:
            x = jax.nn.relu(c2(jax.nn.relu(c1(x))))
            skips.append(x)
            c, h, w = x.shape
            x = x.reshape(c, h // 2, 2, w // 2, 2).mean(axis=(2, 4))
        c1, c2 = self.bottom
        x = jax.nn.relu(c2(jax.nn.relu(c1(x))))
        for (c1, c2), skip in zip(self.up, reversed(skips), strict=True):
            x = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
            x = jnp.concatenate([x, skip])
            x = jax.nn.relu(c2(jax.nn.relu(c1(x))))
        return self.head(x)


def count_parameters(model) -> int:
    """Number of trainable scalars (inexact array leaves) of an equinox model."""
    return int(sum(x.size for x in jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array))))
