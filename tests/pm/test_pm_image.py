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


def test_sixteen_bit_transparent_and_glyphless_targets(tmp_path):
    from PIL import Image

    pattern = np.zeros((64, 108), dtype=np.uint8)
    pattern[10:30, 20:90] = 255
    pattern[40:50, 5:15] = 100
    # 16 bits per pixel: convert("L") clipped every value above 255, so the picture came out white
    Image.fromarray(pattern.astype(np.uint16) * 257).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as im:
        assert im.mode.startswith("I")
    np.testing.assert_allclose(image_target(tmp_path / "deep.png"), pattern / 255.0, atol=1e-6)
    # a drawing in the alpha channel (a logo on a transparent background): dropping alpha read it as
    # uniform; dark ink on transparency and light ink on transparency both draw the shape
    for ink in (0, 255):
        rgba = np.zeros((64, 108, 4), dtype=np.uint8)
        rgba[..., :3] = 255 - ink  # the colour under the transparent pixels must not matter
        rgba[..., 3] = pattern
        rgba[pattern > 0, :3] = ink
        Image.fromarray(rgba, "RGBA").save(tmp_path / "logo.png")
        np.testing.assert_allclose(image_target(tmp_path / "logo.png"), pattern / 255.0, atol=1e-6)
    Image.new("RGBA", (108, 64), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    with pytest.raises(InputError, match="^image .*clear.png' is uniform; it has nothing to draw$"):
        image_target(tmp_path / "clear.png")
    # a zero-width space rendered nothing: an all-zero target, var(target) = 0 in the loss's denominator
    with pytest.raises(InputError, match=r"^text = '\\u200b' draws nothing \(no visible glyph\)"):
        text_target("\u200b")


def test_palette_with_an_alpha_per_entry_is_read_without_a_warning(tmp_path):
    """A palette PNG whose transparency is one alpha per entry (bytes), all opaque, went through
    Pillow's convert("L"), which warned "Palette images with Transparency expressed in bytes should
    be converted to RGBA images"; the picture reads as the same palette without transparency."""
    import warnings

    from PIL import Image

    index = np.zeros((64, 108), dtype=np.uint8)
    index[10:30, 20:90] = 1
    index[40:50, 5:15] = 2
    im = Image.fromarray(index, "P")
    im.putpalette([10, 20, 30, 250, 240, 200, 90, 160, 40] + [0] * (253 * 3))
    im.save(tmp_path / "plain.png")
    im.save(tmp_path / "alpha.png", transparency=bytes([255] * 256))
    with Image.open(tmp_path / "alpha.png") as read:
        assert read.mode == "P" and isinstance(read.info["transparency"], bytes)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        target = image_target(tmp_path / "alpha.png")
    assert [str(w.message) for w in caught] == []
    np.testing.assert_array_equal(target, image_target(tmp_path / "plain.png"))


def _small_image_config(monkeypatch):
    """The image fit on 4×6×4 particles and 2 steps (same box and pixels): fast to compile."""
    import astrograd.pm._image as image
    from astrograd.pm import PMConfig

    small = dict(image.IMAGE_CONFIG, ptcl_grid=(4, 6, 4), mesh_shape=(8, 12, 8), num_steps=2)
    monkeypatch.setattr(image, "image_config", lambda dtype="float32": PMConfig(**small, dtype=dtype))


@pytest.mark.filterwarnings("ignore:overflow encountered in cast")
def test_a_learning_rate_that_blows_up_the_noise_is_named(monkeypatch):
    """lr = 1e300 (infinite in float32) made the noise infinite in the first update: the run returned a
    final loss of NaN, and fit_image_to_dir "noise has a non-finite value" from the initial conditions."""
    from astrograd._errors import SimulationError

    _small_image_config(monkeypatch)
    target = np.random.default_rng(0).random((64, 108))
    with pytest.raises(SimulationError, match=r"^the white noise became non-finite in Adam update 1 \(learning_rate "
                                              r"= 1e\+300\); use a smaller learning rate$"):
        fit_image(target, iterations=1, learning_rate=1e300)


def test_torn_or_foreign_checkpoints_are_one_line_errors(tmp_path, monkeypatch):
    import zipfile

    opt = optax.adam(0.1)
    noise = jnp.zeros((4, 5, 6))
    state = FitState(noise=np.asarray(noise), opt_state=opt.init(noise), iteration=2, losses=[1.0, 0.5])
    meta = {"views": 1}
    save_checkpoint(tmp_path / "c.npz", state, meta)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz"]  # no temporary left
    whole = (tmp_path / "c.npz").read_bytes()
    # a zip that breaks off (a file copied in part): zipfile.BadZipFile, a traceback
    (tmp_path / "torn.npz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputError, match=r"^cannot read checkpoint .*torn.npz' as an .npz archive \(BadZipFile\)"):
        load_checkpoint(tmp_path / "torn.npz", opt.init(noise), meta)
    # an .npz with the settings but not the state (another program's file): a KeyError traceback
    np.savez(tmp_path / "other.npz", meta_views=np.asarray(1), noise=np.zeros(3))
    # a checkpoint of another noise shape: its Adam state did not fit and failed inside the update
    small = jnp.zeros((2, 2, 2))
    save_checkpoint(tmp_path / "small.npz", FitState(noise=np.asarray(small), opt_state=opt.init(small), iteration=0),
                    meta)
    for name in ("other.npz", "small.npz"):
        with pytest.raises(InputError, match=rf"^checkpoint .*{name}' is incomplete or of another fit"):
            load_checkpoint(tmp_path / name, opt.init(noise), meta)
    assert zipfile.is_zipfile(tmp_path / "c.npz")
    back = load_checkpoint(tmp_path / "c.npz", opt.init(noise), meta)
    assert back.iteration == 2 and back.losses == [1.0, 0.5]


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
