"""Kármán-street data for solver-in-the-loop training: reference runs at ``factor`` × the coarse
resolution, down-sampled to the coarse staggered grid, stored in HDF5; generation is resumable.

HDF5 layout (one file):
  /                attrs: nx, ny (coarse cells), factor, dt, warmup, frames, width, height,
                   radius, perturbation, seed, version (2: each run's perturbation key is
                   folded from its Reynolds number; 1: from its position in the list of runs)
  /runs/<name>     attrs: reynolds, split ("train" or "test"), frames_done
    vx             (frames, ny, nx+1)  down-sampled x-face velocity (length/time)
    vy             (frames, ny+1, nx)  down-sampled y-face velocity
    resume/        the fine FlowState after the last stored frame (to continue the run; attrs:
                   frames_done); resume_new/ while a newer one is being written
Frame 0 is the state after ``warmup`` fine steps; frame k is k steps of ``dt`` later.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import h5py
import jax
import jax.numpy as jnp
import numpy as np

from astrograd._cli_util import ProgressBar
from astrograd._errors import INT32_MAX, InputError, check_bool, check_choice, check_int, check_positive, check_seed
from astrograd.flow import FlowState, karman, simulate
from astrograd.io._paths import file_to_read, file_to_write

TRAIN_REYNOLDS = (97.7, 195.3, 390.6, 781.3, 1562.5, 3125.0)
TEST_REYNOLDS = (73.2, 293.0, 1172.0, 4688.0)
# 2: each run's PRNG key is derived from its Reynolds number (1: from its position in the list)
_VERSION = 2
_READABLE_VERSIONS = (1, 2)
_NEW_STATE = "resume_new"  # the fine state being written, until it replaces resume/


def coarse_scene(nx: int, ny: int, reynolds: float, dt: float = 1.0):
    """The coarse solver of the book: Kármán geometry on ``nx × ny`` cells, semi-Lagrangian
    advection, explicit viscosity, CG pressure (tol 1e-3). Returns ``(state, params, config)``."""
    return karman(nx, ny, reynolds, dt, viscosity_scheme="explicit", tol=1e-3)


def fine_scene(nx: int, ny: int, reynolds: float, dt: float, factor: int, perturbation: float, key):
    """The reference solver: ``factor`` × finer grid, implicit viscosity (stable at any Re),
    CG tolerance 1e-4, small random cross-stream perturbation to trigger shedding."""
    check_int("factor", factor, 1)
    check_positive("perturbation", perturbation, allow_zero=True)
    kw = {"perturbation": perturbation, "key": key} if perturbation > 0 else {}
    return karman(factor * nx, factor * ny, reynolds, dt, viscosity_scheme="implicit", tol=1e-4, **kw)


def downsample(vx, vy, factor: int):
    """Average fine staggered velocities onto the coarse faces that coincide with fine faces:
    ``vx (F ny, F nx+1) -> (ny, nx+1)`` (mean over the F fine faces inside each coarse face),
    ``vy (F ny+1, F nx) -> (ny+1, nx)``. Conserves the flux through every coarse face."""
    check_int("factor", factor, 1)
    fy, fx1 = vx.shape[-2:]
    if fy % factor or (fx1 - 1) % factor or vy.shape[-2:] != (fy + 1, fx1 - 1):
        raise InputError(
            f"vx {vx.shape[-2:]} and vy {vy.shape[-2:]} are not staggered velocities of a grid whose cell "
            f"counts are multiples of factor = {factor}"
        )
    ny, nx = fy // factor, (fx1 - 1) // factor
    cx = vx[..., :, ::factor].reshape(*vx.shape[:-2], ny, factor, nx + 1).mean(axis=-2)
    cy = vy[..., ::factor, :].reshape(*vy.shape[:-2], ny + 1, nx, factor).mean(axis=-1)
    return cx, cy


def run_name(reynolds: float) -> str:
    return f"re_{reynolds:g}"


#: Largest frame, warm-up step or chunk count (int32, the solver loop's step counter).
MAX_COUNT = INT32_MAX


def generate_karman_data(
    path: str | Path,
    *,
    train_reynolds=TRAIN_REYNOLDS,
    test_reynolds=TEST_REYNOLDS,
    nx: int = 32,
    ny: int = 64,
    factor: int = 4,
    dt: float = 1.0,
    frames: int = 500,
    warmup: int = 2400,
    chunk: int = 25,
    perturbation: float = 0.01,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Generate (or continue) the reference runs into ``path``; see the module docstring.

    Re-running with the same settings continues an interrupted file where it stopped (each
    ``chunk`` of frames is flushed with the fine state needed to continue); a file written with
    different settings is refused. Returns the path.
    """
    for name, v, low in (
        ("nx", nx, 2),
        ("ny", ny, 2),
        ("factor", factor, 1),
        ("frames", frames, 2),
        ("warmup", warmup, 0),
        ("chunk", chunk, 1),
    ):
        # the solver loop counts steps in int32 and the file stores the counts as integers: 10**20
        # frames left a file without its attributes and a TypeError traceback
        check_int(name, v, low, MAX_COUNT)
    dt = check_positive("dt", dt)
    check_positive("perturbation", perturbation, allow_zero=True)
    check_seed(seed)
    progress = check_bool("progress", progress)  # "no" would be truthy
    runs = []
    for split, values in (("train", train_reynolds), ("test", test_reynolds)):
        # text was read character by character ("15": Reynolds numbers 1 and 5)
        if isinstance(values, str | bytes) or not np.iterable(values):
            raise InputError(f"{split}_reynolds = {values!r} is not allowed; it must be a list of numbers")
        runs += [(check_positive("Reynolds number", r), split) for r in values]  # True was Re 1
    if not runs:
        raise InputError("no Reynolds numbers given; pass at least one training or test Reynolds number")
    names = set()
    for r, _ in runs:
        check_positive("Reynolds number", r)
        if run_name(r) in names:
            raise InputError(f"Reynolds number {r:g} is given twice; each run needs its own Reynolds number")
        names.add(run_name(r))
        # before the file is created: a grid the coarse solver cannot use would otherwise leave a
        # file whose settings every corrected rerun refuses
        try:
            coarse_scene(nx, ny, r, dt)
        except InputError as err:
            raise InputError(
                f"the coarse solver cannot run on nx = {nx}, ny = {ny} at Reynolds number {r:g}: {err}"
            ) from None
    attrs = {
        "nx": nx,
        "ny": ny,
        "factor": factor,
        "dt": dt,
        "warmup": warmup,
        "frames": frames,
        "width": 100.0,
        "height": 200.0,
        "radius": 10.0,
        "perturbation": float(perturbation),
        "seed": seed,
        "version": _VERSION,
    }
    # a folder was "cannot open ... as HDF5 (... Is a directory ...)", below a file an OSError
    path = file_to_write(path, "karman.h5")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = jax.random.key(seed)
    total = len(runs) * (warmup + frames - 1)
    try:
        f = h5py.File(path, "a")
    except OSError as err:
        raise InputError(f"cannot open {str(path)!r} as HDF5 ({err})") from None
    with f:
        if "nx" in f.attrs:
            # a version-1 file is continued with its own (positional) keys, so that its runs stay
            # those an uninterrupted version-1 generation would have written
            stored_version = f.attrs.get("version")
            # int() of a version that is not an integer ('abc', an array) was a traceback; such a
            # file is refused below as holding another version
            if isinstance(stored_version, int | np.integer) and int(stored_version) in _READABLE_VERSIONS:
                attrs["version"] = int(stored_version)
            for k, v in attrs.items():
                if k not in f.attrs or not np.all(np.asarray(f.attrs[k]) == np.asarray(v)):
                    held = f.attrs.get(k)
                    held = held.item() if isinstance(held, np.generic) else held  # 16, not np.int64(16)
                    raise InputError(
                        f"{str(path)!r} holds data with {k} = {held!r}, not {v!r}; use another --out or delete it"
                    )
        else:
            f.attrs.update(attrs)
        runs_group = f.require_group("runs")
        # a stored run keeps its split and Reynolds number: a rerun that lists it under the other
        # split (or a number that rounds to its name) used to be skipped without a word
        for reynolds, split in runs:
            stored = runs_group.get(run_name(reynolds))
            if stored is None or "split" not in stored.attrs:
                continue
            was = (float(stored.attrs["reynolds"]), str(stored.attrs["split"]))
            if was != (reynolds, split):
                raise InputError(
                    f"{str(path)!r} holds a {was[1]} run at Reynolds number {was[0]!r}, not a {split} run at "
                    f"{reynolds!r}; use another --out or delete it"
                )
        with ProgressBar(total, description="karman-data", enabled=progress) as bar:
            for index, (reynolds, split) in enumerate(runs):
                run_key = run_key_v1(key, index) if attrs["version"] == 1 else run_key_for(key, reynolds)
                _generate_run(runs_group, reynolds, split, attrs, run_key, chunk, bar)
    return path


