"""OP/CFE control: reference paths, the multi-scale objective, direct optimisation through the
solver, and a tiny staged training run with held-out evaluation."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from astrograd._errors import InputError
from astrograd.learn import (
    ControlSettings,
    control_config,
    controlled_rollout,
    direct_optimisation,
    draw_pairs,
    evaluate_control,
    make_pairs,
    path_marker,
    relative_mae,
    shape_marker,
    smoothed_error,
    train_control,
)
from astrograd.learn._control import loss_scales

WEIGHTS = Path(__file__).parents[2] / "src" / "astrograd" / "learn" / "weights"


def test_path_starts_and_ends_on_the_pair_and_keeps_the_area(key):
    n = 64
    shapes, centres = draw_pairs(key, 3, n)
    start, target = make_pairs(key, 3, n)
    for i in range(3):
        np.testing.assert_array_equal(np.asarray(path_marker(shapes[i], centres[i], 0.0, n)), np.asarray(start[i]))
        np.testing.assert_array_equal(np.asarray(path_marker(shapes[i], centres[i], 1.0, n)), np.asarray(target[i]))
        for f in (0.25, 0.5, 0.75):
            m = path_marker(shapes[i], centres[i], f, n)
            # a sharp shape (not a cross-fade: mostly 0 or 1) of the same area (as advection
            # by an incompressible flow would keep it)
            area = (1 - f) * float(start[i].sum()) + f * float(target[i].sum())
            np.testing.assert_allclose(float(m.sum()), area, rtol=5e-3)
            mid = float(jnp.mean((m > 0.1) & (m < 0.9)))
            assert mid < 0.06
            # its centre of mass moves on the straight line between the two centres
            x = jnp.arange(n) + 0.5
            com = jnp.array([(m.sum(axis=0) * x).sum(), (m.sum(axis=1) * x).sum()]) / m.sum()
            expect = (1 - f) * centres[i, 0] + f * centres[i, 1]
            np.testing.assert_allclose(np.asarray(com), np.asarray(expect), atol=0.05)  # measured 2.5e-3


def test_smoothed_error_pulls_a_distant_marker_toward_its_target(x64):
    n = 64
    target = shape_marker(0, jnp.array([48.0, 32.0]), n)

    def loss(cx, scales):
        return smoothed_error(shape_marker(0, jnp.array([cx, 32.0]), n), target, scales)

    # σ = 0 is the relative squared error: 2 when the shapes do not overlap, 0 when equal
    np.testing.assert_allclose(float(loss(24.0, (0.0,))), 2.0, rtol=1e-12)  # measured 4.1e-14
    assert float(loss(48.0, loss_scales(n, "multiscale"))) == 0.0
    # far apart, the squared error gives no gradient toward the target (measured 2.0e-13, round-
    # off); the wide scales do
    assert abs(float(jax.grad(loss)(24.0, (0.0,)))) < 5e-12
    g = float(jax.grad(loss)(24.0, loss_scales(n, "multiscale")))
    assert g < -1e-3
    # and the gradient is the derivative of the objective (central difference)
    h = 1e-4
    fd = (loss(24.0 + h, loss_scales(n, "multiscale")) - loss(24.0 - h, loss_scales(n, "multiscale"))) / (2 * h)
    np.testing.assert_allclose(g, float(fd), rtol=3e-9)  # measured 1.5e-10


def test_direct_optimisation_moves_the_marker_onto_the_target():
    n, steps = 16, 4
    config = control_config(n)
    start = shape_marker(0, jnp.array([6.0, 8.0]), n, radius=2.5)
    target = shape_marker(0, jnp.array([10.0, 8.0]), n, radius=2.5)
    final, losses = jax.jit(
        lambda a, b: direct_optimisation(
            a, b, config, steps, iterations=40, learning_rate=0.05, scales=loss_scales(n, "multiscale")
        )
    )(start, target)
    before = float(relative_mae(start, target))
    after = float(relative_mae(final, target))
    assert before > 1.0
    assert after < 0.5 * before
    assert float(losses[-1]) < 0.3 * float(losses[0])


def test_train_control_refuses_a_folder_as_model_file_before_training(tmp_path, monkeypatch):
    import astrograd.learn._control as control_mod

    def no_training(*args, **kwargs):
        raise AssertionError("the networks were trained before the model file was checked")

    monkeypatch.setattr(control_mod, "train", no_training)
    settings = ControlSettings(n=16, levels=1, channels=2, train_pairs=2, test_pairs=1, batch=1)
    with pytest.raises(InputError, match="cannot write .*: it is a directory; give a file name such as .*control.npz"):
        train_control(settings, tmp_path, progress=False)


def test_settings_reject_unknown_names():
    with pytest.raises(InputError, match="unknown loss 'l1'"):
        ControlSettings(loss="l1").check()
    with pytest.raises(InputError, match="unknown OP target 'fade'"):
        ControlSettings(op_target="fade").check()


@pytest.mark.parametrize(
    "name, label",
    [
        ("learning_rate", "learning rate"),
        ("force_weight", "force weight"),
        ("e2e_final_learning_rate", "end-to-end final learning rate"),
        ("clip_norm", "clip norm"),
    ],
)
def test_settings_refuse_a_bool_as_a_number(name, label):
    # True was taken as 1.0 (and stored so in the checkpoint fingerprint)
    with pytest.raises(InputError, match=f"^{label} = True is not allowed; it must be a finite number"):
        ControlSettings(**{name: True}).check()


def test_settings_read_numeric_text_and_numpy_numbers_as_python_numbers():
    """Numeric text was refused ("is not allowed; it must be a finite number"), unlike every other
    config (check_positive reads it); a numpy integer passed the check but stayed in the settings,
    and the model file's JSON header refused it after all the training."""
    import json
    from dataclasses import asdict

    s = ControlSettings(n=np.int64(16), levels=np.int32(1), batch=np.int64(2), seed=np.int64(3),
                        learning_rate="2e-3", force_weight="0", e2e_final_learning_rate=np.float32(0.5),
                        clip_norm="1.5")
    s.check()
    assert (s.learning_rate, s.force_weight, s.e2e_final_learning_rate, s.clip_norm) == (2e-3, 0.0, 0.5, 1.5)
    assert (s.n, s.levels, s.batch, s.seed) == (16, 1, 2, 3)
    assert json.loads(json.dumps(asdict(s)))["learning_rate"] == 2e-3
    with pytest.raises(InputError, match="^learning rate = 'fast' is not a number"):
        ControlSettings(learning_rate="fast").check()


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: ControlSettings(n=16, levels=2.5).check(), "levels = 2.5 is not allowed"),
        (lambda: ControlSettings(n=16, levels=1, seed=1.5).check(), "seed = 1.5 is not allowed"),
        (lambda: draw_pairs(5, 2, 16), "key = 5 is not allowed; it must be one PRNG key"),
        (lambda: make_pairs(jax.random.key(0), 2, 0), "resolution n = 0"),
        (lambda: path_marker(jnp.array([0, 1]), jnp.full((2, 2), 8.0), 2.0, 16),
         r"fraction = 2 is outside the allowed range \[0, 1\]"),
        (lambda: smoothed_error(jnp.ones((8, 8)), jnp.ones((8, 8)), ()), "scales is empty"),
        (lambda: smoothed_error(jnp.ones((8, 8)), jnp.ones((8, 8)), (float("nan"),)), "scale = nan"),
        # an empty target: 0/0, the error was NaN
        (lambda: relative_mae(jnp.ones((2, 8, 8)), jnp.stack([jnp.ones((8, 8)), jnp.zeros((8, 8))])),
         "target 1 is zero everywhere"),
        (lambda: smoothed_error(jnp.ones((8, 8)), jnp.zeros((8, 8)), (0.0,)), "target 0 is zero everywhere"),
        (lambda: controlled_rollout(None, jnp.zeros((16, 16)), jnp.zeros((16, 16)), control_config(16), 2,
                                    psi_direct=jnp.zeros((1, 16, 16))),
         r"psi_direct has shape \(1, 16, 16\); it must be \(num_steps, n, n\) = \(2, 16, 16\)"),
        (lambda: controlled_rollout(None, jnp.zeros((16, 16)), jnp.zeros((16, 16)), control_config(16), 0,
                                    psi_direct=jnp.zeros((0, 16, 16))), "num_steps = 0"),
        (lambda: direct_optimisation(jnp.zeros((16, 16)), jnp.zeros((16, 16)), control_config(16), 1,
                                     learning_rate=-0.05), "learning rate = -0.05"),
        (lambda: direct_optimisation(jnp.zeros((16, 16)), jnp.zeros((16, 16)), control_config(16), 1,
                                     iterations=-1), "iterations = -1"),
    ],
)
def test_bad_input_is_one_line_input_error(call, match):
    with pytest.raises(InputError, match=match) as err:
        call()
    assert "\n" not in str(err.value)


