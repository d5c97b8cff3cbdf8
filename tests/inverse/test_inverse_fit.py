"""fit: convergence to known minima, history bookkeeping, tolerance, bad input, save/resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from astrograd._errors import InputError, SimulationError
from astrograd.inverse import fit

WORKER = Path(__file__).with_name("fit_worker.py")


def quadratic(p):
    # minimum at a = (1, -2, 3), b = 0.5, value 0
    return jnp.sum((p["a"] - jnp.array([1.0, -2.0, 3.0])) ** 2) + 4.0 * (p["b"] - 0.5) ** 2


def rosenbrock(p):
    x = p["x"]
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def test_adam_reaches_known_minimum_and_history_is_consistent(x64):
    p0 = {"a": jnp.zeros(3), "b": jnp.array(0.0)}
    res = fit(quadratic, p0, learning_rate=0.05, steps=400, progress=False)
    # measured errors 8.3e-9 and 2.9e-10 (the tolerance was 1e-4)
    np.testing.assert_allclose(res.params["a"], [1.0, -2.0, 3.0], atol=2e-7)
    np.testing.assert_allclose(res.params["b"], 0.5, atol=1e-8)
    assert res.steps == 400 and res.losses.shape == (401,)
    assert res.params_history["a"].shape == (401, 3)
    # losses[i] is the loss at params_history[i], recomputed independently here
    for i in (0, 1, 17, 200, 400):
        pi = jax.tree.map(lambda h, i=i: h[i], res.params_history)
        assert res.losses[i] == pytest.approx(float(quadratic(pi)), rel=1e-12, abs=1e-300)
    np.testing.assert_array_equal(res.params_history["a"][-1], res.params["a"])
    assert res.best_loss == res.losses.min()
    assert float(quadratic(res.best_params)) == pytest.approx(res.best_loss, rel=1e-12, abs=1e-300)


def test_fingerprint_of_the_callers_settings_is_kept_across_resume(x64, tmp_path):
    """A fit with a fingerprint (tuples, numpy scalars: stored as JSON) resumes under the same one
    and ends where an uninterrupted run ends."""
    ckpt = tmp_path / "fp.npz"
    p0 = {"a": jnp.zeros(3), "b": jnp.array(0.0)}
    fp = {"grid": (8, 8), "noise": np.float32(0.25)}
    full = fit(quadratic, p0, steps=6, progress=False)
    fit(quadratic, p0, steps=3, checkpoint=ckpt, progress=False, fingerprint=fp)
    resumed = fit(quadratic, p0, steps=6, checkpoint=ckpt, progress=False, fingerprint=fp)
    assert resumed.resumed_from == 3
    np.testing.assert_array_equal(resumed.params["a"], full.params["a"])


def test_best_params_without_history_and_across_resume(x64, tmp_path):
    # SGD with lr 1.05 on x² multiplies x by -1.1 each step: the loss grows, the best is the start
    p0 = {"x": jnp.array(1.0)}
    res = fit(lambda p: p["x"] ** 2, p0, optimizer="sgd", learning_rate=1.05, steps=10,
              history=False, progress=False)
    assert res.params_history is None
    assert float(res.params["x"]) == pytest.approx((-1.1) ** 10, rel=1e-12)
    assert float(res.best_params["x"]) == 1.0 and res.best_loss == 1.0
    ckpt = tmp_path / "best.npz"
    fit(lambda p: p["x"] ** 2, p0, optimizer="sgd", learning_rate=1.05, steps=4, history=False,
        checkpoint=ckpt, progress=False)
    resumed = fit(lambda p: p["x"] ** 2, p0, optimizer="sgd", learning_rate=1.05, steps=10,
                  history=False, checkpoint=ckpt, progress=False)
    assert resumed.resumed_from == 4 and float(resumed.best_params["x"]) == 1.0
    np.testing.assert_array_equal(resumed.losses, res.losses)
    # asking for the history of a checkpoint that has none: refused (it returned None silently)
    with pytest.raises(InputError, match="holds no parameter history .written with history=False.; resume it with "
                                         "history=False"):
        fit(lambda p: p["x"] ** 2, p0, optimizer="sgd", learning_rate=1.05, steps=12, checkpoint=ckpt,
            progress=False)


def test_lbfgs_rosenbrock_and_tolerance(x64):
    res = fit(rosenbrock, {"x": jnp.array([-1.2, 1.0])}, optimizer="lbfgs", steps=200, tol=1e-9,
              progress=False)
    np.testing.assert_allclose(res.params["x"], [1.0, 1.0], atol=1e-10)  # measured 6.8e-12
    assert res.converged and res.steps < 200 and res.grad_norm <= 1e-9
    assert res.losses.shape == (res.steps + 1,)
    # the update was compiled once (before: twice, optax's L-BFGS starting with weakly typed
    # line-search scalars that the first update returns strongly typed)
    from astrograd.inverse._fit import _UPDATE_CACHE

    (update, _), = [v for k, v in _UPDATE_CACHE.items() if k[0] is rosenbrock and k[1] == "lbfgs"]
    assert update._cache_size() == 1


def test_lbfgs_with_a_loss_in_another_dtype_is_one_line_error(x64):
    # before: optax's "cond branches must have equal output types" TypeError from deep in tracing
    with pytest.raises(InputError, match="^optimizer 'lbfgs' cannot use a float64 loss with float32 parameters"):
        fit(lambda p: jnp.sum((p.astype(jnp.float64) - 1) ** 2), jnp.zeros(3, jnp.float32), optimizer="lbfgs",
            steps=2, progress=False)


def test_custom_optax_transformation_and_equinox_static_leaves(x64):
    import equinox as eqx

    class Line(eqx.Module):
        w: jax.Array
        act: object = eqx.field(static=True)

    xs = jnp.linspace(-1, 1, 20)
    ys = 3.0 * xs
    res = fit(lambda m: jnp.mean((m.act(m.w * xs) - ys) ** 2), Line(jnp.array(0.1), lambda z: z),
              optimizer=optax.sgd(0.3), steps=200, progress=False)
    assert float(res.params.w) == pytest.approx(3.0, rel=3e-14)  # SGD contracts by 0.78 a step: measured 3e-16


def test_non_finite_loss_is_reported_with_the_step(x64):
    with pytest.raises(SimulationError, match="step 0"):
        fit(lambda p: jnp.log(p["x"] - 5.0), {"x": jnp.array(1.0)}, steps=3, progress=False)


def test_a_check_failing_inside_the_loss_is_reported_with_the_step(x64):
    """An equinox.error_if inside the loss (a solver's step cap, say) fails as a one-line
    SimulationError naming the step, not as JAX's multi-page runtime error."""
    import equinox as eqx

    def loss(p):  # Adam with learning rate 1 moves x by 1 per step: 0, 1, 2 (fails)
        return -eqx.error_if(p["x"], p["x"] > 1.5, "x left its range")

    with pytest.raises(SimulationError, match="^the loss failed at step 2: x left its range$"):
        fit(loss, {"x": jnp.array(0.0)}, learning_rate=1.0, steps=5, progress=False)


def test_a_check_failing_inside_the_loss_is_a_fit_step_error_with_step_params_and_cause(x64):
    """A caller (fit_wind) rewords the failure by type and attributes, not by matching fit's
    message: FitStepError (a SimulationError, exported by astrograd.inverse) carries the step, the
    parameters whose loss failed (the pytree as given, static leaves too) and JAX's error as
    ``cause`` and ``__cause__``; the message is unchanged."""
    import equinox as eqx

    from astrograd.inverse import FitStepError

    def loss(p):  # Adam with learning rate 1 moves x by 1 per step: 0, 1, 2 (fails)
        return -eqx.error_if(p["x"], p["x"] > 1.5, "x left its range") * p["scale"]

    with pytest.raises(FitStepError, match="^the loss failed at step 2: x left its range$") as caught:
        fit(loss, {"x": jnp.array(0.0), "scale": 1, "name": "unit"}, learning_rate=1.0, steps=5, progress=False)
    err = caught.value
    assert isinstance(err, SimulationError) and err.step == 2
    assert err.params["x"] == pytest.approx(2.0, abs=1e-6) and (err.params["scale"], err.params["name"]) == (1, "unit")
    assert err.cause is err.__cause__ and isinstance(err.cause, RuntimeError | ValueError)
    assert "x left its range" in str(err.cause) and not isinstance(err.cause, FitStepError)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"steps": 0}, "steps = 0"),
        ({"steps": -5}, "steps = -5"),
        ({"steps": 2.5}, "steps = 2.5"),
        ({"optimizer": "adamw"}, "unknown optimizer 'adamw'"),
        ({"optimizer": 3}, "optimizer = 3"),
        ({"learning_rate": -1.0}, "learning_rate = -1 is not allowed; it must be a finite number > 0"),
        ({"checkpoint_every": 0}, "checkpoint_every = 0"),
        ({"tol": float("nan")}, "tol = nan"),
        ({"tol": "a"}, "tol = 'a' is text; it must be a finite number >= 0"),  # was float()'s ValueError
        ({"tol": True}, "tol = True is not allowed"),  # was a tolerance of 1
        ({"learning_rate": "fast"}, "learning_rate = 'fast' is text"),  # was float()'s ValueError
        ({"learning_rate": 1j}, "learning_rate = 1j is not a number"),  # was float()'s TypeError
        ({"learning_rate": True}, "learning_rate = True is not allowed"),  # was a learning rate of 1
        # a custom optimizer holds its own learning rate: this one was silently ignored
        ({"optimizer": optax.sgd(0.1), "learning_rate": 0.5}, "learning_rate = 0.5 is not allowed with a custom"),
        ({"history": "no"}, "history = 'no' is not allowed; it must be True or False"),  # "no" was truthy
    ],
)
def test_bad_input(kwargs, match):
    with pytest.raises(InputError, match=match):
        fit(quadratic, {"a": jnp.zeros(3), "b": jnp.array(0.0)}, progress=False, **kwargs)


