"""Kármán data generation: an interrupted run continues to the same bytes; layout; bad input."""

import re

import h5py
import numpy as np
import pytest

import astrograd.learn._karman as karman_mod
from astrograd._errors import InputError
from astrograd.learn import fine_scene, generate_karman_data, load_karman_data

KW = dict(
    train_reynolds=(150.0,), test_reynolds=(80.0,), nx=10, ny=20, factor=1, frames=7, warmup=2, chunk=2, progress=False
)


def test_interrupted_generation_resumes_to_identical_data(tmp_path, monkeypatch):
    ref = generate_karman_data(tmp_path / "ref.h5", **KW)
    real = karman_mod.simulate
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:  # warm-up, chunk, chunk, then interrupted in the third chunk
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(karman_mod, "simulate", flaky)
    with pytest.raises(KeyboardInterrupt):
        generate_karman_data(tmp_path / "part.h5", **KW)
    with h5py.File(tmp_path / "part.h5", "r") as f:
        done = {k: int(g.attrs["frames_done"]) for k, g in f["runs"].items()}
    assert sorted(done.values()) == [5]  # first run stopped after 5 of 7 frames, second not started
    monkeypatch.setattr(karman_mod, "simulate", real)
    generate_karman_data(tmp_path / "part.h5", **KW)

    attrs, runs_ref = load_karman_data(ref)
    _, runs = load_karman_data(tmp_path / "part.h5")
    assert [r["reynolds"] for r in runs] == [80.0, 150.0] and [r["split"] for r in runs] == ["test", "train"]
    for a, b in zip(runs_ref, runs, strict=True):
        assert a["vx"].shape == (7, 20, 11) and a["vy"].shape == (7, 21, 10)
        np.testing.assert_array_equal(a["vx"], b["vx"])
        np.testing.assert_array_equal(a["vy"], b["vy"])
    assert attrs["nx"] == 10 and attrs["factor"] == 1
    # The stored flow is incompressible in the fluid: the inflow through the bottom equals the
    # outflow through the top (mass conservation, independent of the data pipeline), in every
    # stored frame of both runs (measured: at most 1.6e-4 relative, the solver's CG tolerance;
    # only the last frame of one run was checked, where it is 4.3e-6)
    for run in runs:
        np.testing.assert_allclose(run["vy"][:, -1].sum(axis=1), run["vy"][:, 0].sum(axis=1), rtol=1e-3)


def test_settings_mismatch_and_bad_input(tmp_path):
    generate_karman_data(tmp_path / "d.h5", **{**KW, "frames": 2, "test_reynolds": ()})
    with pytest.raises(InputError, match="frames"):
        generate_karman_data(tmp_path / "d.h5", **{**KW, "frames": 3, "test_reynolds": ()})
    with pytest.raises(InputError, match="Reynolds"):
        generate_karman_data(tmp_path / "e.h5", **{**KW, "train_reynolds": (-5.0,)})
    with pytest.raises(InputError, match="factor"):
        generate_karman_data(tmp_path / "e.h5", **{**KW, "factor": 0})
    with pytest.raises(InputError, match="does not exist"):
        load_karman_data(tmp_path / "nope.h5")
    with pytest.raises(InputError, match="is a directory; give an HDF5 file"):  # before: "does not exist"
        load_karman_data(tmp_path)
    with pytest.raises(InputError, match="unknown split 'validation'; choose one of: train, test"):
        load_karman_data(tmp_path / "d.h5", "validation")
    with pytest.raises(InputError, match="perturbation = nan"):
        generate_karman_data(tmp_path / "e.h5", **{**KW, "perturbation": float("nan")})
    with pytest.raises(InputError, match="seed = 1.5 is not allowed; it must be an integer"):
        generate_karman_data(tmp_path / "e.h5", **{**KW, "seed": 1.5})
    with pytest.raises(InputError, match="train_reynolds = 150.0 is not allowed"):
        generate_karman_data(tmp_path / "e.h5", **{**KW, "train_reynolds": 150.0})
    with pytest.raises(InputError, match="Reynolds number 150 is given twice"):
        generate_karman_data(tmp_path / "e.h5", **{**KW, "test_reynolds": (150.0,)})
    (tmp_path / "notes.h5").write_text("not HDF5")
    with pytest.raises(InputError, match="cannot open .*notes.h5' as HDF5"):
        generate_karman_data(tmp_path / "notes.h5", **KW)
    with pytest.raises(InputError, match="factor = 1.5"):
        fine_scene(10, 20, 100.0, 1.0, 1.5, 0.0, None)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        # text was read character by character: "15" made runs at Reynolds numbers 1 and 5
        ({"train_reynolds": "15"}, "train_reynolds = '15' is not allowed; it must be a list of numbers"),
        # True was a run at Reynolds number 1
        ({"test_reynolds": (True,)}, "Reynolds number = True is not allowed; it must be a finite number > 0"),
        ({"progress": "no"}, "progress = 'no' is not allowed; it must be True or False"),
    ],
)
def test_reynolds_lists_and_flags_are_checked_before_the_file_is_made(tmp_path, kwargs, message):
    with pytest.raises(InputError, match=re.escape(message)):
        generate_karman_data(tmp_path / "k.h5", **{**KW, **kwargs})
    assert not (tmp_path / "k.h5").exists()