# The control nets of the tests below (and of test_tiny_staged_training_and_evaluation) all have
# 4 channels and 1 level, in float32: their eager initialisation compiles a random draw for each
# new weight shape (seconds), so they share these shapes and, where they can, one built instance.
TINY = {"channels": 4, "levels": 1}


@pytest.fixture(scope="module")
def tiny_nets():
    """Untrained float32 ControlNets of size TINY (module scope: set up before the x64 fixture)."""
    from astrograd.learn import ControlNets

    return ControlNets(**TINY, key=jax.random.key(7))


@pytest.fixture(scope="module")
def zero_nets():
    """ControlNets of size TINY with every weight 0, built abstractly (compiles nothing): for
    model files whose weights are never run (the refusals below)."""
    import equinox as eqx

    from astrograd.learn import ControlNets

    shapes = eqx.filter_eval_shape(ControlNets, **TINY, key=jax.random.key(7))
    return jax.tree.map(lambda x: np.zeros(x.shape, x.dtype) if isinstance(x, jax.ShapeDtypeStruct) else x, shapes)


@pytest.fixture(scope="module")
def tiny_control_file(tmp_path_factory, zero_nets):
    """A valid control model file (tiny nets, weights never run) to call evaluate_control on."""
    from dataclasses import asdict

    from astrograd.learn import save_model

    s = ControlSettings(n=16, num_steps=2, **TINY)
    path = tmp_path_factory.mktemp("control") / "tiny.npz"
    return save_model(path, zero_nets, {"kind": "control", "settings": asdict(s)})


