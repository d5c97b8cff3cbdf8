"""Physics validation of the 2D incompressible solver (small grids; long runs are `slow`)."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from astrograd import flow
from astrograd._errors import InputError, SimulationError
from astrograd.flow._pressure import solve_pressure_cg, solve_pressure_fft


def _tg_decay_run(n, advection, nu=0.05, t_end=1.0, viscosity_scheme="implicit"):
    """Taylor–Green state, params, config (FFT projection) and the step count that reach t_end."""
    state, params, config = flow.taylor_green(n, nu, advection=advection)
    steps = int(round(t_end / config.dt))
    config = flow.FlowConfig(
        config.grid,
        config.boundaries,
        t_end / steps,
        advection=advection,
        viscosity_scheme=viscosity_scheme,
        pressure_solver="fft",
        tol=1e-10,
    )
    return state, params, config, steps


def _tg_energy_error(n, advection, nu=0.05, t_end=1.0, viscosity_scheme="implicit"):
    """Relative error of E(t_end)/E(0) against the exact exp(-4 nu k^2 t) (k = 1)."""
    state, params, config, steps = _tg_decay_run(n, advection, nu, t_end, viscosity_scheme)
    final, _ = flow.simulate(state, params, config, steps)
    ratio = float(flow.kinetic_energy(final, config) / flow.kinetic_energy(state, config))
    exact = np.exp(-4 * nu * t_end)
    div = float(jnp.max(jnp.abs(flow.divergence(final.vx, final.vy, config.grid))))
    return abs(ratio - exact) / exact, div


def test_taylor_green_decay_first_order(x64):
    """Energy decay vs E0 exp(-4 nu t): the scheme (Chorin splitting, backward-Euler viscosity,
    dt proportional to dx; forward-Euler viscosity here) is first order, so the error must halve under refinement."""
    (e1, d1), (e2, d2) = (_tg_energy_error(n, "maccormack", viscosity_scheme="explicit") for n in (16, 32))
    assert e2 < 0.05
    assert 0.7 < np.log2(e1 / e2) < 1.4, (e1, e2)
    assert max(d1, d2) < 3e-14  # FFT projection is exact for the discrete operator (measured 1.1e-15)


@pytest.mark.slow
@pytest.mark.parametrize("advection", ["semi-lagrangian", "maccormack"])
def test_taylor_green_decay_order_slow(x64, advection):
    errors, _ = zip(*(_tg_energy_error(n, advection) for n in (16, 32, 64, 128)), strict=True)
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > 0.75) and np.all(orders < 1.4), (errors, orders)


def test_cg_and_fft_pressure_agree(x64):
    """The CG solve on a periodic grid matches the FFT (eigen-decomposition) solve."""
    g = flow.Grid(24, 16, 3.0, 2.0)
    key1, key2 = jax.random.split(jax.random.key(1))
    vx = jax.random.normal(key1, (16, 25))
    vy = jax.random.normal(key2, (17, 24))
    vx = vx.at[:, -1].set(vx[:, 0])
    vy = vy.at[-1].set(vy[0])
    # one compiled program (eagerly, each small op of the CG setup compiled on its own)
    phi_cg, ok, steps, _ = jax.jit(solve_pressure_cg, static_argnums=(3, 4, 5, 6))(
        vx, vy, jnp.zeros((16, 24)), g, flow.PERIODIC, 1e-12, 2000
    )
    phi_fft = jax.jit(solve_pressure_fft, static_argnums=2)(vx, vy, g)
    assert bool(ok)
    phi_cg = phi_cg - phi_cg.mean()
    # measured: max |phi_cg - phi_fft| = 1.1e-12 max |phi_fft|
    np.testing.assert_allclose(phi_cg, phi_fft, atol=3e-11 * float(jnp.abs(phi_fft).max()))


@jax.jit
def _divergence_after_one_projection(state, params, config):
    """One compiled program (config is static: an equinox module of static fields); eagerly each
    small op was compiled on its own. Returns (converged, max |div| before, after, vx, vy)."""
    from astrograd.flow._pressure import project

    vx, vy = flow.enforce_boundaries(state.vx, state.vy, params, config)
    g, bc = config.grid, config.boundaries
    phi, ok, _, w = solve_pressure_cg(vx, vy, params.solid, g, bc, config.tol, config.max_cg_steps)
    before = jnp.abs(flow.divergence(vx, vy, g)) * (1 - params.solid)
    vx, vy = project(vx, vy, phi, w, g, bc)
    after = jnp.abs(flow.divergence(vx, vy, g)) * (1 - params.solid)
    return ok, before.max(), after.max(), vx, vy


@pytest.mark.parametrize("obstacle", [False, True])
def test_divergence_after_projection_below_tolerance(obstacle):
    """Random velocity in a closed box (all Neumann, gauge fixed) with/without a box obstacle:
    the divergence left is the CG residual, below tol*(max|b| + |b_i|) <= 2 tol max|div v*|."""
    g = flow.Grid(24, 20, 1.2, 1.0)
    bc = flow.Boundaries("no-slip", "free-slip", "no-slip", "free-slip")
    tol = 1e-4
    config = flow.FlowConfig(g, bc, 0.01, tol=tol)
    solid = flow.box_mask(g, (0.4, 0.3), (0.7, 0.6)) if obstacle else None
    params = flow.make_params(config, 1e-3, solid=solid)
    kx, ky = jax.random.split(jax.random.key(2))
    state = flow.make_state(config, jax.random.normal(kx, (20, 25)), jax.random.normal(ky, (21, 24)))
    ok, before, after, vx, vy = _divergence_after_one_projection(state, params, config)
    ok, before, after = bool(ok), float(before), float(after)
    assert ok
    assert after <= 2 * tol * before
    assert before > 1.0  # the random field was far from solenoidal
    if obstacle:  # no flow through the obstacle walls
        solid_x = flow._ops.cells_to_xfaces(params.solid, bc)
        assert float(jnp.abs(vx * solid_x).max()) == 0.0


def test_karman_runs_divergence_free_and_sheds_mass_through_outflow():
    """Book geometry at 16 x 32 cells: after 20 steps the flow is divergence-free to the solver
    tolerance in fluid cells, and the outflow flux equals the inflow flux (mass conservation)."""
    state, params, config = flow.karman(16, 32, reynolds=100, tol=1e-4)
    final, _ = flow.simulate(state, params, config, 20)
    g = config.grid
    div = jnp.abs(flow.divergence(final.vx, final.vy, g)) * (1 - params.solid)
    assert float(div.max()) < 2e-4  # measured 8.2e-6 (float32, CG tol 1e-4)
    inflow = float(jnp.sum(final.vy[0])) * g.dx
    outflow = float(jnp.sum(final.vy[-1])) * g.dx
    assert inflow == pytest.approx(100.0, rel=1e-6)
    assert outflow == pytest.approx(inflow, rel=1e-3)  # measured 4.3e-5
    assert int(final.status) == 0


def test_pressure_non_convergence_is_reported():
    state, params, config = flow.karman(16, 32, reynolds=100, max_cg_steps=2)
    with pytest.raises(SimulationError, match=r"did not converge .* at t = 1,"):
        flow.simulate(state, params, config, 3)
    final, _ = flow.simulate(state, params, config, 3, check=False)
    assert int(final.status) & flow.STATUS_SOLVE_FAILED
    assert not bool(flow.is_ok(final))


def test_non_finite_fields_are_reported():
    import equinox as eqx

    state, params, config = flow.karman(16, 32, reynolds=100, tol=1e-4)
    bad = eqx.tree_at(lambda s: s.marker, state, state.marker.at[7, 3].set(jnp.inf))
    with pytest.raises(InputError, match="marker has a non-finite value"):
        flow.simulate(bad, params, config, 20)
    final, _ = flow.simulate(state, params, config, 20, check=False)  # compiled above
    run = flow._solver._run(bad, params, config, 20, None, "none")[0]
    assert int(run.status) & flow.STATUS_NON_FINITE
    with pytest.raises(SimulationError, match=r"non-finite .* at t = 1,"):
        flow.raise_on_failure(run, config)


def test_bad_input_messages():
    with pytest.raises(InputError, match="resolution nx = 0"):
        flow.Grid(0, 8, 1.0, 1.0)
    with pytest.raises(InputError, match="dt = -1"):
        flow.karman(16, 32, dt=-1.0)
    with pytest.raises(InputError, match="cylinder centre"):
        flow.karman(16, 32, centre=(95.0, 50.0))
    with pytest.raises(InputError, match="viscosity = 0"):
        state, params, config = flow.taylor_green(8, 0.1)
        flow.make_params(config, 0.0)
    with pytest.raises(InputError, match="above the explicit viscosity limit"):
        flow.karman(128, 256, reynolds=10.0, viscosity_scheme="explicit")
    with pytest.raises(InputError, match="periodic"):
        flow.FlowConfig(flow.Grid(8, 8, 1.0, 1.0), flow.Boundaries(), 0.1, pressure_solver="fft")


@pytest.mark.slow
def test_strouhal_number_at_re_100(monkeypatch):
    """Nearly unconfined cylinder wake at Re = 100 (20 D wide, D = 16 cells; see
    benchmarks/bench_flow_strouhal.py): St within 10 % of the published 0.165."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[2] / "benchmarks" / "bench_flow_strouhal.py"
    monkeypatch.syspath_prepend(str(path.parent))  # its helper module benchmarks/_timing.py (as `python SCRIPT` has)
    spec = importlib.util.spec_from_file_location("bench_flow_strouhal", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.measure()
    assert result["periods"] >= 2
    assert result["probe_amplitude"] > 0.3  # fully developed shedding
    assert abs(result["strouhal"] / 0.165 - 1) < 0.10, result


def test_smoke_plume_rises():
    """Buoyancy: after 30 steps the marker's centroid lies above its source and the velocity
    above the source points up."""
    state, params, config = flow.smoke(16, 16, 1.0)
    final, _ = flow.simulate(state, params, config, 30)
    _, y = config.grid.cell_centres()
    m = np.asarray(final.marker)
    centroid = float((m * np.asarray(y)).sum() / m.sum())
    assert centroid > 15.0 + 5.0
    assert float(final.vy[4:10, 7:9].mean()) > 0


def _closed_box(n=8, dt=0.01):
    return flow.FlowConfig(flow.Grid(n, n, 1.0, 1.0), flow.Boundaries(*["free-slip"] * 4), dt)


def _simulate_mismatched_grids():
    small, big = _closed_box(4), _closed_box(8)
    flow.simulate(flow.make_state(big), flow.make_params(small, 1e-3), small, 1)


def _simulate_swapped_arguments():
    config = _closed_box()
    flow.simulate(flow.make_params(config, 1e-3), flow.make_state(config), config, 1)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: flow.FlowConfig(flow.Grid(8, 8, 1.0, 1.0), None, 0.1), "boundaries = None"),
        (lambda: flow.FlowConfig(None, flow.Boundaries(), 0.1), "grid = None"),
        (lambda: flow.FlowConfig(flow.Grid(8, 8, 1.0, 1.0), flow.Boundaries(), 0.1, forcing_direction=(1.0,)),
         r"forcing_direction = \(1.0,\) is not allowed; it must be a pair of numbers"),
        (lambda: flow.FlowConfig(flow.Grid(8, 8, 1.0, 1.0), flow.Boundaries(), 0.1,
                                 forcing_direction=(float("nan"), 1.0)), "forcing_direction .* must be finite"),
        (lambda: flow.make_params(_closed_box(), "a"), "viscosity = 'a' is not allowed"),
        (lambda: flow.make_params(_closed_box(), 1e-3, inflow_speed=[1.0, 2.0]),
         r"inflow_speed has shape \(2,\); it must be a single number"),
        (lambda: flow.make_params(_closed_box(), 1e-3, solid=np.full((8, 8), 2.0)),
         r"solid has the value 2 at index \(0, 0\); mask values must lie in \[0, 1\]"),
        (lambda: flow.make_params(_closed_box(), 1e-3, forcing=-np.eye(8)), "forcing has the value -1"),
        (lambda: flow.make_state(_closed_box(), time=float("nan")), "time has a non-finite value"),
        (lambda: flow.make_state(_closed_box(), time=[0.0, 1.0]), r"time has shape \(2,\)"),
        (_simulate_mismatched_grids, r"state.vx has shape \(8, 9\); the grid of config needs \(4, 5\)"),
        (_simulate_swapped_arguments, "state is a FlowParams; it must be a FlowState"),
        (lambda: flow.karman(8.7, 32), "resolution nx = 8.7"),
        (lambda: flow.karman(True, 32), "resolution nx = True"),
        (lambda: flow.karman(16, 32, width=float("nan")), "width = nan"),
        (lambda: flow.karman(16, 32, inflow_speed=0.0), "inflow speed = 0"),
        (lambda: flow.karman(16, 32, inflow_depth=-1.0), "inflow depth = -1"),
        (lambda: flow.karman(16, 32, inflow_depth=60.0), "inflow depth 60 reaches the cylinder"),
        (lambda: flow.karman(4, 40), "cylinder radius 10 is too small for the grid"),
        (lambda: flow.karman(16, 32, centre=(50.0,)), "cylinder centre = .* must be a pair of numbers"),
        (lambda: flow.karman(16, 32, perturbation=0.1, key=123), "key = 123"),
        (lambda: flow.taylor_green(8.5), "resolution n = 8.5"),
        (lambda: flow.taylor_green(8, k=1.5), "wavenumber k = 1.5"),
        (lambda: flow.taylor_green(8, k=4), r"wavenumber k = 4 .* k < n/2 = 4"),
        (lambda: flow.taylor_green(8, amplitude=0.0), "amplitude = 0 needs an explicit dt"),
        (lambda: flow.taylor_green(8, dt=0.1, amplitude=float("inf")), "amplitude = inf"),
        (lambda: flow.smoke(8, 8, size=100.0), "size = 100.0 is not allowed; it must be a pair of numbers"),
        # a source disc between the cell centres injected no marker: a box at rest, run without a word
        (lambda: flow.smoke(4, 4), r"^resolution 4x4 is too coarse for the smoke source \(a disc of radius 10 "
                                   r"covering no cell centre at dx = 25, dy = 25\); use more cells$"),
        (lambda: flow.box_mask(flow.Grid(8, 8, 1.0, 1.0), 0.0, (1.0, 1.0)), "box lower corner = 0.0"),
        (lambda: flow.marker_problem(8.5), "resolution n = 8.5"),
        (lambda: flow.shedding_probe(*flow.taylor_green(8), 2.5, (1.0, 1.0)), "num_steps = 2.5"),
        (lambda: flow.shedding_probe(*flow.taylor_green(8), 2, (float("nan"), 1.0)), r"probe \(nan, 1.0\) lies"),
        (lambda: flow.strouhal_number(np.arange(9.0), np.sin(np.arange(9.0)), 1.0, 0.0, 0.0), "speed = 0"),
        (lambda: flow.strouhal_number(np.arange(9.0), np.zeros(8), 1.0, 1.0, 0.0), "same length"),
        (lambda: flow.advect(jnp.zeros((8, 8)), "c", jnp.zeros((8, 9)), jnp.zeros((9, 8)), 0.1,
                             flow.Grid(8, 8, 1.0, 1.0), flow.Boundaries(), "upwind"), "unknown advection scheme"),
        # a perturbation that is not a number was a TypeError from jnp; NaN was blamed on "vx"
        (lambda: flow.karman(16, 32, perturbation="x"), "perturbation = 'x' is not allowed; it must be a finite"),
        (lambda: flow.karman(16, 32, perturbation=float("nan")), "perturbation = nan is not allowed"),
        # check="no" was truthy (and check=0 switched the failure check off)
        (lambda: flow.simulate(*flow.taylor_green(8), 2, check="no"), "check = 'no' is not allowed; it must be True"),
        # warm_start="no" was truthy: CG started from the previous pressure
        (lambda: flow.FlowConfig(flow.Grid(8, 8, 1.0, 1.0), flow.Boundaries(), 0.1, warm_start="no"),
         "^warm_start = 'no' is not allowed; it must be True or False$"),
        # progress="no" was accepted with iterations = 0 (no fit runs to check it)
        (lambda: flow.fit_marker(0, n=8, steps=1, progress="no"),
         "^progress = 'no' is not allowed; it must be True or False$"),
        # a perturbation of True was taken as 1.0
        (lambda: flow.karman(16, 32, perturbation=True), "^perturbation = True is not allowed; it must be a finite"),
        # a NaN start time gave (nan, 0) as if too few periods had been seen
        (lambda: flow.strouhal_number(np.arange(9.0), np.sin(np.arange(9.0)), 1.0, 1.0, float("nan")),
         "t_start = nan is not allowed; it must be a finite number"),
    ],
)
def test_bad_api_input_is_one_line_input_error(call, match):
    with pytest.raises(InputError, match=match) as err:
        call()
    assert "\n" not in str(err.value)


