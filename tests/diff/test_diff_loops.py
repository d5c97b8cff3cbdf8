"""astrograd.diff: fixed and adaptive loops against plain loops, plain autodiff and finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from astrograd._errors import InputError
from astrograd.diff import adaptive_loop, check_grad, fixed_loop


# --- a damped, driven pendulum as the test system (state: a pytree; nonlinear, so reverse mode
# must store something per step) -------------------------------------------------------------
def osc_step(state, i, args):
    x, v = state["x"], state["v"]
    omega, damping, dt = args["omega"], args["damping"], 0.01
    a = -(omega**2) * jnp.sin(x) - damping * v + 0.1 * jnp.sin(0.01 * i)  # damped driven pendulum
    v = v + dt * a
    return {"x": x + dt * v, "v": v}


def osc_args(dtype=jnp.float64):
    return {"omega": jnp.asarray(2.0, dtype), "damping": jnp.asarray(0.3, dtype)}


def osc_state(n=3, dtype=jnp.float64):
    return {"x": jnp.linspace(0.5, 1.5, n, dtype=dtype), "v": jnp.zeros(n, dtype)}


def python_loop(state, args, n):
    for i in range(n):
        state = osc_step(state, jnp.int32(i), args)
    return state


@pytest.mark.parametrize("checkpoint", ["none", "step", "nested"])
def test_fixed_loop_matches_python_loop_and_saves(x64, checkpoint):
    s0, args = osc_state(), osc_args()
    final, saved = fixed_loop(osc_step, s0, 37, args, save_steps=[0, 5, 37], checkpoint=checkpoint)
    ref = python_loop(s0, args, 37)
    np.testing.assert_allclose(final["x"], ref["x"], rtol=1e-13)
    np.testing.assert_allclose(saved["x"][0], s0["x"])
    np.testing.assert_allclose(saved["x"][1], python_loop(s0, args, 5)["x"], rtol=1e-13)
    np.testing.assert_allclose(saved["x"][2], ref["x"], rtol=1e-13)


def test_fixed_loop_save_every_includes_initial_state(x64):
    s0, args = osc_state(), osc_args()
    final, saved = fixed_loop(osc_step, s0, 23, args, save_every=10, checkpoint="nested")
    assert saved["x"].shape == (3, 3)  # steps 0, 10, 20
    np.testing.assert_allclose(saved["x"][2], python_loop(s0, args, 20)["x"], rtol=1e-13)
    np.testing.assert_allclose(final["x"], python_loop(s0, args, 23)["x"], rtol=1e-13)


def _fixed_loss(checkpoint, n=64):
    def loss(params):
        final, _ = fixed_loop(osc_step, params["s0"], n, params["args"], checkpoint=checkpoint)
        return jnp.sum(final["x"] ** 2) + jnp.sum(final["v"])

    return loss


def test_fixed_loop_gradients_equal_plain_autodiff_and_fd(x64):
    params = {"s0": osc_state(), "args": osc_args()}
    g_plain = jax.grad(_fixed_loss("none"))(params)
    for checkpoint in ("step", "nested"):
        g = jax.grad(_fixed_loss(checkpoint))(params)
        for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g_plain), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    # central FD at check_grad's default step: measured reverse/forward-fd ≤ 5.2e-10
    check_grad(_fixed_loss("nested"), params, num_directions=2).assert_close(rtol=1e-8)


def _temp_bytes(fn, *args) -> int:
    return jax.jit(fn).lower(*args).compile().memory_analysis().temp_size_in_bytes


def test_nested_checkpoint_memory_grows_sublinearly(x64):
    s0, args = osc_state(2000), osc_args()

    def grad_bytes(checkpoint, n):
        def loss(s):
            return jnp.sum(fixed_loop(osc_step, s, n, args, checkpoint=checkpoint)[0]["x"])

        return _temp_bytes(jax.grad(loss), s0)

    plain = grad_bytes("none", 4096) / grad_bytes("none", 256)
    nested = grad_bytes("nested", 4096) / grad_bytes("nested", 256)
    assert plain > 8, plain  # plain reverse mode stores every step (16x more steps)
    assert nested < 6, nested  # sqrt(16) = 4 in theory


# --- adaptive loop: y' = -k y with a state-dependent step ----------------------------------
def decay_step(y, t, dt, k):
    return y - dt * k * y


def decay_dt(y, t, k):
    return 0.05 / (k * (1.0 + jnp.mean(y) ** 2))


def adaptive_loss(adjoint, max_steps=400, checkpoints=None, remat=False):
    def loss(params):
        res = adaptive_loop(
            decay_step, decay_dt, params["y0"], 0.0, 1.0, params["k"], save_times=[0.25, 0.6],
            max_steps=max_steps, adjoint=adjoint, checkpoints=checkpoints, remat=remat,
        )
        return jnp.sum(res.final) + jnp.sum(res.saved**2)

    return loss


def test_adaptive_lands_exactly_on_output_and_end_times(x64):
    # y' = 1 integrates time itself: y at each stop must equal the stop time.
    res = adaptive_loop(lambda y, t, dt, a: y + dt, lambda y, t, a: 0.07, jnp.zeros(()), 0.0, 1.0,
                        save_times=[0.1, 0.5, 0.95], adjoint="forward")
    assert float(res.t) == 1.0
    np.testing.assert_allclose(res.saved, [0.1, 0.5, 0.95], rtol=1e-14)
    np.testing.assert_allclose(res.final, 1.0, rtol=1e-14)
    # 0.1 -> 2 steps, 0.4 -> 6, 0.45 -> 7, 0.05 -> 1
    assert int(res.num_steps) == 16


def test_adaptive_adjoints_agree_with_plain_autodiff(x64):
    params = {"y0": jnp.array([2.0, 1.0]), "k": jnp.array(1.5)}
    g_direct = jax.grad(adaptive_loss("direct"))(params)
    for checkpoints in (None, 3):
        g_ckpt = jax.grad(adaptive_loss("checkpointed", checkpoints=checkpoints))(params)
        for a, b in zip(jax.tree.leaves(g_ckpt), jax.tree.leaves(g_direct), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12)
    g_fwd = jax.jacfwd(adaptive_loss("forward"))(params)
    for a, b in zip(jax.tree.leaves(g_fwd), jax.tree.leaves(g_direct), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_adaptive_gradients_match_finite_differences(x64):
    params = {"y0": jnp.array([2.0, 1.0]), "k": jnp.array(1.5)}
    # The step count is piecewise constant in the parameters; the FD step stays within one piece.
    # measured ≤ 6.5e-9 for both adjoints
    check_grad(adaptive_loss("checkpointed"), params, modes=("reverse", "fd"), eps=1e-7).assert_close(rtol=1e-7)
    check_grad(adaptive_loss("forward"), params, modes=("forward", "fd"), eps=1e-7).assert_close(rtol=1e-7)


def test_adaptive_remat_gives_the_same_gradient_as_without(x64):
    params = {"y0": jnp.array([2.0, 1.0]), "k": jnp.array(1.5)}
    plain = jax.grad(adaptive_loss("checkpointed", checkpoints=7))(params)
    remat = jax.grad(adaptive_loss("checkpointed", checkpoints=7, remat=True))(params)
    direct = jax.grad(adaptive_loss("direct"))(params)
    for key in params:
        np.testing.assert_allclose(remat[key], plain[key], rtol=1e-12)
        np.testing.assert_allclose(remat[key], direct[key], rtol=1e-12)


def test_adaptive_checkpointed_closure_and_vmap(x64):
    def final(k):  # the step closes over k instead of receiving it as args
        return adaptive_loop(lambda y, t, dt, a: y - dt * k * y, lambda y, t, a: 0.01 / k,
                             jnp.array(1.0), 0.0, 1.0).final

    g = jax.grad(final)(2.0)
    g_direct = jax.grad(lambda k: adaptive_loop(lambda y, t, dt, a: y - dt * k * y, lambda y, t, a: 0.01 / k,
                                                jnp.array(1.0), 0.0, 1.0, adjoint="direct",
                                                max_steps=400).final)(2.0)
    np.testing.assert_allclose(g, g_direct, rtol=1e-12)
    ks = jnp.array([1.0, 2.0, 3.0])
    gs = jax.vmap(jax.grad(final))(ks)
    np.testing.assert_allclose(gs[1], g, rtol=1e-12)


def test_adaptive_checkpointed_memory_does_not_grow_linearly(x64):
    y0 = jnp.linspace(1.0, 2.0, 4000)

    def grad_bytes(adjoint, max_steps):
        def loss(y):
            return jnp.sum(adaptive_loop(decay_step, decay_dt, y, 0.0, 1.0, jnp.array(1.0),
                                         max_steps=max_steps, adjoint=adjoint).final)

        return _temp_bytes(jax.grad(loss), y0)

    direct = grad_bytes("direct", 4096) / grad_bytes("direct", 256)
    ckpt = grad_bytes("checkpointed", 4096) / grad_bytes("checkpointed", 256)
    assert direct > 8, direct
    assert ckpt < 6, ckpt


def test_adaptive_step_cap_raises():
    with pytest.raises(Exception, match="max_steps=5"):
        res = adaptive_loop(decay_step, decay_dt, jnp.ones(2), 0.0, 1.0, jnp.array(1.0), max_steps=5)
        jax.block_until_ready(res.final)


def test_adaptive_fail_fn_stops_the_run():
    res = adaptive_loop(lambda y, t, dt, a: y - dt, lambda y, t, a: 0.1, jnp.array(0.35), 0.0, 1.0,
                        fail_fn=lambda y: y < 0)
    assert bool(res.failed)
    np.testing.assert_allclose(float(res.t), 0.4, rtol=1e-6)
    assert int(res.num_steps) == 4


@pytest.mark.parametrize("dt", [0.0, -0.1, float("nan")])
def test_adaptive_step_that_is_not_positive_fails_the_run(x64, dt):
    """Before: a NaN step ended the loop with t = NaN and failed = False; a zero or negative
    one ran into the step cap's runtime error."""
    res = adaptive_loop(lambda y, t, dt, a: y + dt, lambda y, t, a: jnp.where(t < 0.25, 0.1, dt),
                        jnp.array(0.0), 0.0, 1.0, max_steps=50)
    assert bool(res.failed)
    np.testing.assert_allclose(float(res.t), 0.3, rtol=1e-12)  # stopped at the time reached
    assert int(res.num_steps) == 4
    # the final state is the state at that time (before: the refused step was applied, 0.2 or NaN)
    np.testing.assert_allclose(float(res.final), 0.3, rtol=1e-12)