def test_non_finite_params_are_named_by_their_path():
    """Named "params leaf 1" before: a place among the floating-point leaves, which skips the
    integer ones, so it did not even count the entries the user sees."""
    from typing import NamedTuple

    class Pair(NamedTuple):
        a: jax.Array
        b: jax.Array

    loss = lambda p: jnp.sum(p["w"][0] ** 2)  # noqa: E731
    with pytest.raises(InputError, match=r"^params\['b'\] \(shape \(\)\) has non-finite values$"):
        fit(loss, {"a": jnp.zeros(3), "b": jnp.array(jnp.nan)}, progress=False)
    params = {"n": 3, "w": [jnp.zeros(2), Pair(jnp.array(0.0), jnp.array([1.0, -jnp.inf]))]}
    with pytest.raises(InputError, match=r"^params\['w'\]\[1\]\.b \(shape \(2,\)\) has non-finite values$"):
        fit(loss, params, progress=False)
    with pytest.raises(InputError, match=r"^params \(shape \(2,\)\) has non-finite values$"):  # one array
        fit(lambda p: jnp.sum(p**2), jnp.array([jnp.nan, 0.0]), progress=False)


def test_bad_params_and_loss():
    with pytest.raises(InputError, match="non-finite"):
        fit(quadratic, {"a": jnp.array([0.0, jnp.nan, 0.0]), "b": jnp.array(0.0)}, progress=False)
    with pytest.raises(InputError, match="scalar"):
        fit(lambda p: p["a"], {"a": jnp.zeros(3)}, steps=2, progress=False)
    # an integer loss was JAX's "grad requires real-valued outputs"; a fingerprint that is not
    # JSON, json's TypeError
    with pytest.raises(InputError, match="loss must return a floating-point scalar; it returned int"):
        fit(lambda p: 1, {"a": jnp.zeros(3)}, steps=2, progress=False)
    with pytest.raises(InputError, match="must be JSON-able"):
        fit(quadratic, {"a": jnp.zeros(3), "b": jnp.array(0.0)}, steps=2, progress=False, fingerprint={"x": object()})


