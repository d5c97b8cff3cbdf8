"""Solver-in-the-loop on a tiny Kármán case: gradients through the unrolled solver + network
(float64, reverse vs forward vs finite differences), the in-the-loop loss decreasing, rollouts."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from astrograd.diff import check_grad
from astrograd.flow import karman, simulate
from astrograd.learn import (
    CorrectorResNet,
    SolProblem,
    corrected_step,
    relative_l1,
    rollout,
    rollout_stepwise,
    train,
    unrolled_loss,
)

NX, NY, FRAMES = 10, 20, 6


def _problem(dtype, tol):
    """A tiny problem whose 'reference' is the same geometry run at half the viscosity (so the
    coarse solver has something to be corrected toward)."""
    state, params, config = karman(
        NX, NY, 100.0, 1.0, tol=tol, perturbation=0.05, key=jax.random.key(1), viscosity_scheme="explicit"
    )
    ref_params = eqx.tree_at(lambda p: p.viscosity, params, params.viscosity * 0.5)
    state, _ = simulate(state, ref_params, config, 3)
    _, saved = simulate(state, ref_params, config, FRAMES - 1, save_every=1)
    cast = lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a  # noqa: E731
    params = jax.tree.map(cast, params)
    template = jax.tree.map(cast, state)
    stacked = jax.tree.map(lambda a: a[None], params)
    return SolProblem(
        config,
        stacked,
        jnp.asarray([100.0], dtype),
        saved.vx[None].astype(dtype),
        saved.vy[None].astype(dtype),
        template,
    )


@pytest.mark.slow
def test_gradient_through_unrolled_solver_and_network(x64):
    problem = _problem(jnp.float64, 1e-12)
    model = CorrectorResNet(blocks=1, channels=2, key=jax.random.key(2))
    model = jax.tree.map(lambda a: a.astype(jnp.float64) if eqx.is_inexact_array(a) else a, model)
    diff, static = eqx.partition(model, eqx.is_inexact_array)

    def f(d):
        return unrolled_loss(eqx.combine(d, static), problem, 0, 0, 2)

    report = check_grad(f, diff, num_directions=2, key=jax.random.key(3))
    report.assert_close(rtol=3e-9)  # measured 1.7e-10 (finite differences)
    report.assert_close(rtol=1e-13, pairs=["reverse-forward"])  # both exact: measured 6.7e-15
    # The reverse-mode gradient is not trivially zero.
    g = jax.grad(f)(diff)
    assert float(sum(jnp.sum(jnp.abs(x)) for x in jax.tree.leaves(g))) > 0


@pytest.mark.slow
def test_in_the_loop_training_lowers_the_loss():
    problem = _problem(jnp.float32, 1e-4)
    model = CorrectorResNet(blocks=1, channels=4, key=jax.random.key(4))

    def loss_fn(m, start):
        return jnp.mean(jax.vmap(lambda s: unrolled_loss(m, problem, 0, s, 2))(start))

    def batch(k):
        return jax.random.randint(k, (2,), 0, FRAMES - 2)

    everything = jnp.arange(FRAMES - 2)
    before = float(eqx.filter_jit(loss_fn)(model, everything))
    res = train(loss_fn, model, batch, steps=30, key=jax.random.key(5), learning_rate=3e-3, progress=False)
    after = float(eqx.filter_jit(loss_fn)(res.model, everything))
    assert after < 0.7 * before

    # Rollout of the trained model: same start frame, error against the reference per step.
    vx, vy, status = rollout(res.model, problem, 0, 0, FRAMES - 1)
    assert int(status) == 0
    err = relative_l1(vx, vy, problem.vx[0], problem.vy[0])
    assert float(err[0]) == 0.0 and np.isfinite(np.asarray(err)).all()
    # The step-by-step rollout used by the evaluation gives the same frames and status.
    vx_s, vy_s, status_s = rollout_stepwise(res.model, problem, 0, 0, FRAMES - 1)
    assert vx_s.shape == vx.shape and int(status_s) == int(status)
    np.testing.assert_allclose(np.asarray(vx_s), np.asarray(vx), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(vy_s), np.asarray(vy), rtol=1e-5, atol=1e-6)
    # A plain-solver rollout equals stepping by hand.
    vx0, _, _ = rollout(None, problem, 0, 0, 1)
    s = corrected_step(
        None,
        problem.state(problem.vx[0, 0], problem.vy[0, 0]),
        jax.tree.map(lambda a: a[0], problem.params),
        problem.config,
        100.0,
    )
    np.testing.assert_allclose(np.asarray(vx0[1]), np.asarray(s.vx), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("bad", [0, -1])
def test_relative_l1_is_zero_only_for_the_reference(bad):
    a = jnp.ones((2, 3, 4))
    b = jnp.ones((2, 4, 3))
    assert float(relative_l1(a, b, a, b).max()) == 0.0
    # exact: per frame, Σ|bad − 1| over the 12 x-faces over Σ|1| over all 24 faces
    np.testing.assert_allclose(np.asarray(relative_l1(a * bad, b, a, b)), [abs(bad - 1) / 2] * 2, rtol=1e-6)


def test_init_starts_training_from_a_given_model(tmp_path):
    """``init``: loop training fine-tunes a supervised network; 0 updates leave its weights as
    they are; a model of another architecture or the 'none' model is refused in one line."""
    from astrograd._errors import InputError
    from astrograd.learn._sol import load_corrector, train_sol

    # written directly (generating a file compiles and runs the reference solver: ~10 s); the
    # coarse solver changes the uniform flow around the cylinder, so supervised training moves
    data = _uniform_karman_file(tmp_path / "k.h5", frames=5)
    small = {"blocks": 1, "channels": 4, "progress": False}
    train_sol(data, tmp_path / "sup.npz", mode="supervised", steps=2, **small)
    train_sol(data, tmp_path / "ft.npz", mode="loop", unroll=2, steps=0, init=tmp_path / "sup.npz", **small)
    (sup, _), (ft, meta) = load_corrector(tmp_path / "sup.npz"), load_corrector(tmp_path / "ft.npz")
    assert meta["init"] == str(tmp_path / "sup.npz")
    for a, b in zip(jax.tree.leaves(eqx.filter(sup, eqx.is_array)), jax.tree.leaves(eqx.filter(ft, eqx.is_array)),
                    strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    fresh, _ = load_corrector(train_sol(data, tmp_path / "r.npz", mode="loop", unroll=2, steps=0, **small)["out"])
    assert any(not np.array_equal(np.asarray(a), np.asarray(b)) for a, b in
               zip(jax.tree.leaves(eqx.filter(sup, eqx.is_array)), jax.tree.leaves(eqx.filter(fresh, eqx.is_array)),
                   strict=True))
    with pytest.raises(InputError, match="--init"):
        train_sol(data, tmp_path / "x.npz", mode="loop", steps=0, init=tmp_path / "sup.npz", blocks=2, channels=4,
                  progress=False)
    train_sol(data, tmp_path / "none.npz", mode="none")
    with pytest.raises(InputError, match="--init"):
        train_sol(data, tmp_path / "y.npz", mode="loop", steps=0, init=tmp_path / "none.npz", **small)


def test_rollout_and_evaluation_refuse_frames_outside_the_data(tmp_path):
    from astrograd._errors import InputError
    from astrograd.learn import evaluate_sol, load_corrector, save_model

    problem = _problem(jnp.float32, 1e-3)
    with pytest.raises(InputError, match=r"run = 1 is not allowed; the problem has 1 runs \(0 to 0\)"):
        rollout(None, problem, 1, 0, 2)
    with pytest.raises(InputError, match=r"start = 6 is not allowed; the problem has 6 frames per run"):
        rollout_stepwise(None, problem, 0, FRAMES, 2)
    with pytest.raises(InputError, match="num_steps = -1"):
        rollout(None, problem, 0, 0, -1)
    # checked before the data file is opened
    with pytest.raises(InputError, match="start = 1.5 is not allowed"):
        evaluate_sol(tmp_path / "none.h5", {}, steps=1, start=1.5)
    save_model(tmp_path / "m.npz", CorrectorResNet(blocks=0, channels=2, key=jax.random.key(0)), {"kind": "sol"})
    with pytest.raises(InputError, match="is not a valid sol-train model file"):
        load_corrector(tmp_path / "m.npz")


def _uniform_karman_file(path, split="train", frames=3):
    """A karman-data layout written directly (generating one takes 10 s): one ``split`` run of
    ``frames`` frames of a uniform flow."""
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs.update({"nx": NX, "ny": NY, "dt": 1.0, "frames": frames})
        g = f.create_group("runs/re_150")
        g.attrs.update({"frames_done": frames, "reynolds": 150.0, "split": split})
        g["vx"] = np.full((frames, NY, NX + 1), 0.0, np.float32)
        g["vy"] = np.full((frames, NY + 1, NX), 0.5, np.float32)
    return path


def test_checkpoint_is_tied_to_the_data_not_to_its_file_name(tmp_path):
    """sol-train's checkpoint recorded the data file's name: a file regenerated under the same
    name resumed a checkpoint of other data, and the same data moved elsewhere was refused."""
    import h5py

    from astrograd._errors import InputError
    from astrograd.learn._sol import train_sol

    data = _uniform_karman_file(tmp_path / "k.h5")
    small = {"mode": "supervised", "blocks": 0, "channels": 2, "progress": False, "checkpoint": tmp_path / "ck.npz"}
    train_sol(data, tmp_path / "a.npz", steps=1, **small)
    moved = tmp_path / "moved.h5"
    moved.write_bytes(data.read_bytes())
    assert train_sol(moved, tmp_path / "b.npz", steps=2, **small)["resumed_from"] == 1
    with h5py.File(data, "a") as f:
        f["runs/re_150/vx"][0] += 0.01
    with pytest.raises(InputError, match=r"different training run \(extra differ\)"):
        train_sol(data, tmp_path / "c.npz", steps=3, **small)


def test_numpy_integer_options_give_a_model_file(tmp_path):
    """A numpy integer (blocks, unroll) passed the checks but stayed in the model file's header,
    whose JSON refused it after all the training."""
    from astrograd.learn import load_corrector
    from astrograd.learn._sol import train_sol

    data = _uniform_karman_file(tmp_path / "k.h5")
    out = train_sol(data, tmp_path / "m.npz", mode="loop", unroll=np.int64(2), steps=np.int64(0),
                    blocks=np.int64(0), channels=np.int32(2), kernel=np.int64(3), seed=np.int64(1), progress=False)
    model, meta = load_corrector(out["out"])
    assert meta["unroll"] == 2 and meta["hyper"]["blocks"] == 0 and meta["hyper"]["channels"] == 2
    assert isinstance(model, CorrectorResNet)


def test_cli_sol_train_mode_none_writes_a_no_correction_model(tmp_path):
    """`sol-train --mode none` filled in its training defaults before calling train_sol, which
    refuses training options in that mode: the command always failed ("steps = 500 is not
    allowed with mode 'none'")."""
    from typer.testing import CliRunner

    from astrograd.learn import load_corrector
    from astrograd.learn.cli import app

    data = _uniform_karman_file(tmp_path / "k.h5")
    out = tmp_path / "none.npz"
    result = CliRunner().invoke(app, ["sol-train", "--data", str(data), "--mode", "none", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    model, meta = load_corrector(out)
    assert model is None and meta["mode"] == "none"


def test_rollout_refuses_a_float_frame_index_in_one_line():
    # 1.0 passed the check (int(1.0) == 1.0) and then failed as an index: a raw TypeError
    # ("Indexer must have integer or boolean type")
    from astrograd._errors import InputError

    problem = _problem(jnp.float32, 1e-3)
    with pytest.raises(InputError, match=r"^start = 1.0 is not allowed; it must be an integer index \(0 to 5\)$"):
        rollout(None, problem, 0, 1.0, 1)
    with pytest.raises(InputError, match=r"^run = 0.0 is not allowed; it must be an integer index \(0 to 0\)$"):
        rollout_stepwise(None, problem, 0.0, 1, 1)
    vx, _, _ = rollout_stepwise(None, problem, np.int64(0), jnp.asarray(1), 1)  # integers of any kind
    np.testing.assert_array_equal(np.asarray(vx[0]), np.asarray(problem.vx[0, 1]))


def _sol_model_file(path, mode="supervised"):
    """A tiny sol-train model file for the NX x NY grid (a network, or no correction for ``none``)."""
    from astrograd.learn import save_model
    from astrograd.learn._sol import make_corrector

    hyper = {"blocks": 0, "channels": 2, "kernel": 3, "reynolds_scale": 1000.0}
    meta = {"kind": "sol", "mode": mode, "unroll": 1, "hyper": hyper, "nx": NX, "ny": NY}
    model = eqx.nn.Identity() if mode == "none" else make_corrector(hyper, jax.random.key(3))
    return save_model(path, model, meta)


def test_evaluate_sol_keeps_the_uncorrected_solver_apart_from_a_network_labelled_none(tmp_path):
    """A network labelled "none" replaced the uncorrected solver's entry: its errors were
    reported as those of the solver alone, and the solver's were lost."""
    from astrograd._errors import InputError
    from astrograd.learn import evaluate_sol

    data = _uniform_karman_file(tmp_path / "k.h5", split="test")
    net = _sol_model_file(tmp_path / "net.npz")
    with pytest.raises(InputError, match=r"^model label 'none' \(.*\) is not allowed; 'none' is the uncorrected "
                                         r"solver \(always included\): choose another label$"):
        evaluate_sol(data, {"none": net}, steps=1)
    # a no-correction file under "none" is the uncorrected solver itself: one entry, as without it
    alone = evaluate_sol(data, {}, steps=1)
    both = evaluate_sol(data, {"none": _sol_model_file(tmp_path / "none.npz", "none"), "net": net}, steps=1)
    assert list(both["errors"]) == ["none", "net"]
    np.testing.assert_array_equal(both["errors"]["none"], alone["errors"]["none"])


@pytest.mark.parametrize("label", ["a/b", ".", ""])
def test_evaluate_sol_refuses_labels_that_are_no_dataset_name(tmp_path, label):
    # "a/b" was written to eval.h5 as dataset b of a group a, "." and "" failed writing it
    from astrograd._errors import InputError
    from astrograd.learn import evaluate_sol

    data = _uniform_karman_file(tmp_path / "k.h5", split="test")
    with pytest.raises(InputError, match=f"^model label {label!r} is not allowed; it must be a non-empty name"):
        evaluate_sol(data, {label: _sol_model_file(tmp_path / "net.npz")}, steps=1)


def test_unrolled_loss_refuses_frames_past_the_data():
    """JAX clamps an index past the data: unrolled_loss from the last frames compared the
    rollout with the last reference frame repeated, a wrong loss without an error; unroll = 0
    was NaN (the mean of no steps)."""
    from astrograd._errors import InputError

    problem = _problem(jnp.float32, 1e-3)
    assert np.isfinite(float(unrolled_loss(None, problem, 0, FRAMES - 3, 2)))  # frames 4 and 5: the last
    with pytest.raises(InputError, match=r"^start = 4 with unroll = 2 is not allowed; the problem has 6 frames per "
                                         r"run: start \+ unroll must be at most 5$"):
        unrolled_loss(None, problem, 0, FRAMES - 2, 2)
    with pytest.raises(InputError, match=r"^run = 1 is not allowed"):
        unrolled_loss(None, problem, 1, 0, 2)
    with pytest.raises(InputError, match=r"^unroll = 0 is not allowed"):
        unrolled_loss(None, problem, 0, 0, 0)