def test_numeric_text_and_numpy_numbers_in_static_settings_are_python_numbers():
    """Numeric text passed the checks (check_positive reads it) but stayed text: a TypeError from
    the first arithmetic (dt × viscosity, lx / nx); numpy numbers stayed numpy scalars."""
    grid = flow.Grid(np.int64(8), 8, "1.0", np.float32(2.0))
    config = flow.FlowConfig(grid, flow.PERIODIC, "0.01", pressure_solver="fft", tol="1e-6",
                             max_cg_steps=np.int64(50))
    assert (grid.nx, grid.lx, grid.ly, grid.dx) == (8, 1.0, 2.0, 0.125)
    assert type(grid.nx) is int and type(grid.lx) is float and type(config.max_cg_steps) is int
    assert (config.dt, config.tol) == (0.01, 1e-6) and type(config.dt) is float
    assert flow.diffusion_number(config, 0.1) > 0
    burgers = flow.BurgersConfig(n=np.int64(8), length="2", x_min="-1", dt="0.1")
    assert (burgers.n, burgers.length, burgers.x_min, burgers.dt, burgers.dx) == (8, 2.0, -1.0, 0.1, 0.25)
    with pytest.raises(InputError, match="dt = 'fast' is not a number"):
        flow.FlowConfig(grid, flow.PERIODIC, "fast")