def test_lbfgs_resume_in_process_is_bit_identical(x64, tmp_path):
    ckpt = tmp_path / "lbfgs.npz"
    p0 = {"x": jnp.array([-1.2, 1.0])}
    full = fit(rosenbrock, p0, optimizer="lbfgs", steps=15, progress=False)
    first = fit(rosenbrock, p0, optimizer="lbfgs", steps=6, checkpoint=ckpt, checkpoint_every=4,
                progress=False)
    assert first.steps == 6
    resumed = fit(rosenbrock, p0, optimizer="lbfgs", steps=15, checkpoint=ckpt, checkpoint_every=4,
                  progress=False)
    assert resumed.resumed_from == 6
    np.testing.assert_array_equal(resumed.params["x"], full.params["x"])
    np.testing.assert_array_equal(resumed.losses, full.losses)
    np.testing.assert_array_equal(resumed.params_history["x"], full.params_history["x"])
    # a checkpoint from a different optimiser, start or caller fingerprint is refused, naming
    # what differs, not silently reused
    with pytest.raises(InputError, match=r"different fit \(optimizer, state differ\)"):
        fit(rosenbrock, p0, optimizer="adam", steps=15, checkpoint=ckpt, progress=False)
    with pytest.raises(InputError, match=r"different fit \(start_sha256 differ\)"):
        fit(rosenbrock, {"x": jnp.array([-1.0, 1.0])}, optimizer="lbfgs", steps=15, checkpoint=ckpt, progress=False)
    # the caller's fingerprint entries are named (before: only "extra")
    with pytest.raises(InputError, match=r"different fit \(extra differ\); fingerprint entries that differ: n; "):
        fit(rosenbrock, p0, optimizer="lbfgs", steps=15, checkpoint=ckpt, progress=False, fingerprint={"n": 3})
    with pytest.raises(InputError, match="smaller than"):
        fit(rosenbrock, p0, optimizer="lbfgs", steps=3, checkpoint=ckpt, progress=False)