def test_check_grad_detects_a_wrong_gradient(x64):
    @jax.custom_vjp
    def wrong_square(x):
        return x**2

    wrong_square.defvjp(lambda x: (x**2, x), lambda x, g: (3.0 * x * g,))
    report = check_grad(lambda x: jnp.sum(wrong_square(x)), jnp.array([1.0, 2.0]), modes=("reverse", "fd"))
    with pytest.raises(AssertionError, match="gradient check failed"):
        report.assert_close(rtol=1e-6)
    check_grad(lambda x: jnp.sum(x**2), jnp.array([1.0, 2.0])).assert_close(rtol=2e-9)  # measured 1.2e-10
    # NaN derivatives never agree: their NaN errors used to pass every tolerance
    nan_report = check_grad(lambda x: jnp.sum(jnp.sqrt(x)), jnp.array([-1.0, 2.0]), num_directions=1)
    assert np.isnan(nan_report.max_rel_error)
    with pytest.raises(AssertionError, match="gradient check failed"):
        nan_report.assert_close(rtol=1e-6)


def test_bad_input_is_one_line_error(x64):
    with pytest.raises(InputError, match="checkpoint"):
        fixed_loop(osc_step, osc_state(), 3, osc_args(), checkpoint="binomial")
    with pytest.raises(InputError, match="num_steps"):
        fixed_loop(osc_step, osc_state(), -1, osc_args())
    with pytest.raises(InputError, match="t1"):
        adaptive_loop(decay_step, decay_dt, jnp.ones(2), 1.0, 0.5, jnp.array(1.0))
    with pytest.raises(InputError, match="save_times"):
        adaptive_loop(decay_step, decay_dt, jnp.ones(2), 0.0, 1.0, jnp.array(1.0), save_times=[0.5, 0.2])
    # before: t1 = None passed as if traced (then JAX: "None is not a valid value"), a string raised numpy's
    # ValueError, and complex save times were cast to real with a ComplexWarning
    with pytest.raises(InputError, match="^t1 = None is not a number$"):
        adaptive_loop(decay_step, decay_dt, jnp.ones(2), 0.0, None, jnp.array(1.0))
    with pytest.raises(InputError, match="^t0 = 'a' is not a number$"):
        adaptive_loop(decay_step, decay_dt, jnp.ones(2), "a", 1.0, jnp.array(1.0))
    # float() took the text "1" and True as times
    with pytest.raises(InputError, match="^t1 = '1' is not a number$"):
        adaptive_loop(decay_step, decay_dt, jnp.ones(2), 0.0, "1", jnp.array(1.0))
    with pytest.raises(InputError, match="^t1 = True is not a number$"):
        adaptive_loop(decay_step, decay_dt, jnp.ones(2), 0.0, True, jnp.array(1.0))
    # the text "12" was read as the save steps 1 and 2, and 2.5 as step 2
    with pytest.raises(InputError, match="^save_steps = '12' is not allowed; it must be a sequence of integers$"):
        fixed_loop(osc_step, osc_state(), 3, osc_args(), save_steps="12")
    with pytest.raises(InputError, match="^save_steps entry = 2.5 is not allowed; it must be an integer >= 0$"):
        fixed_loop(osc_step, osc_state(), 3, osc_args(), save_steps=[1, 2.5])
    with pytest.raises(InputError, match="save_times = .* it must be real numbers, not complex128$"):
        adaptive_loop(decay_step, decay_dt, jnp.ones(2), 0.0, 1.0, jnp.array(1.0), save_times=[0.5 + 1j])
    # a NaN save time passed every comparison (all False) and a state was "saved" at NaN
    with pytest.raises(InputError, match="save_times = .* every time must be finite$"):
        adaptive_loop(decay_step, decay_dt, jnp.ones(2), 0.0, 1.0, jnp.array(1.0), save_times=[0.5, float("nan")])
    with pytest.raises(InputError, match="adjoint"):
        adaptive_loop(decay_step, decay_dt, jnp.ones(2), 0.0, 1.0, jnp.array(1.0), adjoint="magic")
    with pytest.raises(InputError, match="remat"):
        adaptive_loop(decay_step, decay_dt, jnp.ones(2), 0.0, 1.0, jnp.array(1.0), remat="yes")
    quadratic = lambda x: jnp.sum(x**2)  # noqa: E731
    with pytest.raises(InputError, match="^eps = -1 is not allowed; it must be a finite number > 0$"):
        check_grad(quadratic, jnp.ones(2), eps=-1.0)
    with pytest.raises(InputError, match="^key = 0 is not allowed; it must be one PRNG key"):
        check_grad(quadratic, jnp.ones(2), key=0)
    with pytest.raises(InputError, match="^num_directions = 0 is not allowed; it must be an integer >= 1$"):
        check_grad(quadratic, jnp.ones(2), num_directions=0)
    check_grad(quadratic, jnp.ones(2), key=jax.random.PRNGKey(1)).assert_close(rtol=2e-9)  # legacy keys work (8e-11)


