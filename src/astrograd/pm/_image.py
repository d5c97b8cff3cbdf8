"""Initial conditions that draw an image: targets (text or a picture file), the projected
particle images along one or two axes, the loss, and an Adam fit of the white noise."""

from __future__ import annotations

import os
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float

from astrograd._cli_util import StopBetweenSteps
from astrograd._errors import (
    InputError,
    SimulationError,
    check_bool,
    check_finite_array,
    check_int,
    check_key,
    check_positive,
    check_seed,
)
from astrograd.cosmo import Cosmology
from astrograd.io._npz import sha256_of
from astrograd.io._paths import atomic_replace, file_to_read
from astrograd.pm._config import PMConfig, as_integer
from astrograd.pm._nbody import positions
from astrograd.pm._observables import projection
from astrograd.pm._simulate import simulate

#: pmwd's setup (Li et al. 2022, arXiv:2211.09958, Fig. 1).
IMAGE_CONFIG = dict(
    ptcl_grid=(16, 27, 16), mesh_shape=(32, 54, 32), box_size=(160.0, 270.0, 160.0),
    a_start=1.0 / 64.0, a_stop=1.0, num_steps=63, lpt_order=2,
)
IMAGE_SHAPE = (64, 108)
PIXEL_SIZE = 2.5
#: projection axis per view; the image rows are the other 160 Mpc/h axis, columns the 270 one.
VIEW_AXES = {1: (2,), 2: (2, 0)}