def run_key_for(key, reynolds: float):
    """The PRNG key of the run at ``reynolds``: the data key with the two 32-bit halves of the
    float64 Reynolds number folded in, so that a run's data do not depend on which other runs are
    listed or in what order."""
    bits = int(np.float64(reynolds).view(np.uint64))
    return jax.random.fold_in(jax.random.fold_in(key, bits >> 32), bits & 0xFFFFFFFF)


def run_key_v1(key, index: int):
    """The key of version-1 files: folded from the run's position in the list of runs (train
    runs first, then test runs). Kept to continue such files as they were begun."""
    return jax.random.fold_in(key, index)


def _generate_run(runs_group, reynolds, split, attrs, key, chunk, bar):
    nx, ny, factor, dt = attrs["nx"], attrs["ny"], attrs["factor"], attrs["dt"]
    frames, warmup = attrs["frames"], attrs["warmup"]
    g = runs_group.require_group(run_name(reynolds))
    if "frames_done" not in g.attrs:
        g.attrs.update({"reynolds": reynolds, "split": split, "frames_done": 0})
        g.create_dataset("vx", (frames, ny, nx + 1), dtype="f4")
        g.create_dataset("vy", (frames, ny + 1, nx), dtype="f4")
    done = int(g.attrs["frames_done"])
    if done >= frames:
        for name in ("resume", _NEW_STATE):  # interrupted after the last frame was stored, before removal
            if name in g:
                del g[name]
        bar.advance(warmup + frames - 1)
        return
    state, params, config = fine_scene(
        nx, ny, reynolds, dt, factor, attrs["perturbation"], key
    )
    if done == 0:
        if warmup:
            state, _ = simulate(state, params, config, warmup)
        bar.advance(warmup, status=f"Re {reynolds:g} warm-up")
        cx, cy = downsample(state.vx, state.vy, factor)
        g["vx"][0], g["vy"][0] = np.asarray(cx), np.asarray(cy)
        done = 1
        _store_state(g, state, done)
    else:
        state = _load_state(g, state)
        bar.advance(warmup + done - 1)
    while done < frames:
        n = min(chunk, frames - done)
        state, saved = simulate(state, params, config, n, save_every=1)
        cx, cy = downsample(saved.vx[1:], saved.vy[1:], factor)
        g["vx"][done : done + n], g["vy"][done : done + n] = np.asarray(cx), np.asarray(cy)
        done += n
        _store_state(g, state, done)
        bar.advance(n, status=f"Re {reynolds:g}")
    del g["resume"]
    g.file.flush()