def test_a_grid_the_coarse_solver_cannot_use_is_refused_before_the_file_is_made(tmp_path):
    # the file used to be created first, and every corrected rerun was refused ("holds data with nx = 8")
    path = tmp_path / "k.h5"
    with pytest.raises(InputError, match="the coarse solver cannot run on nx = 8, ny = 16 at Reynolds number 150: "
                                         "inflow depth 5 is thinner than one cell"):
        generate_karman_data(path, **{**KW, "nx": 8, "ny": 16})
    assert not path.exists()


TINY = {**KW, "frames": 2, "warmup": 0, "test_reynolds": ()}


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    """A complete file of one 2-frame training run (generated once: compiling takes ~10 s)."""
    return generate_karman_data(tmp_path_factory.mktemp("tiny") / "d.h5", **TINY)


def test_a_stored_run_listed_under_the_other_split_is_refused(tmp_path, tiny_file):
    path = tmp_path / "d.h5"
    path.write_bytes(tiny_file.read_bytes())
    # it was skipped as "already done": the file kept Re 150 as a training run
    with pytest.raises(InputError, match=re.escape(
            f"{str(path)!r} holds a train run at Reynolds number 150.0, not a test run at 150.0; use another --out")):
        generate_karman_data(path, **{**TINY, "train_reynolds": (), "test_reynolds": (150.0,)})
    # and a Reynolds number that rounds to the same run name continued the stored one
    with pytest.raises(InputError, match="not a train run at 150.0000001"):
        generate_karman_data(path, **{**TINY, "train_reynolds": (150.0000001,)})
    generate_karman_data(path, **TINY)  # the same: fine


def test_a_complete_run_loses_its_resume_state_when_continued(tmp_path, tiny_file):
    """An interruption between storing the last frame and removing the fine resume state left
    the state in the file for good ("removed when complete"): reruns skipped the finished run."""
    path = tmp_path / "d.h5"
    path.write_bytes(tiny_file.read_bytes())
    with h5py.File(path, "a") as f:
        assert "resume" not in f["runs/re_150"]
        f["runs/re_150"].create_group("resume")["vx"] = np.zeros((20, 11))
    generate_karman_data(path, **TINY)
    with h5py.File(path, "r") as f:
        assert "resume" not in f["runs/re_150"]


def test_a_folder_or_a_path_below_a_file_is_refused_as_data_file(tmp_path):
    with pytest.raises(InputError, match="it is a directory; give a file name such as .*karman.h5'$"):
        generate_karman_data(tmp_path, **KW)  # was "cannot open ... as HDF5 (... errno = 21 ...)"
    (tmp_path / "notes.txt").write_text("a file")
    with pytest.raises(InputError, match="notes.txt' is a file, not a folder"):  # was a FileExistsError
        generate_karman_data(tmp_path / "notes.txt" / "k.h5", **KW)