def test_check_grad_traces_each_derivative_once(x64):
    traces = []

    def f(x):
        traces.append(1)
        return jnp.sum(jnp.sin(x) ** 2)

    check_grad(f, jnp.array([0.3, -0.2, 1.1]), num_directions=4).assert_close(rtol=1e-8)  # measured 7.5e-10
    assert len(traces) == 3  # f, its vjp and its jvp: one trace each, for all four directions


def test_check_grad_refuses_float32():
    with pytest.raises(InputError, match="float64"):
        check_grad(lambda x: x**2, jnp.float32(1.0))


def test_check_grad_accepts_equinox_modules_with_function_leaves(x64):
    import equinox as eqx

    mlp = eqx.nn.MLP(2, 1, 4, 1, activation=jnp.tanh, key=jax.random.key(1))
    mlp = jax.tree.map(lambda a: a.astype(jnp.float64) if eqx.is_inexact_array(a) else a, mlp)
    check_grad(lambda m: jnp.sum(m(jnp.array([0.3, -0.7])) ** 2), mlp).assert_close(rtol=5e-9)  # measured 2.8e-10


def test_stop_at_max_steps_returns_the_time_reached_instead_of_raising(x64):
    const_dt = lambda y, t, k: 0.1  # noqa: E731
    with pytest.raises(Exception, match="adaptive_loop reached max_steps=3"):
        jax.block_until_ready(adaptive_loop(decay_step, const_dt, jnp.ones(2), 0.0, 1.0, jnp.array(1.0), max_steps=3))
    res = adaptive_loop(decay_step, const_dt, jnp.ones(2), 0.0, 1.0, jnp.array(1.0), max_steps=3,
                        adjoint="forward", stop_at_max_steps=True, save_times=[0.5])
    # three steps of 0.1, short of the first stop at 0.5; the later interval does not run
    assert bool(res.failed) and int(res.num_steps) == 3
    np.testing.assert_allclose(float(res.t), 0.3, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(res.final), 0.9**3, rtol=1e-12)