def test_numpy_step_counts_and_a_negative_taylor_green_amplitude_are_accepted(compilations):
    state, params, config = flow.taylor_green(8)
    a, saved_a = flow.simulate(state, params, config, 2, save_every=1)
    # numpy integers are the same static counts as Python ints: the same result, and the program
    # compiled for the ints is reused (one compilation of the solver instead of two)
    with compilations() as names:
        b, saved_b = flow.simulate(state, params, config, np.int64(2), save_every=np.int64(1))
    assert not [n for n in names if "_run" in str(n)], names
    np.testing.assert_array_equal(np.asarray(a.vx), np.asarray(b.vx))
    np.testing.assert_array_equal(np.asarray(saved_a.vx), np.asarray(saved_b.vx))
    assert saved_b.vx.shape[0] == 3  # the initial state and both steps
    np.testing.assert_array_equal(np.asarray(saved_b.vx[-1]), np.asarray(b.vx))
    # the default dt is 0.5 dx / |amplitude|: a vortex turning the other way has the same one
    assert flow.taylor_green(8, amplitude=-1.0)[2].dt == config.dt


@pytest.mark.parametrize("op", [flow.divergence, flow.curl])
def test_divergence_and_curl_name_mismatched_field_shapes(op):
    # a raw broadcasting TypeError, or a wrong-sized result when the fields fit another grid
    grid = flow.Grid(4, 3, 4.0, 3.0)
    for vx, vy in (((3, 5), (3, 4)), ((3, 5), (5, 4)), ((2, 3), (3, 2))):
        with pytest.raises(InputError, match=(
            rf"^{op.__name__}: vx of shape \({vx[0]}, {vx[1]}\) and vy of shape \({vy[0]}, {vy[1]}\) are not allowed "
            r"on the 4x3 grid; it needs vx \(3, 5\) \(ny, nx\+1\) and vy \(4, 4\) \(ny\+1, nx\)$")):
            op(jnp.zeros(vx), jnp.zeros(vy), grid)
        with pytest.raises(InputError, match="are not allowed on the 4x3 grid"):  # shapes are static under jit
            jax.jit(op, static_argnums=2)(jnp.zeros(vx), jnp.zeros(vy), grid)
    assert op(jnp.zeros((3, 5)), jnp.zeros((4, 4)), grid).shape == (3, 4)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: flow.Grid(4, 4, True, 1.0), "domain size lx = True is not allowed; it must be a finite number > 0"),
        (lambda: flow.Grid(4, 4, 1.0, False), "domain size ly = False is not allowed"),
        (lambda: flow.FlowConfig(flow.Grid(4, 4, 1.0, 1.0), flow.Boundaries(), True),
         "dt = True is not allowed; it must be a finite number > 0"),
    ],
)
def test_flow_settings_refuse_a_bool_as_a_number(make, match):
    # True was taken as 1.0
    with pytest.raises(InputError, match=match):
        make()


