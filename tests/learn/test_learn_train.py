"""Training driver: resume after SIGKILL gives bit-identical weights; bad input; model files."""

import subprocess
import sys
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from astrograd._errors import InputError, SimulationError
from astrograd.learn import CorrectorResNet, load_weights, read_model_meta, save_model, train

WORKER = Path(__file__).with_name("train_worker.py")


def _run(*args):
    return subprocess.run([sys.executable, str(WORKER), *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def uninterrupted_run(tmp_path_factory):
    """The result file of one uninterrupted 12-update run, computed once for both kinds of
    interruption (the worker is deterministic: same data, starting weights and batch key)."""
    out = tmp_path_factory.mktemp("train_ref") / "ref.npz"
    ref = _run("none", out, 12, 0)
    assert ref.returncode == 0, ref.stderr
    return out


@pytest.mark.parametrize("how", ["SIGKILL", "Ctrl-C"])
def test_resume_after_kill_is_bit_identical(tmp_path, how, uninterrupted_run):
    ck = tmp_path / "state.npz"
    killed = _run(ck, tmp_path / "never.npz", 12, 8 if how == "SIGKILL" else -8)
    if how == "SIGKILL":
        assert killed.returncode == -9  # SIGKILL after update 8; the last checkpoint is at 5
    else:  # Ctrl-C after update 8: stops before update 9 and saves update 8
        assert killed.returncode != 0 and "interrupted after step 8;" in killed.stderr, killed.stderr
    assert ck.exists() and not (tmp_path / "never.npz").exists()
    resumed = _run(ck, tmp_path / "res.npz", 12, 0)
    assert resumed.returncode == 0, resumed.stderr
    a, b = np.load(uninterrupted_run), np.load(tmp_path / "res.npz")
    assert int(b["resumed"]) == (5 if how == "SIGKILL" else 8)
    weights = [k for k in a.files if k.startswith("w")]
    assert weights
    for k in weights:
        np.testing.assert_array_equal(a[k], b[k])
    np.testing.assert_array_equal(a["losses"], b["losses"])
    assert a["losses"][-1] < a["losses"][0]


def _tiny_loss(model, batch):
    dvx, dvy = model(batch[0], batch[1], 50.0)
    return jnp.mean((dvx - 1.0) ** 2) + jnp.mean(dvy**2)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")  # 1e308 in float32: the point
def test_weights_made_non_finite_by_the_last_update_are_refused(tmp_path, key):
    """The loss of an update is that of the weights before it, so non-finite weights after the last
    update went unseen: sol-train --lr 1e308 wrote a model file of NaN weights and exited 0."""
    model = CorrectorResNet(blocks=0, channels=2, key=key)
    batch = (jnp.ones((4, 3)), jnp.ones((5, 2)))
    with pytest.raises(SimulationError, match=r"^training weights became non-finite at update 0; lower the learning "
                       r"rate$"):
        train(_tiny_loss, model, lambda k: batch, steps=1, learning_rate=1e308, key=key, progress=False,
              checkpoint=tmp_path / "c.npz")
    assert not (tmp_path / "c.npz").exists()
    res = train(_tiny_loss, model, lambda k: batch, steps=1, learning_rate=1e-3, key=key, progress=False)
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(eqx.filter(res.model, eqx.is_array)))


class _Capped(eqx.Module):
    w: jax.Array
    cap: jax.Array  # inf, and no gradient reaches it (min(w, inf) = w)


def test_a_weight_that_is_non_finite_from_the_start_is_not_blamed_on_training(key):
    """Review: the check above refused a model whose weight was inf before any update and got
    no gradient ("became non-finite at update 4"), where the old code trained it."""
    model = _Capped(jnp.asarray(0.0), jnp.asarray(jnp.inf))

    def loss(m, batch):
        return (jnp.minimum(m.w, m.cap) - 1.0) ** 2

    res = train(loss, model, lambda k: None, steps=5, learning_rate=0.1, key=key, progress=False)
    assert np.isinf(res.model.cap) and 0.0 < float(res.model.w) < 1.0
    assert res.losses[-1] < res.losses[0]


def test_bad_input_and_mismatched_checkpoint(tmp_path, key):
    model = CorrectorResNet(blocks=0, channels=2, key=key)
    batch = (jnp.ones((4, 3)), jnp.ones((5, 2)))
    kw = dict(key=key, progress=False)
    with pytest.raises(InputError, match="learning_rate"):
        train(_tiny_loss, model, lambda k: batch, steps=1, learning_rate=-1.0, **kw)
    with pytest.raises(InputError, match="steps"):
        train(_tiny_loss, model, lambda k: batch, steps=-2, **kw)
    with pytest.raises(InputError, match="learning_rate = 'fast' is not a number"):
        train(_tiny_loss, model, lambda k: batch, steps=1, learning_rate="fast", **kw)
    with pytest.raises(InputError, match="clip norm = 'x' is not a number"):
        train(_tiny_loss, model, lambda k: batch, steps=1, clip_norm="x", **kw)
    with pytest.raises(InputError, match="key = 0 is not allowed; it must be one PRNG key"):
        train(_tiny_loss, model, lambda k: batch, steps=1, key=0, progress=False)
    ck = tmp_path / "c.npz"
    train(_tiny_loss, model, lambda k: batch, steps=2, checkpoint=ck, **kw)
    with pytest.raises(InputError, match=r"different training run \(learning_rate differ\)"):
        train(_tiny_loss, model, lambda k: batch, steps=3, checkpoint=ck, learning_rate=0.5, **kw)
    # other starting weights or another batch key: another run, refused, naming what differs
    other = CorrectorResNet(blocks=0, channels=2, key=jax.random.fold_in(key, 1))
    with pytest.raises(InputError, match=r"different training run \(start_sha256 differ\)"):
        train(_tiny_loss, other, lambda k: batch, steps=3, checkpoint=ck, **kw)
    with pytest.raises(InputError, match=r"different training run \(key differ\)"):
        train(_tiny_loss, model, lambda k: batch, steps=3, checkpoint=ck, key=jax.random.fold_in(key, 1),
              progress=False)
    with pytest.raises(InputError, match="smaller"):
        train(_tiny_loss, model, lambda k: batch, steps=1, checkpoint=ck, **kw)


def test_model_file_roundtrip(tmp_path, key):
    model = CorrectorResNet(blocks=1, channels=3, key=key)
    save_model(tmp_path / "m.npz", model, {"kind": "test", "channels": 3})
    assert read_model_meta(tmp_path / "m.npz")["channels"] == 3
    other = load_weights(tmp_path / "m.npz", CorrectorResNet(blocks=1, channels=3, key=jax.random.fold_in(key, 9)))
    for a, b in zip(jax.tree.leaves(model), jax.tree.leaves(other), strict=True):
        if hasattr(a, "shape"):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(InputError, match="shape"):
        load_weights(tmp_path / "m.npz", CorrectorResNet(blocks=1, channels=4, key=key))
    with pytest.raises(InputError, match="does not exist"):
        read_model_meta(tmp_path / "missing.npz")


def test_cosine_learning_rate_and_clipping_options(tmp_path):
    import equinox as eqx

    class P(eqx.Module):
        p: jax.Array

    steps, lr, final = 20, 0.1, 0.01

    def loss(m, b):
        return jnp.sum(m.p)  # constant gradient 1: each Adam update is exactly -(learning rate)

    res = train(loss, P(jnp.zeros(1)), lambda k: None, steps=steps, key=jax.random.key(0), learning_rate=lr,
                final_learning_rate=final, progress=False)
    t = np.arange(steps)
    rates = (lr - final) * 0.5 * (1 + np.cos(np.pi * t / steps)) + final  # cosine from lr to final
    np.testing.assert_allclose(float(res.model.p[0]), -rates.sum(), rtol=1e-5)
    # settings that change the updates are part of the checkpoint's fingerprint
    ck = tmp_path / "ck.npz"
    train(loss, P(jnp.zeros(1)), lambda k: None, steps=2, key=jax.random.key(0), clip_norm=1.0, checkpoint=ck,
          progress=False)
    with pytest.raises(InputError, match="different training run"):
        train(loss, P(jnp.zeros(1)), lambda k: None, steps=4, key=jax.random.key(0), clip_norm=2.0, checkpoint=ck,
              progress=False)
    with pytest.raises(InputError, match="clip norm"):
        train(loss, P(jnp.zeros(1)), lambda k: None, steps=2, key=jax.random.key(0), clip_norm=0.0, progress=False)


def test_a_checkpoint_below_a_file_is_refused_before_training(tmp_path):
    import equinox as eqx

    class P(eqx.Module):
        p: jax.Array

    drawn = []
    (tmp_path / "notes.txt").write_text("a file")
    ck = tmp_path / "notes.txt" / "ck.npz"
    # it was found at the first save, after checkpoint_every updates had been computed
    with pytest.raises(InputError, match=r"cannot write .*ck.npz': .*notes.txt' is a file, not a folder"):
        train(lambda m, b: jnp.sum(m.p**2), P(jnp.ones(1)), drawn.append, steps=3, key=jax.random.key(0),
              checkpoint=ck, progress=False)
    assert drawn == []


def test_numpy_integer_step_counts_are_accepted(tmp_path):
    import equinox as eqx

    class P(eqx.Module):
        p: jax.Array

    # np.int64(2) was refused: "steps = 2 is not allowed; it must be an integer >= 0"
    res = train(lambda m, b: jnp.sum(m.p**2), P(jnp.ones(1)), lambda k: None, steps=np.int64(2),
                key=jax.random.key(0), checkpoint=tmp_path / "ck.npz", checkpoint_every=np.int32(1), progress=False)
    assert res.steps == 2 and isinstance(res.steps, int) and len(res.losses) == 2


def test_a_checkpoint_refusal_names_the_fingerprint_entries_that_differ(tmp_path):
    import equinox as eqx

    class P(eqx.Module):
        p: jax.Array

    kw = dict(key=jax.random.key(0), checkpoint=tmp_path / "ck.npz", progress=False)
    train(lambda m, b: jnp.sum(m.p**2), P(jnp.ones(1)), lambda k: None, steps=1,
          fingerprint={"mode": "loop", "batch": 4, "seed": 0}, **kw)
    # it said only "(extra differ)"
    with pytest.raises(InputError, match=r"different training run \(extra differ\); fingerprint entries that "
                                         r"differ: batch, seed; delete it"):
        train(lambda m, b: jnp.sum(m.p**2), P(jnp.ones(1)), lambda k: None, steps=2,
              fingerprint={"mode": "loop", "batch": 8, "seed": 1}, **kw)


def test_progress_must_be_a_bool(key):
    model = CorrectorResNet(blocks=0, channels=2, key=key)
    # "no" was truthy: a progress bar
    with pytest.raises(InputError, match="^progress = 'no' is not allowed; it must be True or False$"):
        train(_tiny_loss, model, lambda k: None, steps=1, key=key, progress="no")