def test_check_grad_of_a_function_returning_integer_and_boolean_leaves(x64):
    """f may return a pytree with integer or boolean leaves (an AdaptiveResult: num_steps,
    failed); only its floating-point leaves are compared. Before: a ValueError from
    jax.random.normal ("dtype argument to `normal` must be a float"), whatever f was."""
    x = jnp.array([0.5, 2.0])
    report = check_grad(lambda x: {"y": jnp.sin(x) * x[0], "n": jnp.array(3), "ok": x[0] > 0}, x)
    report.assert_close(rtol=5e-10)  # measured 2.6e-11
    result = check_grad(
        lambda p: adaptive_loop(decay_step, decay_dt, p["y0"], 0.0, 0.2, p["k"], max_steps=16, adjoint="forward"),
        {"y0": jnp.array([1.0, 0.5]), "k": jnp.array(0.7)}, modes=("forward", "fd"), num_directions=1,
    )
    result.assert_close(rtol=1e-9)  # measured 5.3e-11
    with pytest.raises(InputError, match="f returns no floating-point values"):
        check_grad(lambda x: x > 0, x)


def test_loop_sizes_accept_numpy_integers_and_refuse_a_lone_number(x64):
    """num_steps, save_every, max_steps and checkpoints may be numpy integers (e.g. from an
    array of sizes or np.arange); before, np.int64(3) was refused as "not an integer". A lone
    save step was a TypeError traceback; an integer array of save steps was refused."""
    def same(a, b):
        jax.tree.map(np.testing.assert_array_equal, a, b)

    ref_final, ref_saved = fixed_loop(osc_step, osc_state(), 6, osc_args(), save_steps=[2, 4])
    final, saved = fixed_loop(osc_step, osc_state(), np.int64(6), osc_args(), save_steps=np.array([2, 4]))
    same(final, ref_final)
    same(saved, ref_saved)
    _, saved = fixed_loop(osc_step, osc_state(), 6, osc_args(), save_steps=jnp.array([2, 4]))
    same(saved, ref_saved)
    _, every = fixed_loop(osc_step, osc_state(), 6, osc_args(), save_every=np.int32(2))
    same(jax.tree.map(lambda a: a[1:3], every), ref_saved)
    res = adaptive_loop(decay_step, decay_dt, jnp.ones(2), 0.0, 1.0, jnp.array(1.0), max_steps=np.int64(100),
                        checkpoints=np.int64(5))
    assert float(res.t) == 1.0
    with pytest.raises(InputError, match="^save_steps = 3 is not allowed; it must be a sequence of integers$"):
        fixed_loop(osc_step, osc_state(), 6, osc_args(), save_steps=3)
    with pytest.raises(InputError, match="^num_steps = 2.0 is not allowed; it must be an integer >= 0$"):
        fixed_loop(osc_step, osc_state(), 2.0, osc_args())