def test_fit_marker_refuses_a_checkpoint_with_no_iterations(tmp_path):
    from astrograd.flow._fit import fit_marker

    with pytest.raises(InputError, match="with iterations = 0; nothing is optimised or saved"):
        fit_marker(0, checkpoint=tmp_path / "c.npz")


@pytest.mark.parametrize("sides", [("inflow", "no-slip", "no-slip", "no-slip"),
                                   ("inflow", "inflow", "periodic", "periodic"),
                                   ("free-slip", "free-slip", "inflow", "no-slip")])
def test_an_inflow_side_without_an_outflow_side_is_refused(sides):
    # the projection of a closed domain removes only the zero-mean part of the divergence: the
    # inflow stayed as a uniform divergence (1 per cell for inflow_speed 1 on the unit square),
    # status 0 and no error
    with pytest.raises(InputError, match=r"^boundaries .* are not allowed: an inflow side needs an outflow side"):
        flow.FlowConfig(flow.Grid(8, 8, 1.0, 1.0), flow.Boundaries(*sides), 0.01)


def test_a_channel_with_inflow_and_outflow_stays_divergence_free(x64):
    """Exact check: the discrete divergence of every fluid cell after each step is at the CG
    tolerance, and the flux out of the open side equals the flux in."""
    grid = flow.Grid(8, 6, 1.0, 0.75)
    config = flow.FlowConfig(grid, flow.Boundaries("inflow", "outflow", "no-slip", "free-slip"), 0.02, tol=1e-12)
    params = flow.make_params(config, 0.01, inflow_speed=0.7)
    final, _ = flow.simulate(flow.make_state(config), params, config, 3)
    # measured: divergence 8.7e-14, flux mismatch 3.8e-15 (relative)
    assert float(jnp.max(jnp.abs(flow.divergence(final.vx, final.vy, grid)))) < 2e-12
    np.testing.assert_allclose(np.asarray(final.vx[:, -1]).sum(), 0.7 * grid.ny, rtol=1e-13)