def _read_step(ckpt: Path) -> int:
    with np.load(ckpt) as z:
        return json.loads(str(z["__meta__"]))["step"]


_STEPS = 1500
_ENV = {**os.environ, "JAX_PLATFORMS": "cpu"}


@pytest.fixture(scope="module")
def uninterrupted_fit(tmp_path_factory):
    out = tmp_path_factory.mktemp("fit") / "full.npz"
    run = subprocess.run([sys.executable, str(WORKER), "none", str(out), str(_STEPS)], env=_ENV,
                         capture_output=True, timeout=600)
    assert run.returncode == 0, run.stderr.decode()
    return out


def _wait_for(ckpt, proc):
    deadline = time.monotonic() + 240
    while not ckpt.exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "no checkpoint written within 240 s"
        time.sleep(0.002)


@pytest.mark.parametrize("how", ["SIGKILL", "Ctrl-C"])
def test_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path, uninterrupted_fit, how):
    """SIGKILL at an arbitrary moment loses only the steps since the last periodic checkpoint;
    Ctrl-C (SIGINT) ends the fit after the current step and saves it (the worker then runs with
    no periodic checkpoints, so the step found in the file was saved by the interruption; it sends
    the signal itself, from inside the fit: a delay here was too long on an idle machine). Either
    way a rerun resumes and ends bit for bit where an uninterrupted run ends."""
    ckpt = tmp_path / "fit.npz"
    killed_out = tmp_path / "killed.npz"
    mode = ["quiet-after-5"] if how == "Ctrl-C" else []
    proc = subprocess.Popen([sys.executable, str(WORKER), str(ckpt), str(killed_out), str(_STEPS), *mode],
                            env=_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(ckpt, proc)
        if how == "SIGKILL":
            time.sleep(0.05)  # let the run go on past the checkpoint: killed somewhere inside a step
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=60) == -signal.SIGKILL
        else:  # the worker sends itself SIGINT during its second fit (no periodic checkpoints)
            assert proc.wait(timeout=240) != 0
            err = proc.stderr.read().decode()
            assert "KeyboardInterrupt" in err and f"interrupted after step {_read_step(ckpt)};" in err, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not killed_out.exists()
    step_at_stop = _read_step(ckpt)
    assert (5 if how == "Ctrl-C" else 0) < step_at_stop < _STEPS

    resumed_out = tmp_path / "resumed.npz"
    run = subprocess.run([sys.executable, str(WORKER), str(ckpt), str(resumed_out), str(_STEPS)], env=_ENV,
                         capture_output=True, timeout=600)
    assert run.returncode == 0, run.stderr.decode()
    with np.load(resumed_out) as r, np.load(uninterrupted_fit) as f:
        assert int(r["resumed_from"]) == step_at_stop and int(f["resumed_from"]) == 0
        assert r["losses"].shape == (_STEPS + 1,)
        for name in ("omega", "gamma", "amp", "losses", "hist_omega", "hist_gamma", "hist_amp"):
            np.testing.assert_array_equal(r[name], f[name], err_msg=name)
        # and the fit did move: the frequency is recovered
        assert abs(float(f["omega"]) - 2.0) < abs(1.5 - 2.0) / 10