def test_check_grad_refuses_a_mode_compared_with_itself_and_unknown_pairs(x64):
    """modes=("fd", "fd") compared finite differences with themselves and passed any gradient,
    even a wrong one; assert_close(pairs=["reverse-fd"]) of a forward/fd report was a KeyError."""
    from astrograd._errors import InputError

    with pytest.raises(InputError, match=r"modes = \('fd', 'fd'\); choose at least two different ones"):
        check_grad(lambda x: jnp.sum(x**2), jnp.array([1.0, 2.0]), modes=("fd", "fd"))
    report = check_grad(lambda x: jnp.sum(x**2), jnp.array([1.0, 2.0]), modes=("forward", "fd"))
    with pytest.raises(InputError, match=r"pairs = \['reverse-fd'\] were not compared; allowed: forward-fd"):
        report.assert_close(pairs=["reverse-fd"])
    report.assert_close(rtol=2e-9, pairs=["forward-fd"])  # measured 1.2e-10


def test_check_grad_with_an_empty_leaf(x64):
    """An empty floating-point leaf in x (no parameters of one kind, say) was numpy's "zero-size
    array to reduction operation max" ValueError while check_grad chose its step."""
    x = {"a": jnp.arange(1.0, 3.0), "b": jnp.zeros(0)}
    report = check_grad(lambda x: jnp.sum(x["a"] ** 3) + jnp.sum(x["b"]), x)
    report.assert_close(rtol=2e-9)  # measured 9e-11
    assert report.eps == 1e-6 * 2.0  # 1e-6 × the largest |entry|


def test_adaptive_loop_accepts_float32_save_times_ending_at_t1():
    """save_times = jnp.linspace(0.01, 0.1, 10) (float32: its last entry is above the float64 0.1)
    with t1 = 0.1 in a float32 loop was refused: "save_times must increase strictly and lie in (0, 0.1]"."""
    res = adaptive_loop(decay_step, decay_dt, jnp.ones(2, jnp.float32), 0.0, 0.1, jnp.asarray(1.0, jnp.float32),
                        save_times=jnp.linspace(0.01, 0.1, 10), max_steps=100)
    assert res.saved.shape == (10, 2) and float(res.t) == float(jnp.float32(0.1))
    np.testing.assert_array_equal(res.saved[-1], res.final)
    with pytest.raises(InputError, match=r"^save_times must increase strictly and lie in \(0, 0.1\]$"):
        adaptive_loop(decay_step, decay_dt, jnp.ones(2, jnp.float32), 0.0, 0.1, jnp.asarray(1.0, jnp.float32),
                      save_times=[0.05, 0.11], max_steps=100)


def test_fixed_loop_save_every_with_a_python_number_state_and_traced_save_steps():
    """A Python-number state with save_every was "'float' object is not subscriptable"; save_steps
    traced by jit was a TracerArrayConversionError traceback."""
    final, saved = fixed_loop(lambda s, i, a: s * a, 1.0, 3, 2.0, save_every=1)
    np.testing.assert_array_equal(saved, [1.0, 2.0, 4.0, 8.0])
    assert float(final) == 8.0
    with pytest.raises(InputError, match="^save_steps is traced") as err:
        jax.jit(lambda s: fixed_loop(lambda s, i, a: s * a, jnp.ones(1), 3, 2.0, save_steps=s))(jnp.array([1, 2]))
    assert "\n" not in str(err.value)


def test_adaptive_loop_checks_traced_times_at_run_time():
    """With t1 traced (jit over the end time) the times cannot be checked on entry: save_times = [0.7]
    with t1 = 0.5 ran on to 0.7 and returned t = 0.7 as the end time, silently."""
    import equinox as eqx

    def end(t1, save):
        return adaptive_loop(decay_step, decay_dt, jnp.ones(2), 0.0, t1, 1.0, save_times=save, max_steps=100).t

    assert float(eqx.filter_jit(end)(jnp.asarray(0.5), jnp.asarray([0.2, 0.5]))) == 0.5
    for save in ([0.2, 0.7], [0.3, 0.2], [-0.1, 0.2]):
        with pytest.raises(Exception, match="save_times must increase and lie in"):
            jax.block_until_ready(eqx.filter_jit(end)(jnp.asarray(0.5), jnp.asarray(save)))


def test_adaptive_loop_refuses_t1_that_rounds_to_t0_in_the_loop_precision():
    """t1 = 0.1 + 1e-10 after t0 = 0.1 in a float32 loop took no step and returned t = 0.1."""
    with pytest.raises(InputError, match=r"^t1 = 0.1000000001 is not allowed in float32: it rounds to t0 = 0.1 "):
        adaptive_loop(decay_step, decay_dt, jnp.ones(2, jnp.float32), 0.1, 0.1 + 1e-10, 1.0, max_steps=10)