def test_train_sol_refuses_a_folder_as_model_file_before_training(tmp_path):
    from astrograd.learn import train_sol

    # the folder was found only when the trained model was saved
    with pytest.raises(InputError, match="cannot write .*: it is a directory; give a file name such as .*model.npz"):
        train_sol(tmp_path / "no-data.h5", tmp_path, mode="supervised")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mode": "supervised", "unroll": 2},
         "unroll = 2 is not allowed with mode 'supervised'; it applies to mode 'loop'"),
        ({"mode": "none", "unroll": 4}, "unroll = 4 is not allowed with mode 'none'"),
        ({"mode": "none", "init": "sup.npz"}, "init = 'sup.npz' is not allowed with mode 'none'; it trains no network"),
        ({"mode": "none", "checkpoint": "c.npz"}, "checkpoint = 'c.npz' is not allowed with mode 'none'"),
        # the training options were ignored in mode none (the command refused them)
        ({"mode": "none", "steps": 5}, "steps = 5 is not allowed with mode 'none'; it trains no network"),
        ({"mode": "none", "batch": 2}, "batch = 2 is not allowed with mode 'none'"),
        ({"mode": "none", "learning_rate": 0.1}, "learning_rate = 0.1 is not allowed with mode 'none'"),
        ({"mode": "none", "blocks": 1}, "blocks = 1 is not allowed with mode 'none'"),
        ({"mode": "none", "channels": 8}, "channels = 8 is not allowed with mode 'none'"),
        ({"mode": "none", "kernel": 5}, "kernel = 5 is not allowed with mode 'none'"),
        ({"mode": "none", "seed": 1}, "seed = 1 is not allowed with mode 'none'"),
        ({"mode": "none", "checkpoint_every": 5}, "checkpoint_every = 5 is not allowed with mode 'none'"),
        # "no" was truthy
        ({"mode": "none", "progress": "no"}, "progress = 'no' is not allowed; it must be True or False"),
    ],
)
def test_train_sol_refuses_options_its_mode_does_not_use(tmp_path, kwargs, message):
    from astrograd.learn import train_sol

    # they were accepted and ignored (a supervised run "with unroll 2" trained one-step pairs)
    with pytest.raises(InputError, match=re.escape(message)):
        train_sol(tmp_path / "no-data.h5", tmp_path / "m.npz", **kwargs)


def test_a_file_of_another_layout_is_a_one_line_input_error(tmp_path):
    # each of these was a KeyError from h5py (a traceback from `astrograd learn sol-train`)
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f.attrs.update({"nx": 8, "frames": 2})
        f.create_group("runs")
    with pytest.raises(InputError, match="is not a karman-data file \\(no attribute 'ny'\\)"):
        load_karman_data(path)
    with h5py.File(path, "a") as f:
        f.attrs.update({"ny": 4, "dt": 1.0})
        g = f.create_group("runs/re_1")
        g.attrs.update({"frames_done": 2, "reynolds": 1.0, "split": "train"})
    with pytest.raises(InputError, match="run /runs/re_1 has no 'vx'; it is not a karman-data run"):
        load_karman_data(path)
    with h5py.File(path, "a") as f:
        f["runs/re_1/vx"] = np.zeros((2, 3, 3))
        f["runs/re_1/vy"] = np.zeros((2, 3, 3))
    with pytest.raises(InputError, match=r"has vx \(2, 3, 3\) and vy \(2, 3, 3\); .* need \(2, 4, 9\) and \(2, 5, 8\)"):
        load_karman_data(path)


def test_an_interrupted_store_of_the_resume_state_continues_to_identical_data(tmp_path, monkeypatch):
    """The fine state was overwritten in resume/ field by field: interrupted after vx and vy, the
    next run continued from the new velocities with the old time, pressure and marker (of two
    chunks earlier, as frames_done said) into data unlike an uninterrupted run, without a word."""
    import dataclasses

    ref = generate_karman_data(tmp_path / "ref.h5", **KW)
    _, runs_ref = load_karman_data(ref)
    real_fields, real_move = dataclasses.fields, h5py.Group.move

    class InterruptedFields:  # the third store (after the second chunk) stops after two fields
        calls = 0

        @classmethod
        def fields(cls, obj):
            cls.calls += 1
            for i, field in enumerate(real_fields(obj)):
                if cls.calls == 3 and i == 2:
                    raise KeyboardInterrupt
                yield field

    moves = {"n": 0}

    def interrupted_move(self, source, dest):  # the third store stops after frames_done moved
        moves["n"] += 1
        if moves["n"] == 3:
            raise KeyboardInterrupt
        return real_move(self, source, dest)

    for name, patch in (("fields", lambda: monkeypatch.setattr(karman_mod, "dataclasses", InterruptedFields)),
                        ("move", lambda: monkeypatch.setattr(h5py.Group, "move", interrupted_move))):
        path = tmp_path / f"{name}.h5"
        patch()
        with pytest.raises(KeyboardInterrupt):
            generate_karman_data(path, **KW)
        monkeypatch.undo()
        generate_karman_data(path, **KW)
        _, runs = load_karman_data(path)
        for a, b in zip(runs_ref, runs, strict=True):
            np.testing.assert_array_equal(a["vx"], b["vx"])
            np.testing.assert_array_equal(a["vy"], b["vy"])
        with h5py.File(path, "r") as f:
            assert all(set(g) == {"vx", "vy"} for g in f["runs"].values())  # no state left once complete