@pytest.mark.parametrize(
    "options, match",
    [({"direct_learning_rate": float("nan")}, "direct learning rate = nan"), ({"seed": "a"}, "seed = 'a'")],
)
def test_bad_evaluation_options_are_one_line_input_errors(tiny_control_file, options, match):
    with pytest.raises(InputError, match=match) as err:
        evaluate_control(tiny_control_file, **options)
    assert "\n" not in str(err.value)


def test_more_direct_pairs_than_pairs_are_refused(tiny_control_file):
    # they were cut down to the pairs silently
    with pytest.raises(InputError, match=r"^direct pairs = 3 is not allowed; it must be at most the number of "
                                         r"held-out pairs = 2$"):
        evaluate_control(tiny_control_file, pairs=2, direct_pairs=3)
    with pytest.raises(InputError, match="direct pairs = 17 .* held-out pairs = 16"):  # the model's test_pairs
        evaluate_control(tiny_control_file, direct_pairs=17)
    from typer.testing import CliRunner

    from astrograd.learn.cli import app

    result = CliRunner().invoke(app, ["control-eval", "--checkpoint", str(tiny_control_file), "--pairs", "2",
                                      "--direct-pairs", "3", "--out", str(tiny_control_file.parent / "eval")])
    assert result.exit_code == 2, result.output
    err = result.stderr if hasattr(result, "stderr") else result.output
    assert err.strip().splitlines() == [
        "error: --direct-pairs = 3 is not allowed; it must be at most the number of held-out pairs = 2"
    ]


def test_flags_must_be_bools(tmp_path, monkeypatch):
    """progress="no" was truthy (a progress bar)."""
    import astrograd.learn._control as control_mod

    monkeypatch.setattr(control_mod, "train", lambda *a, **k: pytest.fail("trained"))
    settings = ControlSettings(n=16, levels=1, channels=2, train_pairs=2, test_pairs=1, batch=1)
    with pytest.raises(InputError, match="^progress = 'no' is not allowed; it must be True or False$"):
        train_control(settings, tmp_path / "c.npz", progress="no")


def test_shipped_tour_weights_load():
    """load_control accepts the shipped tour model file: run abstractly (eqx.filter_eval_shape),
    it does all its checks (kind, settings, number and shapes of the weights) without building
    the nets (an eager build compiles each weight shape: ~10 s)."""
    import equinox as eqx

    from astrograd.learn import load_control

    nets, s = eqx.filter_eval_shape(load_control, WEIGHTS / "tour_control.npz")
    assert isinstance(s, ControlSettings) and s.channels == nets.op.head.weight.shape[1]


def test_model_file_with_foreign_settings_is_refused(tmp_path, zero_nets):
    from astrograd.learn import load_control, save_model

    save_model(tmp_path / "m.npz", zero_nets, {"kind": "control", "settings": {"n": 16, "colour": "red"}})
    with pytest.raises(InputError, match="is not a valid control-train model file"):
        load_control(tmp_path / "m.npz")