def test_array_valued_static_numbers_are_python_floats():
    # a 0-d numpy or JAX array was kept as the static domain size or time step (equinox warns
    # "A JAX array is being set as static!", and the static value is not a plain number)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grid = flow.Grid(8, 8, np.array(2.0), jnp.asarray(1.0))
        burgers = flow.BurgersConfig(n=8, dt=np.array(0.1))
    assert (type(grid.lx), type(grid.ly), type(burgers.dt)) == (float, float, float)
    assert (grid.lx, grid.ly, burgers.dt) == (2.0, 1.0, 0.1)


def test_a_probe_on_the_top_edge_reads_the_nearest_face():
    # y = ly lies in the domain [0, ly] but was refused "outside the domain" (the nearest face
    # row rounded to ny); it is the top row of x-faces, as for y just below ly
    # inviscid: the probe's face does not depend on the scheme, and each shedding_probe call
    # compiles its run anew, without the implicit viscosity's CG solves in it (seconds each)
    state, params, config = flow.taylor_green(8, viscosity_scheme="none")
    g = config.grid
    _, _, top = flow.shedding_probe(state, params, config, 2, (g.dx, g.ly))
    _, _, below = flow.shedding_probe(state, params, config, 2, (g.dx, g.ly - 0.3 * g.dy))
    np.testing.assert_array_equal(top, below)
    with pytest.raises(InputError, match="lies outside the domain"):
        flow.shedding_probe(state, params, config, 2, (-0.4 * g.dx, 1.0))