def _run_arrays(path):
    return {r["reynolds"]: (r["vx"], r["vy"]) for r in load_karman_data(path)[1]}


def test_a_run_gets_the_same_data_whatever_the_other_runs(tmp_path):
    """Each run's PRNG key used to be folded from its position in the list of runs: listing
    another run first (or reordering the list) changed the perturbation, hence the data, of every
    run after it. Now it is folded from the run's Reynolds number."""
    small = {**KW, "frames": 2, "warmup": 1}
    alone = _run_arrays(generate_karman_data(tmp_path / "alone.h5", **small))
    more = _run_arrays(
        generate_karman_data(tmp_path / "more.h5", **{**small, "train_reynolds": (120.0, 150.0)})
    )
    assert sorted(more) == [80.0, 120.0, 150.0]
    for reynolds in (80.0, 150.0):
        for a, b in zip(alone[reynolds], more[reynolds], strict=True):
            np.testing.assert_array_equal(a, b)
    # the key still matters: a different seed gives different data
    other = _run_arrays(generate_karman_data(tmp_path / "seed.h5", **{**small, "seed": 1}))
    assert not np.array_equal(other[150.0][0], alone[150.0][0])
    with h5py.File(tmp_path / "alone.h5", "r") as f:
        assert int(f.attrs["version"]) == 2


def test_a_version_1_file_continues_with_its_positional_keys(tmp_path, monkeypatch):
    """A file begun by the old code (version 1, keys from the list position) is continued with
    those keys, to the data an uninterrupted old generation writes."""
    small = {**KW, "frames": 3, "warmup": 1, "chunk": 1}
    monkeypatch.setattr(karman_mod, "_VERSION", 1)  # what the old code wrote
    full = _run_arrays(generate_karman_data(tmp_path / "v1.h5", **small))
    real = karman_mod.simulate
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # after the first run's warm-up and first frame
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(karman_mod, "simulate", flaky)
    with pytest.raises(KeyboardInterrupt):
        generate_karman_data(tmp_path / "part.h5", **small)
    monkeypatch.setattr(karman_mod, "simulate", real)
    monkeypatch.setattr(karman_mod, "_VERSION", 2)
    resumed = _run_arrays(generate_karman_data(tmp_path / "part.h5", **small))
    with h5py.File(tmp_path / "part.h5", "r") as f:
        assert int(f.attrs["version"]) == 1
    for reynolds in (80.0, 150.0):  # the test run (index 1) was begun after the resume
        for a, b in zip(full[reynolds], resumed[reynolds], strict=True):
            np.testing.assert_array_equal(a, b)
    new = _run_arrays(generate_karman_data(tmp_path / "v2.h5", **small))
    assert not np.array_equal(new[80.0][0], full[80.0][0])  # the keys did change


@pytest.mark.parametrize("version", ["abc", np.array([1, 2])])
def test_a_file_with_a_version_that_is_not_an_integer_is_refused_in_one_line(tmp_path, version):
    """int() of the stored version was a ValueError/TypeError traceback; the refusal also showed
    numpy reprs ("nx = np.int64(16)")."""
    path = tmp_path / "k.h5"
    with h5py.File(path, "w") as f:
        f.attrs["nx"] = np.int64(KW["nx"])
        f.attrs["version"] = version
    with pytest.raises(InputError, match=r"holds data with ny = None, not \d+; use another --out or delete it$"):
        generate_karman_data(path, **KW)
    with h5py.File(path, "a") as f:
        f.attrs["nx"] = np.int64(KW["nx"] + 1)
    with pytest.raises(InputError, match=rf"holds data with nx = {KW['nx'] + 1}, not {KW['nx']}; "):
        generate_karman_data(path, **KW)