def test_adaptive_loop_refuses_a_step_that_changes_a_leaf_in_one_line(x64):
    """An integer leaf advanced by dt (a float) was a raw JAX error (while_loop/cond carry types,
    or equinox's closure conversion); so was a leaf that changed shape or a tuple returned as a list."""

    def count_in_time(s, t, dt, args):
        return (s[0] - dt * s[0], s[1] + dt)

    for counter in (jnp.array(0), jnp.array(0, jnp.int32), 0):
        for adjoint in ("checkpointed", "forward", "direct"):
            with pytest.raises(InputError, match=r"^step turned state leaf \[1\] from int(32|64)\[\] into float64\[\]; "
                                                 "each leaf must keep its shape and dtype"):
                adaptive_loop(count_in_time, lambda s, t, a: 0.1, (jnp.array(1.0), counter), 0.0, 1.0, adjoint=adjoint)
    with pytest.raises(InputError, match=r"^step turned state leaf \['n'\] from int64\[\] into int64\[2\]"):
        adaptive_loop(lambda s, t, dt, a: {"x": s["x"], "n": jnp.stack([s["n"], s["n"]])}, lambda s, t, a: 0.1,
                      {"x": jnp.array(1.0), "n": jnp.array(0)}, 0.0, 1.0)
    with pytest.raises(InputError, match=r"^step returned a state of structure PyTreeDef\(\[\*, \*\]\)"):
        adaptive_loop(lambda s, t, dt, a: [s[0], s[1]], lambda s, t, a: 0.1, (jnp.array(1.0), jnp.array(0)), 0.0, 1.0)
    with pytest.raises(InputError, match=r"^dt_fn returned \(2,\); it must return one number"):
        adaptive_loop(decay_step, lambda s, t, a: 0.1 * s, jnp.ones(2), 0.0, 1.0, jnp.array(1.0))
    with pytest.raises(InputError, match=r"^fail_fn returned \(2,\); it must return one number"):
        adaptive_loop(decay_step, decay_dt, jnp.ones(2), 0.0, 1.0, jnp.array(1.0), fail_fn=lambda s: s > 5)
    # an integer leaf that stays integer is carried (and counts the steps); the float leaf's
    # gradient is exact: x(1) = (1 - k dt)^10 with 10 steps of dt = 0.125 to t = 1.25
    def count_steps(s, t, dt, k):
        return (s[0] - dt * k * s[0], s[1] + 1)

    for counter in (jnp.array(0), jnp.array(0, jnp.int32), 0):
        for adjoint in ("checkpointed", "direct"):
            run = adaptive_loop(count_steps, lambda s, t, a: 0.125, (jnp.array(1.0), counter), 0.0, 1.25, 2.0,
                                adjoint=adjoint)
            assert int(run.final[1]) == 10 and run.final[1].dtype == jnp.result_type(counter)
            grad = jax.grad(lambda k, c=counter, adj=adjoint: adaptive_loop(
                count_steps, lambda s, t, a: 0.125, (jnp.array(1.0), c), 0.0, 1.25, k, adjoint=adj).final[0])(2.0)
            np.testing.assert_allclose(float(grad), -10 * 0.125 * 0.75**9, rtol=1e-14)


def test_adaptive_checkpointed_gradient_of_a_python_number_state(x64):
    """A state given as Python numbers: reverse mode of the checkpointed adjoint raised JAX's
    'unexpected tree structure' (the start state came back as a numpy scalar, not differentiable)."""
    for state in (1.0, (1.0,), (1.0, jnp.array(0))):
        def final_x(k, state=state):
            run = adaptive_loop(lambda s, t, dt, a: jax.tree.map(lambda x: x - dt * a * x if jnp.issubdtype(
                jnp.result_type(x), jnp.inexact) else x, s), lambda s, t, a: 0.125, state, 0.0, 1.25, k)
            return jax.tree.leaves(run.final)[0]

        np.testing.assert_allclose(float(jax.grad(final_x)(2.0)), -10 * 0.125 * 0.75**9, rtol=1e-14)


def test_forward_mode_of_the_checkpointed_adjoint_is_a_one_line_error(x64):
    """jax.jvp through adjoint='checkpointed' (a custom_vjp) was JAX's raw TypeError; it now names
    the adjoint that has forward mode, which gives the exact derivative."""
    def final_x(k, adjoint):
        return adaptive_loop(decay_step, lambda s, t, a: 0.125, jnp.ones(2), 0.0, 1.25, k, adjoint=adjoint).final

    with pytest.raises(InputError, match="^adjoint = 'checkpointed' has reverse mode only .* use adjoint='forward'"):
        jax.jvp(lambda k: final_x(k, "checkpointed"), (jnp.array(1.0),), (jnp.array(1.0),))
    _, tangent = jax.jvp(lambda k: final_x(k, "forward"), (jnp.array(1.0),), (jnp.array(1.0),))
    np.testing.assert_allclose(tangent, jax.grad(lambda k: final_x(k, "checkpointed")[0])(1.0), rtol=1e-14)


def test_forward_mode_error_of_a_custom_vjp_in_the_step_is_not_blamed_on_the_adjoint(x64):
    """With adjoint='forward', a custom_vjp inside the user's step is JAX's own error: the message
    "adjoint = 'checkpointed' has reverse mode only ... use adjoint='forward'" was false there."""
    @jax.custom_vjp
    def rate(x):
        return -x

    rate.defvjp(lambda x: (-x, None), lambda _, g: (-g,))

    def final_x(x0):
        return adaptive_loop(lambda s, t, dt, a: s + dt * rate(s), lambda s, t, a: 0.125, x0, 0.0, 1.0, None,
                             adjoint="forward").final

    with pytest.raises(TypeError) as info:
        jax.jvp(final_x, (jnp.ones(2),), (jnp.ones(2),))
    assert "checkpointed" not in str(info.value) and "custom_vjp" in str(info.value)


