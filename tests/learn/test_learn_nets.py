"""Network shapes on the staggered grid, the divergence-free control velocity, down-sampling,
shape areas, bad input."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from astrograd._errors import InputError
from astrograd.flow import Grid, divergence
from astrograd.learn import (
    CorrectorResNet,
    UNet,
    count_parameters,
    curl_velocity,
    downsample,
    shape_marker,
    split_staggered,
    stack_staggered,
)


def test_resnet_correction_has_staggered_shapes(key):
    nx, ny = 12, 20
    net = CorrectorResNet(blocks=3, channels=32, key=key)
    vx = jax.random.normal(key, (ny, nx + 1))
    vy = jax.random.normal(jax.random.fold_in(key, 1), (ny + 1, nx))
    call = eqx.filter_jit(lambda m, a, b, re: m(a, b, re))
    dvx, dvy = call(net, vx, vy, 100.0)
    assert dvx.shape == vx.shape and dvy.shape == vy.shape
    assert np.isfinite(np.asarray(dvx)).all() and np.isfinite(np.asarray(dvy)).all()
    # Parameter count from the architecture: 5x5 conv 3->32, 3 blocks of two 3x3 32->32, 5x5 32->2.
    expected = (25 * 3 * 32 + 32) + 3 * 2 * (9 * 32 * 32 + 32) + (25 * 32 * 2 + 2)
    assert count_parameters(net) == expected
    # The Reynolds channel changes the output.
    dvx2, _ = call(net, vx, vy, 3000.0)
    assert not np.allclose(np.asarray(dvx), np.asarray(dvx2))


def test_stack_split_roundtrip(key):
    vx = jax.random.normal(key, (7, 6))
    vy = jax.random.normal(key, (8, 5))
    image = stack_staggered(vx, vy)
    assert image.shape == (2, 8, 6)
    bx, by = split_staggered(image)
    np.testing.assert_array_equal(np.asarray(bx), np.asarray(vx))
    np.testing.assert_array_equal(np.asarray(by), np.asarray(vy))


def test_unet_shapes_and_divisibility(key):
    # the structure built abstractly and filled with ones: a random initialisation compiles a
    # draw for each new weight shape (seconds), and the shapes do not depend on the values
    shapes = eqx.filter_eval_shape(lambda k: UNet(3, 2, channels=4, levels=2, key=k), key)
    net = jax.tree.map(lambda x: jnp.ones(x.shape, x.dtype) if isinstance(x, jax.ShapeDtypeStruct) else x, shapes)
    y = eqx.filter_jit(lambda m, x: m(x))(net, jnp.ones((3, 16, 8)))
    assert y.shape == (2, 16, 8)
    with pytest.raises(InputError, match="divisible"):
        net(jnp.ones((3, 10, 8)))
    with pytest.raises(InputError, match="channels"):
        UNet(3, 2, channels=0, key=key)


def test_curl_velocity_is_divergence_free(key):
    n = 16
    psi = jax.random.normal(key, (n, n))
    vx, vy = curl_velocity(psi)
    assert vx.shape == (n, n + 1) and vy.shape == (n + 1, n)
    # periodic in both directions: the last face column / row repeats the first
    np.testing.assert_array_equal(np.asarray(vx[:, 0]), np.asarray(vx[:, -1]))
    np.testing.assert_array_equal(np.asarray(vy[0]), np.asarray(vy[-1]))
    div = divergence(vx, vy, Grid(n, n, float(n), float(n)))
    assert float(jnp.max(jnp.abs(div))) < 1e-5 * float(jnp.max(jnp.abs(vx)))  # measured 1.2e-7 (float32)


def test_curl_of_linear_stream_function_is_uniform():
    # psi = U y on corners (periodic wrap excluded): vx = U exactly in the rows that do not wrap.
    n, u = 8, 0.3
    y = jnp.arange(n, dtype=jnp.float32)[:, None] * jnp.ones((1, n))
    vx, vy = curl_velocity(u * y)
    np.testing.assert_allclose(np.asarray(vx[:-1]), u, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(vy), 0.0, atol=1e-7)


def test_downsample_preserves_face_fluxes_and_linear_fields():
    f, ny, nx = 4, 3, 2
    fine = Grid(f * nx, f * ny, 1.0, 1.0)
    x, y = fine.x_faces()
    vx = 2.0 + 3.0 * x - 5.0 * y
    x2, y2 = fine.y_faces()
    vy = -1.0 + 0.5 * x2 + 4.0 * y2
    cx, cy = downsample(vx, vy, f)
    coarse = Grid(nx, ny, 1.0, 1.0)
    xc, yc = coarse.x_faces()
    # A linear field's average over a face equals its value at the face centre.
    np.testing.assert_allclose(np.asarray(cx), np.asarray(2.0 + 3.0 * xc - 5.0 * yc), rtol=1e-5)
    xc, yc = coarse.y_faces()
    np.testing.assert_allclose(np.asarray(cy), np.asarray(-1.0 + 0.5 * xc + 4.0 * yc), rtol=1e-5)


@pytest.mark.parametrize("shape", range(4))
def test_shapes_have_the_area_of_the_disc(shape):
    n = 64
    m = shape_marker(shape, (32.0, 32.0), n, radius=8.0)
    assert float(m.min()) >= 0 and float(m.max()) <= 1
    np.testing.assert_allclose(float(m.sum()), np.pi * 8.0**2, rtol=0.03)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: UNet(1, 1, levels=1, key=5), "key = 5 is not allowed; it must be one PRNG key"),
        (lambda: UNet(1, 1, levels=1, padding_mode="bad", key=jax.random.key(0)), "unknown padding mode 'bad'"),
        (lambda: CorrectorResNet(blocks=0, channels=2, key=None), "key = None"),
        (lambda: CorrectorResNet(blocks=0, channels=2, reynolds_scale=0.0, key=jax.random.key(0)),
         "reynolds_scale = 0"),
        (lambda: downsample(jnp.zeros((8, 9)), jnp.zeros((9, 8)), 3), "multiples of factor = 3"),
        (lambda: downsample(jnp.zeros((8, 9)), jnp.zeros((9, 8)), 0), "factor = 0"),
        (lambda: shape_marker(7, (8.0, 8.0), 16), "shape = 7 is not allowed; it must be an index 0 to 3"),
        (lambda: shape_marker("circle", (8.0, 8.0), 16), "shape = 'circle'"),
        (lambda: shape_marker(0, (8.0,), 16), r"centre = \(8.0,\) is not allowed"),
        (lambda: shape_marker(0, (float("nan"), 8.0), 16), "centre has a non-finite value"),
        (lambda: shape_marker(0, (8.0, 8.0), 16.5), "resolution n = 16.5"),
        (lambda: shape_marker(0, (8.0, 8.0), 16, radius=-1.0), "radius = -1"),
        (lambda: shape_marker(0, (8.0, 8.0), 16, edge=0.0), "edge = 0"),
    ],
)
def test_bad_input_is_one_line_input_error(call, match):
    with pytest.raises(InputError, match=match) as err:
        call()
    assert "\n" not in str(err.value)
