import jax

import astrograd


def test_import_does_not_enable_x64():
    assert astrograd.__version__
    assert not jax.config.read("jax_enable_x64")


def test_x64_fixture_switches_on_and_off(x64):
    import jax.numpy as jnp

    from astrograd._precision import float64

    assert jnp.zeros(1).dtype == jnp.float64
    # "and off" was never checked: the context manager behind the fixture restores the setting
    jax.config.update("jax_enable_x64", False)
    try:
        with float64():
            assert jnp.zeros(1).dtype == jnp.float64
        assert jnp.zeros(1).dtype == jnp.float32
    finally:
        jax.config.update("jax_enable_x64", True)


def test_check_positive_refuses_bools():
    import numpy as np
    import pytest

    from astrograd._errors import InputError, check_positive

    # True was read as 1.0 (float() takes it); every area's numbers go through check_positive
    for value in (True, np.True_):
        with pytest.raises(InputError, match=r"^g = (np\.)?True_? is not allowed; it must be a finite number > 0$"):
            check_positive("g", value)
    with pytest.raises(InputError, match="^drag = False is not allowed; it must be a finite number >= 0$"):
        check_positive("drag", False, allow_zero=True)
    with pytest.raises(InputError, match="^dt = 'fast' is not a number; it must be a positive number$"):
        check_positive("dt", "fast")
    # where 0 is allowed, text said "it must be a positive number", which 0 is not
    for value in ("none", None):
        with pytest.raises(InputError, match=rf"^noise = {value!r} is not a number; it must be a finite number >= 0$"):
            check_positive("noise", value, allow_zero=True)
    assert check_positive("dt", "0.5") == 0.5  # numeric text is read as a number (ThrowConfig("0.05"))
    assert check_positive("dt", np.float32(0.5)) == 0.5 and check_positive("n", np.int64(3)) == 3.0


def test_check_in_range_refuses_bools():
    import numpy as np
    import pytest

    from astrograd._errors import InputError, check_in_range
    from astrograd.cosmo import Cosmology

    # True was read as 1.0: Cosmology(omega_b=True) said "omega_b = 1 is outside ..." and
    # check_in_range("theta", True, 0, 2) passed
    for value in (True, np.False_):
        with pytest.raises(InputError, match=r"^theta = (np\.)?(True|False)_? is not a number$"):
            check_in_range("theta", value, 0.0, 2.0)
    with pytest.raises(InputError, match="^omega_b = True is not a number$"):
        Cosmology(omega_b=True)
    assert check_in_range("theta", "0.5", 0.0, 2.0) == 0.5 and check_in_range("n", np.int64(1), 0.0, 2.0) == 1.0


def test_errors_with_attributes_survive_pickling():
    """Exceptions with extra __init__ arguments must pickle (a worker process sends them back):
    without __reduce__ unpickling called __init__ with the message alone (a TypeError)."""
    import pickle

    import numpy as np

    from astrograd.hydro._solve import StepCapError
    from astrograd.inverse import FitStepError

    err = pickle.loads(pickle.dumps(FitStepError("the loss failed at step 3: x", 3, RuntimeError("x"),
                                                 {"a": np.arange(2.0)})))
    assert (type(err), str(err), err.step, str(err.cause)) == (FitStepError, "the loss failed at step 3: x", 3, "x")
    np.testing.assert_array_equal(err.params["a"], [0.0, 1.0])
    cap = pickle.loads(pickle.dumps(StepCapError("cap met", 10, 0.5, 0.75, 1.0)))
    assert (type(cap), str(cap), cap.max_steps, cap.t, cap.stop, cap.t_end) == (StepCapError, "cap met", 10, 0.5,
                                                                              0.75, 1.0)