def test_adaptive_loop_takes_args_that_are_not_arrays(x64):
    """A network in args (an equinox MLP holds its activation function as a leaf) or a function:
    the shape check of the step passed args to jax.eval_shape, which refused such leaves."""
    import equinox as eqx

    mlp = eqx.nn.MLP(3, 3, 8, 1, key=jax.random.PRNGKey(0))
    dt_fn = lambda s, t, a: 0.125  # noqa: E731
    x0 = jnp.ones(3)
    got = adaptive_loop(lambda s, t, dt, m: s + dt * m(s), dt_fn, x0, 0.0, 1.0, mlp).final
    expected = x0
    for _ in range(8):  # the same eight Euler steps by hand
        expected = expected + 0.125 * mlp(expected)
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    args = {"f": jnp.sin, "k": 2.0}
    got = adaptive_loop(lambda s, t, dt, a: s + dt * a["k"] * a["f"](s), dt_fn, x0, 0.0, 1.0, args).final
    expected = x0
    for _ in range(8):
        expected = expected + 0.125 * 2.0 * jnp.sin(expected)
    np.testing.assert_allclose(got, expected, rtol=1e-14)


@pytest.mark.parametrize("kwargs", [{}, {"save_every": 2}, {"checkpoint": "nested"}, {"save_steps": [1]}])
def test_fixed_loop_refuses_a_step_that_changes_a_leaf_in_one_line(x64, kwargs):
    """An int32 counter advanced by a float, a leaf that changed shape or dtype, or a tuple returned
    as a list: lax.scan's raw TypeError. A Python-number leaf may still change kind (scan allows it)."""
    state = (jnp.array(1.0), jnp.array(0, jnp.int32))
    with pytest.raises(InputError, match=r"^step turned state leaf \[1\] from int32\[\] into float64\[\]"):
        fixed_loop(lambda s, i, k: (s[0], s[1] + 0.5), state, 3, 1.0, **kwargs)
    with pytest.raises(InputError, match=r"^step turned state leaf \['x'\] from float64\[3\] into float32\[3\]"):
        fixed_loop(lambda s, i, k: {"x": s["x"].astype(jnp.float32)}, {"x": jnp.ones(3)}, 3, 1.0, **kwargs)
    with pytest.raises(InputError, match=r"^step returned a state of structure PyTreeDef\(\[\*, \*\]\)"):
        fixed_loop(lambda s, i, k: [s[0], s[1]], state, 3, 1.0, **kwargs)
    with pytest.raises(TypeError, match="unsupported operand"):  # the step's own error is left as it is
        fixed_loop(lambda s, i, k: s + "a", jnp.ones(3), 3, 1.0, **kwargs)
    final, _ = fixed_loop(lambda s, i, k: (s[0], s[1] + 0.5), (1.0, 0), 3, 1.0, **kwargs)
    assert float(final[1]) == 1.5


# --- PRNG keys in the loop state (a stochastic step that splits its key each step) ----------------
KEY_MAKERS = {"typed": jax.random.key, "legacy": jax.random.PRNGKey}


def noisy_fixed_step(state, i, a):
    x, key = state
    key, sub = jax.random.split(key)
    return x * a + 0.1 * jnp.sin(x) + 0.1 * jax.random.normal(sub, x.shape, x.dtype), key


def noisy_adaptive_step(state, t, dt, a):
    x, key = state
    key, sub = jax.random.split(key)
    return x + dt * (a * jnp.sin(x) + t) + 0.1 * dt * jax.random.normal(sub, x.shape, x.dtype), key


@pytest.mark.parametrize("key_kind", sorted(KEY_MAKERS))
def test_fixed_loop_carries_a_prng_key(x64, key_kind):
    make_key = KEY_MAKERS[key_kind]
    x0, a = jnp.array([0.3, -0.7, 1.1]), jnp.asarray(0.9)
    ref_x, ref_key = x0, make_key(3)
    for i in range(6):
        ref_x, ref_key = noisy_fixed_step((ref_x, ref_key), jnp.int32(i), a)
    for checkpoint in ("none", "step", "nested"):
        (x, key), saved = fixed_loop(noisy_fixed_step, (x0, make_key(3)), 6, a, save_every=3, checkpoint=checkpoint)
        np.testing.assert_allclose(x, ref_x, rtol=1e-14)
        np.testing.assert_array_equal(jax.random.key_data(key), jax.random.key_data(ref_key))
        assert saved[0].shape == (3, 3)

        def loss(p, checkpoint=checkpoint):
            return jnp.sum(fixed_loop(noisy_fixed_step, (p[0], make_key(3)), 6, p[1], checkpoint=checkpoint)[0][0] ** 2)

        check_grad(loss, (x0, a), num_directions=1, modes=("reverse", "forward", "fd")).assert_close(rtol=1e-7)