def _shifted_quadratic(params, args):  # module-level: fit caches its compiled update by the loss
    target, scale = args
    return jnp.sum(scale * (params - target) ** 2)


def test_args_are_inputs_of_the_compiled_update_not_constants(compilations):
    """Data passed as ``args`` gives the result of a closure over it, and a fit with other data
    of the same shapes reuses the compiled update (a closure per call compiled it again)."""
    target = jnp.array([1.0, -2.0, 3.0])
    closed = fit(lambda p: _shifted_quadratic(p, (target, 2.0)), jnp.zeros(3), optimizer="lbfgs", steps=5,
                 progress=False)
    given = fit(_shifted_quadratic, jnp.zeros(3), args=(target, 2.0), optimizer="lbfgs", steps=5, progress=False)
    # measured: equal, and at the target to the last bit (L-BFGS on an isotropic quadratic)
    np.testing.assert_allclose(given.params, closed.params, rtol=1e-14)
    np.testing.assert_allclose(given.params, target, rtol=1e-13)
    with compilations() as compiled:
        other = fit(_shifted_quadratic, jnp.zeros(3), args=(-target, 0.5), optimizer="lbfgs", steps=5,
                    progress=False)
    assert "update" not in " ".join(map(str, compiled)), compiled
    np.testing.assert_allclose(other.params, -target, rtol=1e-13)


def test_a_resume_with_other_args_is_refused(x64, tmp_path):
    """The data a loss reads through ``args`` are part of the checkpoint's fingerprint: a resume
    with other data (same shapes) continued silently from the other data's iterate, ending
    neither where a run on the old data nor one on the new data ends."""
    ckpt = tmp_path / "args.npz"
    target = jnp.array([1.0, -2.0, 3.0])
    kw = dict(optimizer="sgd", learning_rate=0.1, progress=False)
    full = fit(_shifted_quadratic, jnp.zeros(3), args=(target, 2.0), steps=6, **kw)
    fit(_shifted_quadratic, jnp.zeros(3), args=(target, 2.0), steps=3, checkpoint=ckpt, **kw)
    with pytest.raises(InputError, match=r"different fit \(args_sha256 differ\)"):
        fit(_shifted_quadratic, jnp.zeros(3), args=(target + 1e-9, 2.0), steps=6, checkpoint=ckpt, **kw)
    with pytest.raises(InputError, match=r"different fit \(args_sha256 differ\)"):
        fit(_shifted_quadratic, jnp.zeros(3), args=(target, 2.5), steps=6, checkpoint=ckpt, **kw)
    with pytest.raises(InputError, match=r"different fit \(args, args_sha256 differ\)"):
        fit(_shifted_quadratic, jnp.zeros(3), args=(target, jnp.full(3, 2.0)), steps=6, checkpoint=ckpt, **kw)
    resumed = fit(_shifted_quadratic, jnp.zeros(3), args=(target, 2.0), steps=6, checkpoint=ckpt, **kw)
    assert resumed.resumed_from == 3
    np.testing.assert_array_equal(resumed.params, full.params)
    np.testing.assert_array_equal(resumed.losses, full.losses)


def _noisy_target(x, args):
    (key,) = args
    return jnp.sum((x - jax.random.normal(key, x.shape, x.dtype)) ** 2)