def test_tiny_staged_training_and_evaluation(tmp_path):
    # num_steps = 2: the rollouts are unrolled (compile time grows with the steps); 2 still has a
    # step that starts from the velocity another controlled step left (OP and CFE targets with
    # remaining steps both < N and = N)
    s = ControlSettings(
        n=16, num_steps=2, train_pairs=8, test_pairs=3, batch=2, op_steps=2, cfe_steps=2, e2e_steps=2,
        learning_rate=1e-3, **TINY,
    )
    summary = train_control(s, tmp_path / "c.npz", progress=False)
    assert (tmp_path / "c.npz").is_file()
    for k in ("op_loss", "cfe_loss", "e2e_loss"):
        assert len(summary[k]) == 2 and np.isfinite(summary[k]).all()
    r = evaluate_control(tmp_path / "c.npz", direct_iterations=2, direct_pairs=2)
    assert r["mae_networks"].shape == (3,) and r["mae_direct"].shape == (2,)
    assert r["final_direct"].shape == (2, 16, 16)
    assert np.isfinite(r["mae_networks"]).all() and r["seconds_per_instance_direct"] > 0
    # the uncontrolled error is the error of the start marker itself; every reported error is the
    # relative MAE Σ|final − target| / Σ|target| of the reported markers (recomputed in numpy,
    # not with relative_mae, which the evaluation itself uses)
    start, target = make_pairs(jax.random.fold_in(jax.random.key(0), 20), 3, 16)
    np.testing.assert_array_equal(r["start"], np.asarray(start))
    np.testing.assert_array_equal(r["target"], np.asarray(target))

    def mae(final, tgt):
        final, tgt = np.asarray(final, np.float64), np.asarray(tgt, np.float64)
        return np.abs(final - tgt).sum(axis=(-2, -1)) / np.abs(tgt).sum(axis=(-2, -1))

    np.testing.assert_allclose(r["mae_uncontrolled"], mae(r["start"], r["target"]), rtol=1e-5)
    np.testing.assert_allclose(r["mae_networks"], mae(r["final_networks"], r["target"]), rtol=1e-5)
    np.testing.assert_allclose(r["mae_direct"], mae(r["final_direct"], r["target"][:2]), rtol=1e-5)


def test_gradient_through_the_unrolled_controlled_rollout(tiny_nets, x64):
    """Reverse mode, forward mode and central differences agree in float64 for the end-to-end
    objective through both U-Nets and the solver (the unrolled rollout)."""
    import equinox as eqx
    from jax.flatten_util import ravel_pytree

    from astrograd.diff import check_grad
    from astrograd.learn import control_objective, controlled_rollout

    n, steps = 8, 2
    config = control_config(n)
    start = shape_marker(0, jnp.array([3.0, 4.0]), n, radius=1.5).astype(jnp.float64)
    target = shape_marker(1, jnp.array([5.0, 4.0]), n, radius=1.5).astype(jnp.float64)
    # the shared float32 nets (drawn before x64 was on), as float64
    nets = jax.tree.map(lambda a: a.astype(jnp.float64) if eqx.is_inexact_array(a) else a, tiny_nets)
    # heads at the usual initial size (ControlNets starts them 100× smaller)
    nets = eqx.tree_at(lambda m: (m.op.head.weight, m.cfe.head.weight), nets,
                       (100 * nets.op.head.weight, 100 * nets.cfe.head.weight))
    diff, static = eqx.partition(nets, eqx.is_inexact_array)
    # all the weights as one flat vector: check_grad draws its random unit directions leaf by
    # leaf, compiling eager ops for each new leaf shape (seconds); over one vector they are the
    # same isotropic directions over all the weights
    weights, unflatten = ravel_pytree(diff)

    def f(w):
        final, force = controlled_rollout(eqx.combine(unflatten(w), static), start, target, config, steps)
        return control_objective(final, target, force, 1e-3, loss_scales(n, "multiscale"))

    report = check_grad(f, weights, num_directions=2, key=jax.random.key(6))
    report.assert_close(rtol=1e-5)  # measured 2.1e-6 (finite differences)
    report.assert_close(rtol=1e-13, pairs=["reverse-forward"])  # both exact: measured 5.3e-15
    # and the gradient is not zero (all three would agree on a zero one): the reverse-mode
    # directional derivatives u·⟨∇f, v⟩ that check_grad computed are not (an eager jax.grad(f)
    # here would compile the unrolled rollout once more, op by op: ~20 s)
    assert np.all(np.abs(report.values["reverse"]) > 0)