@pytest.mark.parametrize("key_kind", sorted(KEY_MAKERS))
def test_adaptive_loop_carries_a_prng_key_in_every_adjoint(x64, key_kind):
    """Was "TypeError: Cannot interpret 'key<fry>' as a data type" for jax.random.key keys."""
    make_key = KEY_MAKERS[key_kind]
    x0, a = jnp.array([0.3, -0.7, 1.1]), jnp.asarray(0.9)
    ref_x, ref_key, ref_mid = x0, make_key(5), None
    for n in range(8):  # dt = 1/8 lands exactly on the save time 0.5 and on t1 = 1
        ref_x, ref_key = noisy_adaptive_step((ref_x, ref_key), 0.125 * n, 0.125, a)
        ref_mid = ref_x if n == 3 else ref_mid

    def dt_fn(state, t, a):
        return 0.125

    for adjoint in ("checkpointed", "direct", "forward"):
        res = adaptive_loop(noisy_adaptive_step, dt_fn, (x0, make_key(5)), 0.0, 1.0, a, save_times=[0.5, 1.0],
                            max_steps=16, adjoint=adjoint, fail_fn=lambda s: jnp.any(jnp.isnan(s[0])))
        np.testing.assert_allclose(res.final[0], ref_x, rtol=1e-14)
        assert res.final[1].dtype == ref_key.dtype and int(res.num_steps) == 8
        np.testing.assert_array_equal(jax.random.key_data(res.final[1]), jax.random.key_data(ref_key))
        np.testing.assert_array_equal(jax.random.key_data(res.saved[1][1]), jax.random.key_data(ref_key))
        np.testing.assert_allclose(res.saved[0][0], ref_mid, rtol=1e-14)

        def loss(p, adjoint=adjoint):
            res = adaptive_loop(noisy_adaptive_step, dt_fn, (p[0], make_key(5)), 0.0, 1.0, p[1], max_steps=16,
                                adjoint=adjoint)
            return jnp.sum(res.final[0] ** 2)

        modes = ("forward", "fd") if adjoint == "forward" else ("reverse", "fd")
        check_grad(loss, (x0, a), num_directions=1, modes=modes).assert_close(rtol=1e-7)


def test_a_step_that_replaces_a_prng_key_names_the_leaf():
    """Was "TypeError: Cannot interpret 'key<fry>' as a data type" (the error's own description)."""
    def step(state, i, args):
        return state[0], jnp.zeros(2)

    with pytest.raises(InputError, match=r"^step turned state leaf \[1\] from key<fry>\[\] into float32\[2\]"):
        fixed_loop(step, (jnp.ones(3), jax.random.key(0)), 5)
    with pytest.raises(InputError, match=r"^step turned state leaf \[1\] from key<fry>\[\] into float32\[2\]"):
        adaptive_loop(lambda s, t, dt, a: step(s, 0, a), lambda s, t, a: 0.1, (jnp.ones(3), jax.random.key(0)),
                      0.0, 1.0)


class _StepTraced(Exception):
    """Raised by a step that must not be traced: a refusal has to come before the loop is built."""


def _untraceable_step(state, i, args=None, *rest):
    raise _StepTraced


@pytest.mark.parametrize(
    "kwargs, refusal",
    [
        ({"num_steps": 2**31, "checkpoint": "nested"}, r"^num_steps = 2147483648 is not allowed; "),
        ({"num_steps": np.int64(2**31), "save_every": 2**31}, r"^num_steps = 2147483648 is not allowed; "),
        ({"num_steps": 5, "save_every": 2**40}, r"^save_every = 1099511627776 is not allowed; "),
    ],
)
def test_step_counts_beyond_the_int32_step_index_are_refused(kwargs, refusal):
    """The step index is int32: beyond 2**31 - 1 steps it wrapped around silently (or a save_every
    beyond it was an OverflowError traceback). Refused before the loop is traced."""
    message = refusal + r"it must be an integer in \[[01], 2147483647\] \(the loop counts steps in int32\)$"
    with pytest.raises(InputError, match=message):
        fixed_loop(_untraceable_step, jnp.zeros(()), **kwargs)


def test_adaptive_max_steps_beyond_int32_is_refused_and_the_largest_runs():
    """max_steps = 2**31 was JAX's OverflowError "while parsing an argument to a jitted
    computation"; 2**31 - 1, what the int32 counter holds, runs."""
    with pytest.raises(InputError, match=r"^max_steps = 2147483648 is not allowed; it must be an integer in "
                                         r"\[1, 2147483647\] \(the loop counts steps in int32\)$"):
        adaptive_loop(_untraceable_step, lambda s, t, a: 0.1, jnp.zeros(()), 0.0, 1.0, max_steps=2**31)
    result = adaptive_loop(lambda s, t, dt, a: s + dt, lambda s, t, a: 0.25, jnp.zeros(()), 0.0, 1.0,
                           max_steps=2**31 - 1, adjoint="forward")
    assert int(result.num_steps) == 4 and float(result.final) == 1.0


def test_adaptive_step_total_saturates_instead_of_wrapping():
    """The total over the output intervals (each up to max_steps) is int32: it stops at 2**31 - 1."""
    from astrograd.diff._adaptive import MAX_STEP_COUNT, add_step_counts

    big = jnp.asarray(MAX_STEP_COUNT - 5, jnp.int32)
    assert int(add_step_counts(big, jnp.asarray(10, jnp.int32))) == MAX_STEP_COUNT == 2**31 - 1
    assert int(add_step_counts(big, jnp.asarray(5, jnp.int32))) == MAX_STEP_COUNT
    assert int(add_step_counts(big, jnp.asarray(4, jnp.int32))) == MAX_STEP_COUNT - 1
    assert int(add_step_counts(jnp.asarray(3, jnp.int32), jnp.asarray(4, jnp.int32))) == 7