def test_args_may_hold_a_typed_prng_key(x64, tmp_path):
    """A typed jax.random.key among the args: the fingerprint took np.asarray of it, numpy's
    TypeError ("JAX array with PRNGKey dtype cannot be converted") on every call. It is recorded
    by its key data, so a checkpoint tells two keys apart."""
    kw = dict(optimizer="sgd", learning_rate=0.1, progress=False, steps=4)
    res = fit(_noisy_target, jnp.zeros(3), args=(jax.random.key(0),), checkpoint=tmp_path / "k.npz", **kw)
    np.testing.assert_allclose(res.params, jax.random.normal(jax.random.key(0), (3,), jnp.float64) * (1 - 0.8**4),
                               rtol=3e-14)  # measured 2.2e-16
    with pytest.raises(InputError, match=r"different fit \(args_sha256 differ\)"):
        fit(_noisy_target, jnp.zeros(3), args=(jax.random.key(1),), checkpoint=tmp_path / "k.npz", **kw)


def test_a_custom_optimizer_holding_a_prng_key_checkpoints_and_resumes(tmp_path):
    """optax.noisy_sgd keeps a typed PRNG key in its state: the first checkpoint write was a
    TypeError (numpy cannot hold a key). The resumed fit ends where one run ends."""
    def loss(p):
        return jnp.sum((p - 1.0) ** 2)

    def run(steps, checkpoint=None):
        return fit(loss, jnp.zeros(3), optimizer=optax.noisy_sgd(0.1, key=jax.random.key(3)), steps=steps,
                   checkpoint=checkpoint, checkpoint_every=2, progress=False)

    whole = run(6)
    ckpt = tmp_path / "noisy.npz"
    assert run(3, ckpt).steps == 3
    resumed = run(6, ckpt)
    assert resumed.resumed_from == 3
    np.testing.assert_array_equal(np.asarray(resumed.params), np.asarray(whole.params))
    np.testing.assert_array_equal(resumed.losses, whole.losses)


def test_a_non_finite_gradient_at_the_final_parameters_is_an_error():
    """The loop refuses a non-finite gradient at every step, but the one at the final parameters
    was returned as grad_norm = inf. sqrt|p| has an infinite slope at 0, where one SGD step of
    rate 2 from p = 1 lands."""
    def loss(p):
        return jnp.sum(jnp.sqrt(jnp.abs(p)))

    with pytest.raises(SimulationError, match=r"non-finite \(loss=0\.0, \|grad\|=inf\) at the final parameters "
                                              r"after step 1"):
        fit(loss, jnp.ones(1), optimizer="sgd", learning_rate=2.0, steps=1, progress=False)
    with pytest.raises(SimulationError, match="at step 1"):  # one more step: the loop's own check
        fit(loss, jnp.ones(1), optimizer="sgd", learning_rate=2.0, steps=2, progress=False)


def test_a_loss_that_becomes_non_finite_says_whether_the_start_or_the_steps_are_to_blame(x64):
    """"loss or gradient became non-finite ... at step 1" named neither the learning rate nor the
    starting point: the message now says which one to change."""
    def blows_up(x):  # finite at 1; Adam's first step of 30 takes x to -29, where exp(x²) overflows
        return jnp.sum(jnp.exp(x**2))

    with pytest.raises(SimulationError, match=r"^loss or gradient became non-finite \(loss=inf, .*\) at step 1; the "
                       r"parameters came from 1 adam updates with learning_rate = 30: a smaller learning rate may "
                       r"help$"):
        fit(blows_up, jnp.ones(2), learning_rate=30.0, steps=5, progress=False)
    with pytest.raises(SimulationError, match=r"at step 0; the loss or its gradient is not finite at the starting "
                       r"parameters: start elsewhere$"):
        fit(lambda x: jnp.sum(jnp.log(x)), -jnp.ones(2), steps=5, progress=False)
    res = fit(blows_up, jnp.ones(2), learning_rate=0.1, steps=5, progress=False)  # a small rate runs
    assert np.all(np.isfinite(res.losses)) and res.losses[-1] < res.losses[0]