def _store_state(g, state: FlowState, done: int) -> None:
    """Store the fine state after frame ``done`` and then ``frames_done``, so that an interruption
    at any point leaves a state that matches ``frames_done``: the new state is written whole to
    ``resume_new`` (its attribute ``frames_done`` says which frame it follows) before it replaces
    ``resume`` (overwriting ``resume`` field by field left, when interrupted, a state mixing two
    frames, continued without a word into data unlike an uninterrupted run)."""
    if _NEW_STATE in g:  # a write interrupted before frames_done moved: not the state in use
        del g[_NEW_STATE]
    r = g.create_group(_NEW_STATE)
    for field in dataclasses.fields(state):
        r.create_dataset(field.name, data=np.asarray(getattr(state, field.name)))
    r.attrs["frames_done"] = done
    g.file.flush()
    g.attrs["frames_done"] = done
    g.file.flush()
    if "resume" in g:
        del g["resume"]
    g.move(_NEW_STATE, "resume")
    g.file.flush()


def _resume_group(g):
    """The stored state that follows the run's ``frames_done`` frames: ``resume``, or
    ``resume_new`` when an interruption came between the two steps of :func:`_store_state`."""
    done = int(g.attrs["frames_done"])
    new = g.get(_NEW_STATE)
    if new is not None and "frames_done" in new.attrs and int(new.attrs["frames_done"]) == done:
        return new
    # a file written before resume_new/ existed has no frames_done attribute on resume/
    if "resume" in g and int(g["resume"].attrs.get("frames_done", done)) == done:
        return g["resume"]
    raise InputError(f"{g.file.filename!r}: run {g.name} has no stored state after frame {done} to continue from; "
                     "delete the file to generate it again")


