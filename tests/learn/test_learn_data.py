"""Kármán data generation: an interrupted run continues to the same bytes; layout; bad input."""

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
    # outflow through the top (mass conservation, independent of the data pipeline).
    vy = runs[1]["vy"][-1]
    np.testing.assert_allclose(vy[-1].sum(), vy[0].sum(), rtol=1e-3)


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