def test_strouhal_number_with_no_samples_after_t_start_is_nan_without_a_warning():
    import warnings

    t = np.arange(9.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Mean of empty slice"
        st, periods = flow.strouhal_number(t, np.sin(t), 1.0, 1.0, 100.0)
    assert np.isnan(st) and periods == 0


def test_numeric_text_in_scene_geometry_is_read_as_numbers():
    # the checks accepted the text, the arithmetic then raised a TypeError (radius: "can't
    # multiply sequence by non-int"; box corners were compared as text)
    grid = flow.Grid(8, 8, 1.0, 1.0)
    np.testing.assert_array_equal(flow.box_mask(grid, ("0.2", "0"), ("0.6", "0.5")),
                                  flow.box_mask(grid, (0.2, 0.0), (0.6, 0.5)))
    a = flow.karman(16, 32, width="100", height="200", radius="10", inflow_speed="1")
    b = flow.karman(16, 32, width=100.0, height=200.0, radius=10.0, inflow_speed=1.0)
    for x, y in zip(jax.tree.leaves(a[:2]), jax.tree.leaves(b[:2]), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_step_and_kinetic_energy_name_a_state_of_another_grid():
    # step: a raw broadcasting TypeError (also with params of another grid, or state and params
    # swapped: an AttributeError); kinetic_energy: a silently wrong energy (this grid's dx dy)
    state, params, config = flow.taylor_green(8)
    state10, params10, config10 = flow.taylor_green(10)
    with pytest.raises(InputError, match=r"^state.vx has shape \(8, 9\); the grid of config needs \(10, 11\)$"):
        flow.step(state, params10, config10)
    with pytest.raises(InputError, match=r"^state.vx has shape \(8, 9\); the grid of config needs \(10, 11\)"):
        jax.jit(flow.step, static_argnums=2)(state, params10, config10)  # shapes are static under jit
    with pytest.raises(InputError, match=r"^params.solid has shape \(10, 10\); the grid of config needs \(8, 8\)$"):
        flow.step(state, params10, config)
    with pytest.raises(InputError, match=r"^state is a FlowParams; it must be a FlowState \(see make_state\)$"):
        flow.step(params, state, config)
    with pytest.raises(InputError, match=r"^kinetic_energy: vx of shape \(8, 9\) and vy of shape \(9, 8\) are not "
                                         r"allowed on the 10x10 grid"):
        flow.kinetic_energy(state, config10)
    np.testing.assert_allclose(float(flow.kinetic_energy(state, config)), np.pi**2, rtol=1e-5)


def test_burgers_state_of_another_length_is_refused_also_under_jit():
    # burgers_step returned a silently wrong-length (n,) result from a (n - 1,) state;
    # burgers_simulate under jit (the shape was checked only when concrete) was a raw scan TypeError
    config = flow.BurgersConfig(n=9)
    with pytest.raises(InputError, match=r"^u has shape \(8,\); it must be \(n,\) = \(9,\)$"):
        flow.burgers_step(jnp.zeros(8), 0.01, config)
    with pytest.raises(InputError, match=r"^u0 has shape \(8,\); it must be \(n,\) = \(9,\)"):
        jax.jit(lambda u: flow.burgers_simulate(u, 0.01, config, 2)[0])(jnp.zeros(8))
    u0 = flow.burgers_initial(config)
    np.testing.assert_allclose(np.asarray(jax.jit(lambda u: flow.burgers_simulate(u, 0.01, config, 1)[0])(u0)),
                               np.asarray(flow.burgers_step(u0, 0.01, config)), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: flow.fit_burgers(1, n=8, target_step=-1),
         r"^target_step = -1 is not allowed; it must be an integer >= 0$"),
        (lambda: flow.marker_problem(4, -1), r"^steps = -1 is not allowed; it must be an integer >= 0$"),
        (lambda: flow.fit_marker(1, n=4, steps=1.5), r"^steps = 1.5 is not allowed; it must be an integer >= 0$"),
    ],
)
def test_inverse_problem_step_counts_are_named_as_their_arguments(call, match):
    # the message named num_steps, an argument of the functions they call
    with pytest.raises(InputError, match=match):
        call()