def _load_state(g, template: FlowState) -> FlowState:
    r = _resume_group(g)
    return FlowState(
        **{
            f.name: jnp.asarray(r[f.name][()], dtype=getattr(template, f.name).dtype)
            for f in dataclasses.fields(template)
        }
    )


def load_karman_data(path: str | Path, split: str | None = None) -> tuple[dict, list[dict]]:
    """Read a data file: ``(attrs, runs)`` where each run is a dict with ``reynolds``, ``split``,
    ``vx (frames, ny, nx+1)``, ``vy (frames, ny+1, nx)`` (complete runs only; optionally only
    one split)."""
    if split is not None:
        check_choice("split", split, ("train", "test"))
    path = file_to_read(path, "data file", "an HDF5 file", "create it with `astrograd learn karman-data`")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise InputError(f"cannot read {str(path)!r} as HDF5 ({err})") from None
    with f:
        if "runs" not in f or "nx" not in f.attrs:
            raise InputError(f"{str(path)!r} is not a karman-data file (no /runs group)")
        # a file of another layout used to end in a KeyError from h5py (a traceback in the CLI)
        missing = [k for k in ("ny", "dt", "frames") if k not in f.attrs]
        if missing:
            raise InputError(f"{str(path)!r} is not a karman-data file (no attribute {missing[0]!r})")
        attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}
        nx, ny, frames = int(attrs["nx"]), int(attrs["ny"]), int(attrs["frames"])
        runs = []
        for name, g in f["runs"].items():
            if not isinstance(g, h5py.Group):
                raise InputError(f"{str(path)!r}: /runs/{name} is not a run group")
            missing = [k for k in ("frames_done", "reynolds", "split") if k not in g.attrs]
            missing += [k for k in ("vx", "vy") if k not in g]
            if missing:
                raise InputError(f"{str(path)!r}: run /runs/{name} has no {missing[0]!r}; it is not a karman-data run")
            shapes = (g["vx"].shape, g["vy"].shape)
            if shapes != ((frames, ny, nx + 1), (frames, ny + 1, nx)):
                raise InputError(
                    f"{str(path)!r}: run /runs/{name} has vx {shapes[0]} and vy {shapes[1]}; the file's frames, "
                    f"nx, ny need {(frames, ny, nx + 1)} and {(frames, ny + 1, nx)}"
                )
            if int(g.attrs["frames_done"]) < frames:
                continue
            if split is not None and g.attrs["split"] != split:
                continue
            runs.append(
                {
                    "reynolds": float(g.attrs["reynolds"]),
                    "split": str(g.attrs["split"]),
                    "vx": np.asarray(g["vx"]),
                    "vy": np.asarray(g["vy"]),
                }
            )
    runs.sort(key=lambda r: r["reynolds"])
    return attrs, runs