def text_target(text: str, shape: tuple[int, int] = IMAGE_SHAPE) -> Float[np.ndarray, "h w"]:
    """Render ``text`` in matplotlib's bundled DejaVu Sans, as large as fits in ``shape``
    (rows, columns) pixels; returns ink coverage in [0, 1] (1 = glyph)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not isinstance(text, str | None):
        raise InputError(f"text = {text!r} is not allowed; give a string with at least one visible character")
    if not text or not text.strip():
        raise InputError(f"text = {text!r} is empty; give at least one visible character")
    h, w = shape
    dpi = 100.0

    def render(size):
        fig = Figure(figsize=(w / dpi, h / dpi), dpi=dpi)
        canvas = FigureCanvasAgg(fig)
        fig.patch.set_facecolor("black")
        # parse_math=False: the text as typed ('$\frac$' was a mathtext traceback, '5$ and 6$' italics)
        t = fig.text(0.5, 0.5, text, color="white", fontsize=size, ha="center", va="center",
                     family="DejaVu Sans", weight="bold", parse_math=False, usetex=False)
        canvas.draw()
        bbox = t.get_window_extent(canvas.get_renderer())
        img = np.asarray(canvas.buffer_rgba())[..., 0].astype(np.float64) / 255.0
        return img, bbox.width, bbox.height

    size = 0.8 * h * 72.0 / dpi
    _, bw, bh = render(size)
    size *= min(0.92 * w / max(bw, 1e-9), 0.8 * h / max(bh, 1e-9))
    img, _, _ = render(size)
    img = img[:h, :w]
    if img.max() <= 0:  # '\u200b' (zero width) drew nothing: var(target) = 0 divided the loss by zero
        raise InputError(f"text = {text!r} draws nothing (no visible glyph); give at least one visible character")
    return img


def image_target(path: str | Path, shape: tuple[int, int] = IMAGE_SHAPE) -> Float[np.ndarray, "h w"]:
    """Read a picture (PNG, JPEG, …), convert to grey, resize to ``shape`` (rows, columns).
    Returns intensity in [0, 1] where 1 is where the matter should go: bright pixels, or dark
    pixels if the picture is mostly bright (dark drawing on a light background). Transparent
    pixels take the background that contrasts with the opaque ones (a logo on a transparent
    background); 16-bit and floating-point pictures keep their full range."""
    from PIL import Image, UnidentifiedImageError

    path = file_to_read(path, "image file", "a picture file (PNG, JPEG, ...)")
    try:
        with Image.open(path) as im:
            if im.mode == "P" and isinstance(im.info.get("transparency"), bytes):
                # a palette with one alpha per entry: converting it to "L" warned (twice from the
                # CLI) that it should be converted to RGBA first, which is what happens here; the
                # grey levels are the same (one luminance formula)
                im = im.convert("RGBA")
            grey = _grey_of(im)
            if grey is None:  # 8-bit, opaque
                grey = im.convert("L").resize((shape[1], shape[0]), Image.Resampling.LANCZOS)
                arr = np.asarray(grey, dtype=np.float64) / 255.0
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as err:
        raise InputError(f"cannot read {str(path)!r} as an image ({type(err).__name__})") from None
    if isinstance(grey, np.ndarray):
        if not np.all(np.isfinite(grey)):
            raise InputError(f"image {str(path)!r} has non-finite pixel values; it must hold finite numbers")
        resized = Image.fromarray(grey.astype(np.float32), "F").resize((shape[1], shape[0]), Image.Resampling.LANCZOS)
        arr = np.clip(np.asarray(resized, np.float64), 0.0, 1.0)  # as the 8-bit path's overshoot is clipped
    if arr.mean() > 0.5:
        arr = 1.0 - arr
    if arr.max() - arr.min() < 1e-6:
        raise InputError(f"image {str(path)!r} is uniform; it has nothing to draw")
    return (arr - arr.min()) / (arr.max() - arr.min())


def _grey_of(im) -> np.ndarray | None:
    """Grey level in [0, 1] of a PIL image at its own size, or None for an opaque 8-bit picture
    (read through ``convert("L")``). ``convert("L")`` clipped 16-bit values at 255 (a 16-bit PNG
    came out nearly white) and dropped the alpha channel (a black logo on a transparent
    background was read as uniform)."""
    if im.mode.startswith("I;16"):
        return np.asarray(im, np.float64) / 65535.0
    if im.mode in ("I", "F"):  # no fixed range: the picture's own
        arr = np.asarray(im, np.float64)
        if not np.all(np.isfinite(arr)):
            return arr
        span = arr.max() - arr.min()
        return (arr - arr.min()) / span if span > 0 else np.zeros_like(arr)
    if not (im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info):
        return None
    rgba = im.convert("RGBA")
    # the uint8 alpha channel first: most RGBA pictures are opaque, and a float64 copy of all four
    # channels before this test cost 5x the memory and 2-4x the time of the opaque path
    alpha8 = rgba.getchannel("A")
    if alpha8.getextrema()[0] >= 255:
        return None
    alpha = np.asarray(alpha8, np.float64) / 255.0
    grey = np.asarray(rgba.convert("L"), np.float64) / 255.0
    opaque_mean = (grey * alpha).sum() / max(alpha.sum(), 1e-12)
    background = 1.0 if opaque_mean < 0.5 else 0.0
    return alpha * grey + (1.0 - alpha) * background


def normalise_target(ink: np.ndarray, num_ptcl: int) -> np.ndarray:
    """Scale ink coverage so the target holds all particles: particles per pixel."""
    return ink / ink.sum() * num_ptcl


def view_images(disp: Float[Array, "n 3"], config: PMConfig, views: int) -> Float[Array, "v h w"]:
    """Particles per 2.5 Mpc/h pixel projected along each view axis, as (rows, columns) images:
    along axis 2 → (x, y); along axis 0 → (z, y)."""
    pos = positions(disp, config)
    images = []
    for axis in VIEW_AXES[views]:
        img = projection(pos, config.box_size, axis, pixel_size=PIXEL_SIZE)
        images.append(img if axis == 2 else img.T)
    return jnp.stack(images)


def image_loss(images: Float[Array, "v h w"], target: Float[Array, "h w"]) -> Float[Array, ""]:
    """Mean over views of var(image − target) / var(target)."""
    return jnp.mean(jnp.var(images - target[None], axis=(1, 2)) / jnp.var(target))


def image_config(dtype: str = "float32") -> PMConfig:
    return PMConfig(**IMAGE_CONFIG, dtype=dtype)


def image_cosmology() -> Cosmology:
    return Cosmology(omega_m=0.3, omega_b=0.05, h=0.7, n_s=0.96, sigma8=0.8)


def make_loss_fn(target, views: int, config: PMConfig | None = None, cosmo: Cosmology | None = None):
    """loss(noise) -> scalar, and images(noise) -> (views, 64, 108)."""
    config = image_config() if config is None else config
    cosmo = image_cosmology() if cosmo is None else cosmo
    target = jnp.asarray(target, dtype=config.float_dtype)

    def images(noise):
        disp, _ = simulate(noise, cosmo, config)
        return view_images(disp, config, views)

    def loss(noise):
        return image_loss(images(noise), target)

    return loss, images


@dataclass
class FitState:
    """Everything needed to resume: white noise, Adam state, iteration, loss history, frames."""

    noise: np.ndarray
    opt_state: object
    iteration: int
    losses: list[float] = field(default_factory=list)
    frames: list[np.ndarray] = field(default_factory=list)
    frame_iterations: list[int] = field(default_factory=list)


def save_checkpoint(path: Path, state: FitState, meta: dict) -> None:
    """Write the fit state to an ``.npz`` file atomically: a temporary file in the same folder,
    flushed to disk, then ``os.replace`` (a kill at any moment leaves the old or the new file)."""
    leaves = jax.tree.leaves(state.opt_state)
    data = {
        "noise": np.asarray(state.noise),
        "iteration": np.int64(state.iteration),
        "losses": np.asarray(state.losses, dtype=np.float64),
        "frames": np.asarray(state.frames) if state.frames else np.zeros((0,)),
        "frame_iterations": np.asarray(state.frame_iterations, dtype=np.int64),
        "num_opt_leaves": np.int64(len(leaves)),
        **{f"opt_{i}": np.asarray(x) for i, x in enumerate(leaves)},
        **{f"meta_{k}": np.asarray(v) for k, v in meta.items()},
    }
    with atomic_replace(Path(path)) as tmp, open(tmp, "wb") as f:
        np.savez(f, **data)
        f.flush()
        os.fsync(f.fileno())


def load_checkpoint(path: Path, opt_template, meta: dict) -> FitState:
    """Read a checkpoint written by :func:`save_checkpoint`; its settings must match ``meta`` and
    its Adam state the shapes and dtypes of ``opt_template``."""
    try:
        loaded = np.load(path)  # an empty file is an EOFError; a .npy file gives one array
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive")
        with loaded as f:
            data = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:  # a torn zip: BadZipFile, was a traceback
        raise InputError(f"cannot read checkpoint {str(path)!r} as an .npz archive ({type(err).__name__}); delete "
                         "it or use another checkpoint file (--out)") from None
    for k, v in meta.items():
        stored = data.get(f"meta_{k}")
        if stored is None or not np.array_equal(stored, np.asarray(v)):
            scalar = not isinstance(v, str) and np.size(v) == 1 and stored is not None and stored.size == 1
            # an image target or a hash is named, not printed
            was = f"with {k} = {stored.item()!r}, not {v!r}" if scalar else f"for another {k}"
            raise InputError(
                f"checkpoint {str(path)!r} was written {was}; use the same settings or another checkpoint file (--out)"
            )
    template = jax.tree.leaves(opt_template)
    try:
        leaves = [jnp.asarray(data[f"opt_{i}"]) for i in range(int(data["num_opt_leaves"]))]
        state = FitState(
            noise=data["noise"], opt_state=jax.tree.unflatten(jax.tree.structure(opt_template), leaves),
            iteration=int(data["iteration"]), losses=[float(x) for x in data["losses"]],
            frames=list(data["frames"]) if data["frames"].ndim > 1 else [],
            frame_iterations=[int(i) for i in data["frame_iterations"]],
        )
        fits = all(a.shape == jnp.shape(b) and a.dtype == jnp.result_type(b)
                   for a, b in zip(leaves, template, strict=True))
    except (KeyError, ValueError, TypeError):  # a member missing or of another kind: a KeyError traceback
        fits = False
    if not fits:
        raise InputError(f"checkpoint {str(path)!r} is incomplete or of another fit (its arrays do not fit this "
                         "one); delete it or use another checkpoint file (--out)")
    return state


def _check_fit_settings(views, iterations, learning_rate) -> int:
    """InputError for a bad ``views`` (1 or 2), ``iterations`` (>= 1) or ``learning_rate``
    (> 0); returns ``iterations`` as an int."""
    if isinstance(views, bool) or views not in VIEW_AXES:
        raise InputError(f"views = {views!r} is not allowed; choose 1 or 2")
    iterations = check_int("iterations", as_integer(iterations), 1)
    check_positive("learning_rate", learning_rate)
    return iterations


def fit_image(
    target: np.ndarray,
    *,
    views: int = 1,
    iterations: int = 100,
    learning_rate: float = 0.1,
    key=None,
    checkpoint: Path | None = None,
    checkpoint_every: int = 100,
    num_frames: int = 40,
    callback: Callable[[int, float], None] | None = None,
) -> tuple[FitState, dict]:
    """Adam on the white noise so that the projected particles at a = 1 draw ``target``
    (ink coverage, (64, 108)). Resumes from ``checkpoint`` if it exists and saves to it every
    ``checkpoint_every`` iterations, at the end, and on Ctrl-C (after the current iteration).

    Returns the final state (``losses[i]`` is the loss before update i; the last entry is
    the loss of the final noise) and timing information.
    """
    iterations = _check_fit_settings(views, iterations, learning_rate)
    checkpoint_every = check_int("checkpoint_every", as_integer(checkpoint_every), 1)
    check_int("num_frames", as_integer(num_frames), 1)
    if key is not None:
        check_key("key", key)
    config = image_config()
    target = _check_target(target)
    target = normalise_target(target, config.num_ptcl)
    loss_fn, images_fn = make_loss_fn(target, views, config)
    optimiser = optax.adam(learning_rate)
    key = jax.random.key(0) if key is None else key
    noise0 = jax.random.normal(key, config.ptcl_grid, dtype=config.float_dtype)
    # the starting noise stands for the key (--seed): another seed is another fit
    meta = {"views": views, "learning_rate": float(learning_rate), "target": target.astype(np.float32),
            "starting_noise": sha256_of(noise0)}

    @jax.jit
    def update(noise, opt_state):
        loss, grad = jax.value_and_grad(loss_fn)(noise)
        upd, opt_state = optimiser.update(grad, opt_state, noise)
        noise = optax.apply_updates(noise, upd)
        return noise, opt_state, loss, jnp.all(jnp.isfinite(noise))

    images_jit = jax.jit(images_fn)
    loss_jit = jax.jit(loss_fn)
    if checkpoint is not None and Path(checkpoint).exists():
        state = load_checkpoint(Path(checkpoint), optimiser.init(noise0), meta)
        if np.shape(state.noise) != noise0.shape:
            raise InputError(f"checkpoint {str(checkpoint)!r} holds noise of shape {np.shape(state.noise)}, not "
                             f"{noise0.shape}; delete it or use another checkpoint file (--out)")
        if state.iteration > iterations:  # it reported the later state as the result of `iterations`
            raise InputError(f"checkpoint {str(checkpoint)!r} is at iteration {state.iteration}, past iterations = "
                             f"{iterations}; ask for at least {state.iteration} or use another checkpoint")
    else:
        state = FitState(noise=np.asarray(noise0), opt_state=optimiser.init(noise0), iteration=0)
    frame_every = max(1, iterations // max(1, num_frames))
    noise = jnp.asarray(state.noise)
    opt_state = state.opt_state
    t_compile = time.perf_counter()
    jax.block_until_ready(update.lower(noise, opt_state).compile())
    t_compile = time.perf_counter() - t_compile
    t0 = time.perf_counter()
    done_here = 0
    ckpt = None if checkpoint is None else Path(checkpoint)
    with StopBetweenSteps(ckpt is not None) as stop:
        while state.iteration < iterations:
            stop.check(lambda _: save_checkpoint(ckpt, state, meta), state.iteration, ckpt)
            if state.iteration % frame_every == 0 and state.iteration not in state.frame_iterations:
                state.frames.append(np.asarray(images_jit(noise)))
                state.frame_iterations.append(state.iteration)
            noise, opt_state, loss, noise_finite = update(noise, opt_state)
            loss = float(loss)
            if not np.isfinite(loss):
                raise SimulationError(f"the image loss became {loss} at iteration {state.iteration}")
            if not noise_finite:  # was "noise has a non-finite value" from the ICs written after the run
                raise SimulationError(f"the white noise became non-finite in Adam update {state.iteration + 1} "
                                      f"(learning_rate = {learning_rate:g}); use a smaller learning rate")
            state.losses.append(loss)
            state.iteration += 1
            done_here += 1
            state.noise, state.opt_state = noise, opt_state
            if callback is not None:
                callback(state.iteration, loss)
            if ckpt is not None and state.iteration % checkpoint_every == 0:
                save_checkpoint(ckpt, state, meta)
    seconds = time.perf_counter() - t0
    final_loss = float(loss_jit(noise))
    if not np.isfinite(final_loss):
        raise SimulationError(f"the image loss became {final_loss} at iteration {state.iteration}")
    if not state.frame_iterations or state.frame_iterations[-1] != state.iteration:
        state.frames.append(np.asarray(images_jit(noise)))
        state.frame_iterations.append(state.iteration)
    state.noise = np.asarray(noise)
    if checkpoint is not None:
        save_checkpoint(Path(checkpoint), state, meta)
    info = {
        "final_loss": final_loss,
        "compile_seconds": t_compile,
        "seconds_per_iteration": seconds / max(1, done_here),
        "target": target,
    }
    return state, info


def _check_target(target) -> np.ndarray:
    """The target as float64 (IMAGE_SHAPE, finite, >= 0, not uniform), else InputError."""
    try:
        target = np.asarray(target, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"target = {target!r} is not allowed; give an image of {IMAGE_SHAPE} numbers") from None
    if target.shape != IMAGE_SHAPE:
        raise InputError(f"target has shape {target.shape}; it must be {IMAGE_SHAPE} (rows, columns)")
    check_finite_array("target", target)
    if target.min() < 0:
        raise InputError(f"target has a negative value {target.min():g}; it must be ink coverage >= 0")
    if target.max() - target.min() <= 0:
        raise InputError("target is uniform; it has nothing to draw")
    return target


#: pmwd's published losses for "pmwd", one projection, Adam lr 0.1 (REFERENCES.md).
PMWD_LOSSES = {1: 1.13, 100: 0.36, 300: 0.24, 3000: 0.196}


def fit_image_to_dir(
    out: Path,
    *,
    text: str | None = "pmwd",
    image: Path | None = None,
    views: int = 1,
    iterations: int = 100,
    learning_rate: float = 0.1,
    seed: int = 0,
    checkpoint: bool = False,
    checkpoint_every: int = 100,
    progress: bool = True,
) -> dict:
    """Run :func:`fit_image` and write target/initial/final figures, the loss curve, a GIF,
    the optimised initial conditions (``ics.h5``) and the loss history (``losses.txt``).
    Returns a JSON-ready summary (``final_loss``, ``losses`` after each tenth of the run,
    ``seconds_per_iteration``, file names)."""
    from astrograd._cli_util import ProgressBar
    from astrograd.pm._lpt import linear_modes, lpt
    from astrograd.pm._plots import plot_images, plot_loss, write_gif
    from astrograd.pm._snapshot import write_initial_conditions

    check_bool("checkpoint", checkpoint)
    check_bool("progress", progress)
    key = jax.random.key(check_seed(seed))
    _check_fit_settings(views, iterations, learning_rate)  # before ``out`` is created
    checkpoint_every = check_int("checkpoint_every", as_integer(checkpoint_every), 1)
    ink = image_target(image) if image is not None else text_target(text)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "checkpoint.npz" if checkpoint else None
    with ProgressBar(iterations, "fit-image", enabled=progress) as bar:
        start = None

        def callback(i, loss):
            nonlocal start
            if start is None:
                start = i - 1
                bar.advance(start)
            bar.advance(1, status=f"loss {loss:.4f}")

        state, info = fit_image(ink, views=views, iterations=iterations, learning_rate=learning_rate,
                                key=key, checkpoint=ckpt, checkpoint_every=checkpoint_every,
                                callback=callback)
    history = state.losses + [info["final_loss"]]  # history[i]: loss after i updates
    tenths = [history[round(j * iterations / 10)] for j in range(1, 11)]
    target = info["target"]
    view_names = {2: "along z", 0: "along x"}
    names = [view_names[a] for a in VIEW_AXES[views]]
    files = {
        "target": plot_images(out / "target.png", [target], ["target (particles / pixel)"]).name,
        "initial": plot_images(out / "initial.png", list(state.frames[0]), [f"initial, {n}" for n in names],
                               f"loss {history[0]:.3f}").name,
        "final": plot_images(out / "final.png", list(state.frames[-1]), [f"after {iterations} it., {n}" for n in names],
                             f"loss {history[-1]:.3f}").name,
        "loss": plot_loss(out / "loss.png", history, PMWD_LOSSES if views == 1 else None).name,
        "gif": write_gif(out / "fit.gif", state.frames, state.frame_iterations).name,
    }
    config, cosmo = image_config(), image_cosmology()
    noise = jnp.asarray(state.noise)
    disp, mom = lpt(linear_modes(noise, cosmo, config), cosmo, config)
    files["ics"] = write_initial_conditions(out / "ics.h5", noise, disp, mom, cosmo, config,
                                            {"final_loss": info["final_loss"], "views": views}).name
    np.savetxt(out / "losses.txt", np.asarray(history), header="loss after i Adam updates, i = 0, 1, ...")
    files["losses"] = "losses.txt"
    return {
        "final_loss": info["final_loss"],
        "initial_loss": history[0],
        "losses": tenths,
        "iterations": iterations,
        "views": views,
        "learning_rate": learning_rate,
        "seconds_per_iteration": info["seconds_per_iteration"],
        "compile_seconds": info["compile_seconds"],
        "out": str(out),
        "files": files,
    }