_PERIODIC = flow.Boundaries("periodic", "periodic", "periodic", "periodic")


def _advected_error(n, scheme, u=0.3, v=0.2, t_end=1.0):
    """RMS error of a smooth periodic marker carried by a uniform velocity for t_end against the
    exact shifted field, at a fixed Courant number (dt = 1/(n/4): u dt/dx = 1.2 u)."""
    grid = flow.Grid(n, n, 1.0, 1.0)
    x, y = grid.cell_centres()
    q0 = np.sin(2 * np.pi * x) * np.cos(2 * np.pi * y)
    vx, vy = jnp.full((n, n + 1), u), jnp.full((n + 1, n), v)
    steps = n // 4

    @jax.jit
    def run(q):
        return jax.lax.fori_loop(
            0, steps, lambda i, q: flow.advect(q, "c", vx, vy, t_end / steps, grid, _PERIODIC, scheme), q
        )

    exact = np.sin(2 * np.pi * (x - u * t_end)) * np.cos(2 * np.pi * (y - v * t_end))
    return float(np.sqrt(np.mean((np.asarray(run(jnp.asarray(q0))) - exact) ** 2)))


@pytest.mark.parametrize("scheme, order", [("semi-lagrangian", 1), ("maccormack", 2)])
def test_advection_of_a_smooth_field_converges_at_its_order(x64, scheme, order):
    """Against the exact translated field (no solver involved): semi-Lagrangian first order with
    dt ∝ dx (interpolation error per step O(dx²), n steps), MacCormack second order (measured
    orders 0.97, 0.98 and 1.95, 2.00 over 16, 32, 64 cells)."""
    errors = [_advected_error(n, scheme) for n in (16, 32, 64)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(np.abs(orders - order) < 0.15), (errors, orders)


def test_advection_by_whole_cells_is_an_exact_shift(x64):
    """A displacement of exactly (2, -1) cells moves every value onto a node: both schemes give
    the rolled field to round-off (bilinear weights 0/1)."""
    n = 16
    grid = flow.Grid(n, n, 1.0, 1.0)
    q0 = jax.random.normal(jax.random.key(3), (n, n))
    dt = 0.5
    vx, vy = jnp.full((n, n + 1), 2 * grid.dx / dt), jnp.full((n + 1, n), -grid.dy / dt)
    for scheme in flow.ADVECTION_SCHEMES:
        q = flow.advect(q0, "c", vx, vy, dt, grid, _PERIODIC, scheme)
        np.testing.assert_allclose(np.asarray(q), np.roll(np.asarray(q0), (-1, 2), axis=(0, 1)), atol=1e-13)


def test_same_run_twice_is_bit_identical():
    """Determinism: a Kármán run (CG solves) and a Taylor–Green run (FFT, float64) repeated give
    the same bits. They are the runs of the Kármán and Taylor–Green decay tests above (the same
    configurations, step counts and float types), so their compiled programs are reused."""
    from astrograd._precision import float64

    def assert_bit_identical(state, params, config, num_steps):
        a, b = (flow.simulate(state, params, config, num_steps)[0] for _ in range(2))
        for field in ("vx", "vy", "marker", "pressure"):
            assert np.asarray(getattr(a, field)).tobytes() == np.asarray(getattr(b, field)).tobytes()

    assert_bit_identical(*flow.karman(16, 32, reynolds=100, tol=1e-4), 20)
    with float64():
        assert_bit_identical(*_tg_decay_run(16, "maccormack", viscosity_scheme="explicit"))


def test_viscosity_and_viscosity_scheme_must_agree():
    """ν = 0 was refused with "it must be a finite number > 0" although viscosity_scheme 'none'
    takes it; a non-zero ν with 'none' was accepted and ignored (the run was inviscid)."""
    state, params, config = flow.taylor_green(8, 0.1)
    with pytest.raises(InputError, match=r"^viscosity = 0 is not allowed with viscosity_scheme 'implicit'; it must "
                       r"be a finite number > 0 \(viscosity_scheme 'none' runs inviscid flow\)$"):
        flow.make_params(flow.FlowConfig(config.grid, config.boundaries, config.dt, viscosity_scheme="implicit"), 0.0)
    inviscid = flow.FlowConfig(config.grid, config.boundaries, config.dt, viscosity_scheme="none",
                               pressure_solver="fft")
    with pytest.raises(InputError, match=r"^viscosity = 0.1 is not allowed with viscosity_scheme 'none' \(inviscid\); "
                       r"it must be 0, or use the explicit or implicit viscosity scheme$"):
        flow.make_params(inviscid, 0.1)
    with pytest.raises(InputError, match=r"^viscosity = 0.1 is not allowed with viscosity_scheme 'none'"):
        flow.simulate(state, params, inviscid, 1)  # params made for a viscous run
    with pytest.raises(InputError, match=r"^viscosity = -0.1 is not allowed; it must be a finite number >= 0$"):
        flow.make_params(inviscid, -0.1)
    # inviscid Taylor–Green is a steady Euler flow: its energy is kept up to the advection error
    zero = flow.make_params(inviscid, 0.0)
    final, _ = flow.simulate(state, zero, inviscid, 4)
    assert float(flow.kinetic_energy(final, inviscid)) <= float(flow.kinetic_energy(state, inviscid))


def test_scenes_with_viscosity_scheme_none_are_inviscid():
    """viscosity_scheme 'none' in a scene: its default viscosity (or Re's) was then refused as
    "viscosity = 0.01 is not allowed with viscosity_scheme 'none'" (flow run smoke --viscosity-scheme
    none stopped with it); the scene is now inviscid. A viscosity given with 'none' is still refused."""
    for make in (lambda: flow.smoke(16, 16, viscosity_scheme="none"),
                 lambda: flow.karman(16, 32, 100.0, viscosity_scheme="none"),
                 lambda: flow.taylor_green(8, viscosity_scheme="none")):
        state, params, config = make()
        assert float(params.viscosity) == 0.0 and config.viscosity_scheme == "none"
        final, _ = flow.simulate(state, params, config, 2)
        assert np.isfinite(float(flow.kinetic_energy(final, config)))
    assert float(flow.taylor_green(8)[1].viscosity) == np.float32(0.05)  # the defaults without 'none'
    assert float(flow.smoke(16, 16)[1].viscosity) == np.float32(0.01)
    with pytest.raises(InputError, match=r"^viscosity = 0.2 is not allowed with viscosity_scheme 'none'"):
        flow.taylor_green(8, 0.2, viscosity_scheme="none")


def test_numbers_the_float32_parameters_cannot_hold_are_refused_as_given():
    """A viscosity that float32 rounds to 0 or inf was refused as "viscosity = 0 ..." (or "= inf"),
    a value the caller never gave; a dt it rounds to 0 ran and stopped with "non-finite velocity
    ... at t = 0"."""
    state, params, config = flow.taylor_green(8, 0.1)
    for nu in (1e-300, 1e300):
        with pytest.raises(InputError, match=rf"^viscosity = {re.escape(f'{nu:g}')} is not allowed; float32 "
                           r"\(the parameters' precision\) cannot hold it: its magnitude must lie in "
                           r"\[1.18e-38, 3.4e\+38\]$"):
            flow.make_params(config, nu, dtype=jnp.float32)
    with pytest.raises(InputError, match=r"^dt = 1e-300 is not allowed; float32 \(the state's precision\)"):
        # checked with the state (FlowConfig itself cannot know the state's float type)
        flow.simulate(state, params, flow.FlowConfig(config.grid, config.boundaries, 1e-300, pressure_solver="fft"), 1)
    assert float(flow.make_params(config, 1e-30, dtype=jnp.float32).viscosity) == np.float32(1e-30)


def test_dt_is_checked_against_the_float_type_of_the_state():
    """FlowConfig judged dt by the default float type when it was built: a config made without
    x64 refused dt = 1e-40 for a float64 state, and one made with x64 accepted it for a float32
    state, which holds it as 0."""
    from astrograd._precision import float64

    state32, params32, config = flow.taylor_green(8, 0.1)
    small = flow.FlowConfig(config.grid, config.boundaries, 1e-40, pressure_solver="fft")
    with float64():
        state = flow.make_state(small, state32.vx, state32.vy)
        final, _ = flow.simulate(state, flow.make_params(small, 0.1), small, 2)
        assert final.time.dtype == jnp.float64 and float(final.time) == 2e-40
        refusal = (r"^dt = 1e-40 is not allowed; float32 \(the state's precision\) cannot hold it: its magnitude "
                   r"must lie in \[1.18e-38, 3.4e\+38\]$")
        small64 = flow.FlowConfig(config.grid, config.boundaries, 1e-40, pressure_solver="fft")
        with pytest.raises(InputError, match=refusal):
            flow.make_state(small64, dtype=jnp.float32)
        with pytest.raises(InputError, match=refusal):  # a float32 state made elsewhere
            flow.step(state32, params32, small64)


def test_the_float32_check_is_silent():
    # comparing 1e300 with float32's largest number cast it to float32 first: a RuntimeWarning
    # "overflow encountered in cast" came with the refusal (an error under -W error)
    import warnings

    state, params, config = flow.taylor_green(8, 0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for nu in (1e-300, 1e300):
            with pytest.raises(InputError, match=rf"^viscosity = {re.escape(f'{nu:g}')} is not allowed; float32"):
                flow.make_params(config, nu, dtype=jnp.float32)
        assert float(flow.make_params(config, 3e38, dtype=jnp.float32).viscosity) == np.float32(3e38)
