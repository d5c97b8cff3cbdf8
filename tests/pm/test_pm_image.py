"""The image example: targets, projections, loss, checkpoints; the 100-iteration pmwd target."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from astrograd._errors import InputError
from astrograd.pm._image import (
    FitState,
    fit_image,
    image_config,
    image_loss,
    image_target,
    load_checkpoint,
    normalise_target,
    save_checkpoint,
    text_target,
    view_images,
)


def test_text_target_is_rendered_and_centred():
    ink = text_target("pmwd")
    assert ink.shape == (64, 108) and ink.min() >= 0 and ink.max() <= 1
    assert 0.05 < ink.mean() < 0.4
    rows, cols = np.nonzero(ink > 0.5)
    assert abs(rows.mean() - 31.5) < 6 and abs(cols.mean() - 53.5) < 8
    assert cols.max() - cols.min() > 70  # the text spans most of the width
    assert not np.allclose(ink, text_target("abc"))
    with pytest.raises(InputError, match="text"):
        text_target("   ")


def test_image_target_from_png(tmp_path):
    from PIL import Image

    pattern = np.zeros((64, 108), dtype=np.uint8)
    pattern[10:30, 20:90] = 255
    Image.fromarray(pattern).save(tmp_path / "t.png")
    np.testing.assert_allclose(image_target(tmp_path / "t.png"), pattern / 255.0, atol=1e-6)
    # dark drawing on a light background: the dark pixels become the target
    Image.fromarray(255 - pattern).save(tmp_path / "inv.png")
    np.testing.assert_allclose(image_target(tmp_path / "inv.png"), pattern / 255.0, atol=1e-6)
    (tmp_path / "bad.png").write_bytes(b"not a picture")
    with pytest.raises(InputError, match="cannot read"):
        image_target(tmp_path / "bad.png")
    with pytest.raises(InputError, match="does not exist"):
        image_target(tmp_path / "missing.png")
    with pytest.raises(InputError, match="is a directory; give a picture file"):  # before: "does not exist"
        image_target(tmp_path)


def test_text_is_drawn_as_typed_and_odd_pictures_are_one_line_errors(tmp_path, monkeypatch):
    from PIL import Image

    # dollar signs were parsed as mathtext: '$\frac$' a multi-line ValueError, '$x$' an italic x
    assert text_target("$\\frac$").max() > 0.5
    assert not np.allclose(text_target("$x$"), text_target("x"))
    # a picture too large for PIL (a decompression bomb) was PIL's traceback
    Image.new("L", (40, 40)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(InputError, match=r"cannot read .*big.png' as an image \(DecompressionBombError\)"):
        image_target(tmp_path / "big.png")


def test_fit_image_refuses_a_checkpoint_past_the_iterations(tmp_path, monkeypatch):
    import astrograd.pm._image as image

    def loaded(path, opt_template, meta):
        return FitState(noise=np.zeros(image_config().ptcl_grid, np.float32), opt_state=opt_template, iteration=8)

    monkeypatch.setattr(image, "load_checkpoint", loaded)
    (tmp_path / "c.npz").write_bytes(b"")
    # this ran no iteration and reported the state after 8 as the result of 4
    with pytest.raises(InputError, match=r"c.npz' is at iteration 8, past iterations = 4; ask for at least 8"):
        fit_image(np.random.default_rng(0).random((64, 108)), iterations=4, checkpoint=tmp_path / "c.npz")


def test_fit_image_refuses_bad_input_before_compiling():
    good = np.random.default_rng(0).random((64, 108))
    with pytest.raises(InputError, match=r"target has shape \(32, 32\); it must be \(64, 108\)"):
        fit_image(np.ones((32, 32)), iterations=1)
    with pytest.raises(InputError, match=r"target has shape \(2, 64, 108\)"):
        fit_image(np.stack([good, good]), iterations=1)  # used to broadcast and run
    with pytest.raises(InputError, match="target is uniform"):
        fit_image(np.zeros((64, 108)), iterations=1)  # a NaN loss after compiling
    with pytest.raises(InputError, match=r"target has a non-finite value"):
        fit_image(np.where(good > 0.5, np.nan, good), iterations=1)
    with pytest.raises(InputError, match="target has a negative value"):
        fit_image(good - 0.5, iterations=1)
    for iterations in (2.5, True):  # 2.5 ran 3 iterations, True one
        with pytest.raises(InputError, match=f"iterations = {iterations!r} is not allowed"):
            fit_image(good, iterations=iterations)
    with pytest.raises(InputError, match="views = True"):
        fit_image(good, views=True)
    with pytest.raises(InputError, match="key = 0 is not allowed"):
        fit_image(good, key=0)
    with pytest.raises(InputError, match="checkpoint_every = 0"):
        fit_image(good, checkpoint_every=0)
    with pytest.raises(InputError, match="num_frames = -1"):
        fit_image(good, num_frames=-1)
    with pytest.raises(InputError, match="text = 5 is not allowed"):
        text_target(5)


@pytest.mark.parametrize("option", ["checkpoint", "progress"])
def test_fit_image_to_dir_refuses_flags_that_are_not_bools(tmp_path, option):
    from astrograd.pm._image import fit_image_to_dir

    # checkpoint="no" used to be truthy: a checkpoint was written and resumed
    with pytest.raises(InputError, match=f"{option} = 'no' is not allowed; it must be True or False"):
        fit_image_to_dir(tmp_path, iterations=1, **{option: "no"})
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"iterations": 0}, "iterations = 0 is not allowed"), ({"learning_rate": -1.0}, "learning_rate = -1 is not"),
     ({"views": 3}, "views = 3 is not allowed"), ({"text": ""}, "text = '' is empty")],
)
def test_fit_image_to_dir_checks_its_settings_before_creating_out(tmp_path, kwargs, message):
    from astrograd.pm._image import fit_image_to_dir

    # the output folder was created before iterations, learning_rate, views and the text were checked
    with pytest.raises(InputError, match=message):
        fit_image_to_dir(tmp_path / "out", **{"iterations": 1, **kwargs})
    assert not (tmp_path / "out").exists()


def test_views_and_loss():
    cfg = image_config()
    disp = jnp.zeros((cfg.num_ptcl, 3))
    imgs = view_images(disp, cfg, 2)
    assert imgs.shape == (2, 64, 108)
    np.testing.assert_allclose(imgs.sum(axis=(1, 2)), cfg.num_ptcl, rtol=1e-5)
    target = normalise_target(text_target("pmwd"), cfg.num_ptcl)
    assert abs(target.sum() - cfg.num_ptcl) < 1e-6 * cfg.num_ptcl
    rng = np.random.default_rng(0)
    img = rng.random((1, 64, 108))
    ref = np.var(img[0] - target) / np.var(target)
    np.testing.assert_allclose(image_loss(jnp.asarray(img), jnp.asarray(target)), ref, rtol=1e-5)
    assert float(image_loss(jnp.asarray(target)[None], jnp.asarray(target))) == 0.0


def test_checkpoint_round_trip(tmp_path):
    opt = optax.adam(0.1)
    noise = jax.random.normal(jax.random.key(0), (4, 5, 6))
    opt_state = opt.init(noise)
    _, opt_state = opt.update(jnp.ones_like(noise), opt_state, noise)
    state = FitState(noise=np.asarray(noise), opt_state=opt_state, iteration=7, losses=[1.0, 0.5],
                     frames=[np.ones((1, 3, 3))], frame_iterations=[0])
    meta = {"views": 1, "learning_rate": 0.1}
    save_checkpoint(tmp_path / "c.npz", state, meta)
    back = load_checkpoint(tmp_path / "c.npz", opt.init(noise), meta)
    assert back.iteration == 7 and back.losses == [1.0, 0.5] and back.frame_iterations == [0]
    for a, b in zip(jax.tree.leaves(back.opt_state), jax.tree.leaves(opt_state), strict=False):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(InputError, match=r"written with learning_rate = 0.1, not 0.2;"):
        load_checkpoint(tmp_path / "c.npz", opt.init(noise), {"views": 1, "learning_rate": 0.2})
    # an array setting (the target image) is named, not printed; the message stays one line
    save_checkpoint(tmp_path / "t.npz", state, {"target": np.zeros((64, 108))})
    with pytest.raises(InputError, match="written for another target;") as err:
        load_checkpoint(tmp_path / "t.npz", opt.init(noise), {"target": np.ones((64, 108))})
    assert "\n" not in str(err.value)
    # an empty file was an EOFError, a .npy file a TypeError (tracebacks)
    (tmp_path / "empty.npz").write_bytes(b"")
    np.save(tmp_path / "array.npy", np.zeros(3))
    for path in (tmp_path / "empty.npz", tmp_path / "array.npy"):
        with pytest.raises(InputError, match=r"cannot read checkpoint .* as an .npz archive \((EOFError|ValueError)\)"):
            load_checkpoint(path, opt.init(noise), meta)


@pytest.mark.slow
def test_pmwd_text_100_iterations_beats_pmwd(tmp_path):
    """pmwd reaches 0.36 after 100 Adam iterations (lr 0.1) for 'pmwd', one projection."""
    from astrograd.pm._image import fit_image

    state, info = fit_image(text_target("pmwd"), views=1, iterations=100, learning_rate=0.1,
                            checkpoint=tmp_path / "c.npz")
    assert info["final_loss"] <= 0.36
    assert state.losses[0] > 1.0  # it started from a random, unrelated density field
