"""The worked examples as functions returning numbers and arrays (used by the CLI and the tour)."""

from __future__ import annotations

import time
from dataclasses import replace

import astropy.units as u
import numpy as np

from astrograd._errors import InputError, check_choice, check_positive
from astrograd.hydro._config import (
    BOUNDARIES,
    CFL_WIDTHS,
    GEOMETRIES,
    INTEGRATORS,
    LIMITERS,
    RIEMANN_SOLVERS,
    HydroConfig,
    HydroParams,
    check_gamma,
)
from astrograd.hydro._config import _cfl_ok as check_cfl
from astrograd.hydro._exact import (
    WEAVER_ADIABATIC,
    sedov_shock_radius,
    weaver_bubble,
    weaver_coefficient,
    weaver_radius,
    wind_luminosity,
)
from astrograd.hydro._exact_riemann import exact_riemann, riemann_star_state
from astrograd.hydro._problems import SOD_LEFT, SOD_RIGHT, Problem, sedov_problem, sod_problem, wind_problem
from astrograd.hydro._solve import check_later, run
from astrograd.hydro._wind import outer_shock_radius

PROBLEMS = ("sod", "sedov", "wind", "custom")


def exact_sod_density(config: HydroConfig, gamma: float, t: float, cell_average: bool = True) -> np.ndarray:
    """Exact Sod density as cell averages (16-point midpoint rule) or at cell centres, (n,)."""
    grid = config.grid
    if not cell_average:
        return exact_riemann(SOD_LEFT, SOD_RIGHT, gamma, grid.centres, t)[0]
    xs = (grid.faces[:-1, None] + (np.arange(16) + 0.5) / 16 * grid.dx).ravel()
    return exact_riemann(SOD_LEFT, SOD_RIGHT, gamma, xs, t)[0].reshape(config.num_cells, 16).mean(1)


def sod_l1_error(w, config: HydroConfig, gamma: float, t: float, cell_average: bool = True) -> float:
    """L1 density error ∫|ρ - ρ_exact| dx / length over the domain."""
    return float(np.mean(np.abs(np.asarray(w)[0] - exact_sod_density(config, gamma, t, cell_average))))


def override(problem: Problem, *, config_kw: dict, params_kw: dict, t_end: float | None) -> Problem:
    """Copy of ``problem`` with config fields, param fields and t_end replaced (None: kept)."""
    cfg = {k: v for k, v in config_kw.items() if v is not None}
    prm = {k: v for k, v in params_kw.items() if v is not None}
    config = replace_config(problem.config, **cfg) if cfg else problem.config
    params = problem.params
    if prm:
        fields = {
            "gamma": params.gamma, "cfl": params.cfl, "dt_max": params.dt_max,
            "wind_mass_loss_rate": params.wind_mass_loss_rate, "wind_velocity": params.wind_velocity,
            "inflow_left": params.inflow_left, "inflow_right": params.inflow_right,
        }
        fields.update(prm)
        params = HydroParams(**fields)
    initial = problem.initial
    if problem.name == "sedov" and "gamma" in prm and "energy_cells" in problem.info and "init" not in problem.info:
        # the blast is deposited as pressure (γ − 1) E / V: with the γ of the problem as built (5/3),
        # `run sedov --gamma 1.4` started with 5/3 × the energy and reported its shock radius
        # against Sedov's for E (+10.8 %)
        k = problem.info["energy_cells"]
        initial = np.array(initial, dtype=float)
        initial[2, :k] = (float(prm["gamma"]) - 1.0) * problem.info["energy"] / config.grid.volumes[:k].sum()
    info = problem.info if t_end is None else {k: v for k, v in problem.info.items() if k != "t_end_source"}
    return replace(problem, config=config, params=params, initial=initial, info=info,
                   t_end=problem.t_end if t_end is None else t_end)


def replace_config(config: HydroConfig, **kw) -> HydroConfig:
    fields = {f: getattr(config, f) for f in (
        "num_cells", "geometry", "r_min", "r_max", "riemann", "limiter", "integrator",
        "left_boundary", "right_boundary", "wind_cells", "cfl_width", "wind_momentum")}
    fields.update(kw)
    return HydroConfig(**fields)


def build_problem(name: str, cells: int | None, geometry: str | None, init=None) -> Problem:
    """The named problem with its default cell count when ``cells`` is None."""
    check_choice("problem", name, PROBLEMS)
    if name != "custom" and init is not None:
        return _continued(name, cells, geometry, init)
    if name == "sod":
        return sod_problem(cells or 400, geometry or "cartesian")
    if name == "sedov":
        if geometry not in (None, "spherical"):
            raise InputError(f"geometry {geometry!r} is not allowed for sedov; it is spherical")
        return sedov_problem(cells or 200)
    if name == "wind":
        if geometry not in (None, "spherical"):
            raise InputError(f"geometry {geometry!r} is not allowed for wind; it is spherical")
        return wind_problem(cells or 401)
    if init is None:
        raise InputError("problem 'custom' needs --init FILE.h5 (datasets rho, u, p; optional x)")
    from astrograd.hydro._snapshot import read_snapshot

    x, w, attrs = read_snapshot(init, cells)
    n = w.shape[1]
    geometry = geometry or _choice_attribute(init, attrs, "geometry", GEOMETRIES, "cartesian")
    if x is not None and n > 1:
        dx = np.diff(x)
        # relative to the cell width, plus the round-off of float64 coordinates of this magnitude
        # (a few ulp of |x|: cells 1e-13 wide at r = 1 differ by ~2e-16 = 2e-3 of their width)
        roundoff = 8.0 * np.spacing(np.max(np.abs(x)))
        if np.any(dx <= 0) or np.ptp(dx) > 1e-6 * abs(dx.mean()) + roundoff:
            raise InputError("dataset 'x' must hold the centres of a uniform grid (increasing, equal spacing)")
        width = (x[-1] - x[0]) / (n - 1)
        r_min, r_max = float(x[0] - width / 2), float(x[-1] + width / 2)
        if geometry != "cartesian" and -1e-6 * width < r_min < 0:
            # a grid from r = 0 (as `hydro run sedov|wind --out` writes) gives x[0] - dx/2 = -1e-17
            # after round-off, which curvilinear geometry refuses
            r_min = 0.0
    else:
        r_min, r_max = 0.0, 1.0
    config = HydroConfig(num_cells=n, geometry=geometry, r_min=r_min, r_max=r_max,
                         left_boundary="reflective" if geometry != "cartesian" else "open", right_boundary="open")
    unit_keys = ("unit_length_cm", "unit_mass_g", "unit_velocity_cm_s")
    units = None
    if all(k in attrs for k in unit_keys):
        from astrograd.units import CodeUnits

        units = CodeUnits.from_cgs_attributes({k: _number_attribute(init, attrs, k, None, check_positive)
                                               for k in unit_keys})
    gamma = _number_attribute(init, attrs, "gamma", 5.0 / 3.0, check_gamma)
    # a snapshot's `time` is the time of its state: a run from it continues the clock (it used to
    # start at 0, so a snapshot at 0.1 rerun to --t-end 0.2 was evolved by 0.2 and labelled 0.2)
    t_start = _number_attribute(init, attrs, "time", 0.0, _check_time)
    t_end = _number_attribute(init, attrs, "t_end", 0.1, check_positive)
    # how a t_end the user did not type is named if it is not after the snapshot's time (it was
    # "t_end = 0.1 is not allowed", a parameter nobody had given); dropped by a --t-end (override)
    t_end_source = (f"attribute 't_end' = {t_end:g} in {str(init)!r}" if "t_end" in attrs
                    else f"t_end = {t_end:g} (the default: {str(init)!r} has no attribute 't_end')")
    problem = Problem("custom", config, HydroParams(gamma=gamma), w, t_end, units=units,
                      info={"init": str(init), "t_end_source": t_end_source}, t_start=t_start)
    return _with_numerics(problem, init, attrs)


def _continued(name: str, cells: int | None, geometry: str | None, init) -> Problem:
    """The named problem continued from its snapshot ``init`` (written by ``hydro run NAME
    --out``): the problem's grid, boundaries, numerics and sources (the wind of 'wind'), with the
    snapshot's state and clock. A restart from a snapshot used to be possible only as 'custom',
    which has no wind and other defaults: a wind run continued that way ended ~100 % away from
    the run that was not interrupted."""
    from astrograd.hydro._snapshot import read_snapshot

    x, w, attrs = read_snapshot(init, cells)
    if "problem" in attrs and _text_attribute(attrs["problem"]) != name:
        raise InputError(f"{str(init)!r} is a snapshot of {_text_attribute(attrs['problem'])!r}, not of {name!r}; "
                         "continue it as that problem, or run it as 'custom'")
    if geometry is None and "geometry" in attrs:
        geometry = _choice_attribute(init, attrs, "geometry", GEOMETRIES)
    problem = build_problem(name, w.shape[1], geometry)
    if x is not None and not np.allclose(x, problem.config.grid.centres, rtol=0.0,
                                         atol=1e-9 * problem.config.grid.dx):
        raise InputError(f"the cell centres 'x' in {str(init)!r} are not those of the problem {name!r} with "
                         f"{w.shape[1]} cells; run it as 'custom'")
    # the snapshot's clock, γ and numerics (the state was evolved with them; options still override)
    t_start = _number_attribute(init, attrs, "time", 0.0, _check_time)
    gamma = _number_attribute(init, attrs, "gamma", float(problem.params.gamma), check_gamma)
    problem = replace(problem, initial=w, t_start=t_start, info={**problem.info, "init": str(init)})
    return _with_numerics(problem, init, attrs, gamma=gamma)


#: The values each numerics attribute of a snapshot may hold (see ``_snapshot.NUMERICS``).
NUMERICS_CHOICES = {"riemann": RIEMANN_SOLVERS, "limiter": LIMITERS, "integrator": INTEGRATORS,
                    "left_boundary": BOUNDARIES, "right_boundary": BOUNDARIES, "cfl_width": CFL_WIDTHS}


def _with_numerics(problem: Problem, path, attrs: dict, **params_kw) -> Problem:
    """``problem`` with the numerics that the snapshot ``path`` records (riemann, limiter, ...,
    cfl) and ``params_kw``. A bad attribute is an InputError naming it as an attribute of the file:
    it was reported as the option ("unknown --riemann 'foo'") or the library parameter ("CFL
    number = 5") that the user had not typed."""
    from astrograd.hydro._snapshot import NUMERICS

    config_kw = {k: _choice_attribute(path, attrs, k, NUMERICS_CHOICES[k]) for k in NUMERICS if k in attrs}
    if "wind_momentum" in attrs:
        config_kw["wind_momentum"] = _flag_attribute(path, attrs, "wind_momentum")
    if "cfl" in attrs:
        params_kw["cfl"] = _number_attribute(path, attrs, "cfl", None, check_cfl)
    try:  # attributes that are each allowed but not together (one periodic boundary)
        return override(problem, config_kw=config_kw, params_kw=params_kw, t_end=None)
    except InputError as err:
        if not config_kw:
            raise
        listed = ", ".join(f"{k} = {v!r}" for k, v in config_kw.items())
        raise InputError(f"{err} (attribute{'s' if len(config_kw) > 1 else ''} {listed} of {str(path)!r})") from None


def _choice_attribute(path, attrs: dict, key: str, allowed, default: str | None = None) -> str:
    """Text attribute ``key`` of the file ``path`` (``default`` when absent) if it is one of
    ``allowed``, else a one-line InputError naming the attribute and the file."""
    value = _text_attribute(attrs.get(key, default))
    if value not in allowed:
        raise InputError(f"attribute {key!r} = {value!r} in {str(path)!r} is not allowed; choose one of: "
                         f"{', '.join(allowed)}")
    return value


def _flag_attribute(path, attrs: dict, key: str) -> bool:
    """Attribute ``key`` of the file ``path`` holding 0 or 1 (as :func:`numerics_attributes`
    writes a flag) as a bool, else a one-line InputError naming the attribute and the file."""
    value = attrs[key]
    a = np.asarray(value)
    if a.size == 1 and (a.dtype == bool or np.issubdtype(a.dtype, np.integer)) and int(a.reshape(())) in (0, 1):
        return bool(a.reshape(()))
    raise InputError(f"attribute {key!r} = {value!r} in {str(path)!r} is not allowed; it must be 0 or 1")


def _check_time(name: str, value: float) -> None:
    check_positive(name, value, allow_zero=True)


def _text_attribute(value):
    """A text attribute as ``str``: HDF5 fixed-length strings (written by many tools, or by
    h5py from ``numpy.bytes_``) read back as bytes, whose ``str`` is "b'spherical'"."""
    if isinstance(value, bytes | np.bytes_):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _number_attribute(path, attrs: dict, key: str, default: float | None, check=None) -> float:
    """Attribute ``key`` of the file ``path`` as a float (``default`` when absent), else a
    one-line InputError (a string, an array). ``check(key, value)``: a library check of the value
    (e.g. :func:`check_gamma`), whose InputError is reported naming the attribute and the file
    ("gamma = -1 is not allowed" read as a --gamma the user had not given)."""
    value = attrs.get(key, default)
    a = np.asarray(value)
    if a.size != 1 or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise InputError(f"attribute {key!r} = {value!r} in {str(path)!r} is not allowed; it must be a real number")
    number = float(a.reshape(()))
    if check is not None and key in attrs:
        try:
            check(key, number)
        except InputError as err:  # "key = value is <what is allowed>"
            allowed = str(err).split(" is ", 1)[-1]
            raise InputError(f"attribute {key!r} = {number:g} in {str(path)!r} is {allowed}") from None
    return number


def _weaver_reference_radius(problem: Problem, gamma: float) -> float:
    """Weaver's outer-shock radius at t_end (code units): the published 0.88 for γ = 5/3, the
    coefficient of the similarity solution for another γ."""
    info = problem.info
    coefficient = WEAVER_ADIABATIC if abs(gamma - 5.0 / 3.0) < 1e-9 else weaver_coefficient(gamma)
    return weaver_radius(wind_luminosity(info["mdot"], info["v_inf"]), info["rho"], problem.t_end, coefficient)


def _check_inside(problem: Problem, radius: float, exponent: float) -> None:
    """Refuse, before the run, a t_end at which the reference shock (R ∝ t^exponent) has left
    the domain: the run would then report the radius of whatever is left in the box against it
    (`run wind --t-end 0.05`: 0.47 pc against Weaver's 6.1 pc, "relative_error -0.92")."""
    r_max = problem.config.r_max
    if radius >= r_max:
        t_max = problem.t_end * (r_max / radius) ** (1.0 / exponent)
        raise InputError(
            f"t_end = {problem.t_end:.6g} is not allowed for {problem.name}: the reference shock radius "
            f"{radius:.4g} lies outside the domain (r_max = {r_max:.4g}); choose t_end < {t_max:.4g} (code units)"
        )


def _check_point_source(problem: Problem) -> None:
    """Refuse, before the run, a Sedov or wind problem whose grid is not the sphere around the
    source that the Sedov and Weaver references describe: `run_problem(sedov_problem(64,
    geometry="cartesian"))` deposited the blast as energy per unit area and reported the shock of
    that planar blast against Sedov's spherical radius."""
    config = problem.config
    if config.geometry != "spherical" or config.r_min != 0:
        reference = "Sedov" if problem.name == "sedov" else "Weaver"
        raise InputError(
            f"{config.geometry} geometry on [{config.r_min:g}, {config.r_max:g}] is not allowed for "
            f"{problem.name}: the {reference} reference is a spherical solution around r = 0; use geometry "
            "'spherical' with r_min = 0"
        )


def _check_ambient_inflow(problem: Problem) -> None:
    """Refuse, before the run, an inflow outer boundary whose state is not the ambient gas at rest
    that the Sedov and Weaver references expand into: `run sedov --right-boundary inflow` (state
    1, 0, 1 against the ambient pressure 1e-5) drove a shock in from the edge, which `run` then
    measured as the blast wave (radius 0.98 against Sedov's 0.35, "relative_error 1.81")."""
    config = problem.config
    if config.right_boundary != "inflow":
        return
    inflow = np.asarray(problem.params.inflow_right, float)
    ambient = np.asarray(problem.initial, float)[:, -1]
    if not np.allclose(inflow, ambient, rtol=1e-9, atol=0.0):
        reference = "Sedov" if problem.name == "sedov" else "Weaver"
        raise InputError(
            f"right boundary 'inflow' is not allowed for {problem.name}: its state "
            f"({', '.join(f'{v:.4g}' for v in inflow)}) is not the ambient state "
            f"({', '.join(f'{v:.4g}' for v in ambient)}) the {reference} reference expands into; use open or reflective"
        )


def _sod_reference_blocked(problem: Problem) -> str | None:
    """Why the exact Riemann solution (an infinite tube) is not the solution of this Sod run, or
    None. It is while the boundaries act as the tube beyond them: open ones always; reflective
    ones, or inflow of the adjacent Sod state, until the first wave reaches them; periodic ones or
    inflow of another state never (`run sod --left-boundary periodic --right-boundary periodic`
    reported an L1 error of 0.16 against it, `--right-boundary inflow` 0.076, reflective walls at
    --t-end 0.5 0.061: the error of another problem's solution, not of the scheme)."""
    config, params = problem.config, problem.params
    if config.geometry != "cartesian":
        return f"no exact solution in {config.geometry} geometry"
    gamma = float(params.gamma)
    x0 = float(problem.info.get("x0", 0.5))
    p_star, _ = riemann_star_state(SOD_LEFT, SOD_RIGHT, gamma)
    reasons = []
    for side, state, boundary, inflow, edge in (
        ("left", SOD_LEFT, config.left_boundary, params.inflow_left, config.r_min),
        ("right", SOD_RIGHT, config.right_boundary, params.inflow_right, config.r_max),
    ):
        if boundary == "open":
            continue
        if boundary == "periodic":
            reasons.append(f"the {side} boundary is periodic")
            continue
        if boundary == "inflow" and not np.allclose(np.asarray(inflow, float), state, rtol=1e-12, atol=0.0):
            reasons.append(f"the {side} inflow state {tuple(float(v) for v in inflow)} is not the Sod state {state}")
            continue
        rho_k, u_k, p_k = state  # the outermost wave: shock or rarefaction head
        c_k = np.sqrt(gamma * p_k / rho_k)
        factor = np.sqrt((gamma + 1.0) / (2.0 * gamma) * p_star / p_k + (gamma - 1.0) / (2.0 * gamma))
        speed = c_k * (factor if p_star > p_k else 1.0)
        speed = speed - u_k if side == "left" else speed + u_k
        arrival = abs(edge - x0) / speed if speed > 0 else np.inf
        if problem.t_end >= arrival:
            reasons.append(f"a wave reaches the {boundary} {side} boundary at t = {arrival:.4g}, "
                           f"before t_end = {problem.t_end:.4g}")
    return "; ".join(reasons) or None


def run_problem(problem: Problem) -> dict:
    """Run and validate against the problem's reference. Returns a dict with the arrays (x, w)
    and the numbers (steps, seconds, errors/radii)."""
    config, gamma = problem.config, float(problem.params.gamma)
    # the references' γ, checked before the run: Sedov's constant is tabulated for 1.4 and 5/3,
    # the wind bubble's similarity solution needs 1 < γ <= 3
    if problem.name in ("sedov", "wind"):
        _check_point_source(problem)
        _check_ambient_inflow(problem)
    if problem.name == "sedov":
        exact = sedov_shock_radius(problem.info["energy"], problem.info["density"], problem.t_end, gamma)
        _check_inside(problem, exact, 0.4)
    if problem.name == "wind":
        weaver_coefficient(gamma)
        exact = _weaver_reference_radius(problem, gamma)
        _check_inside(problem, exact, 0.6)
        info = problem.info  # computed before the run: the bubble solution exists (reverse shock inside the contact)
        reference_x = np.linspace(config.grid.centres[0], config.r_max, 2001)
        ref = weaver_bubble(reference_x, info["mdot"], info["v_inf"], info["rho"], problem.t_end, gamma=gamma,
                            ambient_pressure=info["p"])
    start = time.perf_counter()
    # the snapshot's time only for a run from one: `run sod --t-end -1` named "the --init snapshot"
    if "t_end_source" in problem.info and problem.t_end <= problem.t_start:
        # a t_end from the --init file (or its default), not typed: named as such
        raise InputError(f"{problem.info['t_end_source']} is not allowed; it must be greater than the start time "
                         f"{problem.t_start:g} (the time of the --init snapshot); give a later --t-end")
    check_later(problem.t_start, problem.t_end, start="",
                advice=" (the time of the --init snapshot); give a later --t-end" if "init" in problem.info else "")
    w, sol = run(*problem.initial, problem.params, problem.config, problem.t_end, t_start=problem.t_start)
    seconds = time.perf_counter() - start
    out = {"x": config.grid.centres, "w": w, "steps": int(sol.num_steps), "seconds": seconds, "numbers": {}}
    nums = out["numbers"]
    blocked = _sod_reference_blocked(problem) if problem.name == "sod" else None
    if blocked:
        nums["no_reference"] = blocked
    if problem.name == "sod" and not blocked:
        out["reference_x"] = np.linspace(config.r_min, config.r_max, 2001)
        out["reference"] = exact_riemann(SOD_LEFT, SOD_RIGHT, gamma, out["reference_x"], problem.t_end, x0=0.5)
        nums["l1_density_error"] = sod_l1_error(w, config, gamma, problem.t_end)
        nums["l1_density_error_centres"] = sod_l1_error(w, config, gamma, problem.t_end, cell_average=False)
    if problem.name == "sedov":
        try:  # the outermost cell behind the density jump
            radius = outer_shock_radius(config.grid.centres, w[0], problem.initial[0, -1], quantity="density")
        except InputError as err:  # too few cells smear the jump below 1.5 × ambient
            cells_across = exact / config.grid.dx
            if cells_across < problem.info["energy_cells"] + 2:
                # `run sedov --cells 32 --t-end 1e-12` was told "at 32 cells ...; use more cells (32 or more)"
                raise InputError(f"{err}: Sedov's radius {exact:.4g} at t_end = {problem.t_end:.4g} spans "
                                 f"{cells_across:.3g} cells, inside or next to the "
                                 f"{problem.info['energy_cells']} cells of the deposited energy; choose a later "
                                 "t_end or more cells") from None
            raise InputError(f"{err}: at {config.num_cells} cells the blast is not resolved; use more cells "
                             "(32 or more)") from None
        nums.update(shock_radius=radius, sedov_radius=exact, relative_error=radius / exact - 1.0)
    if problem.name == "wind":
        radius = outer_shock_radius(config.grid.centres, w[2], info["p"])
        pc = problem.units.from_code(1.0, u.pc).value
        nums.update(shock_radius_pc=radius * pc, weaver_radius_pc=exact * pc, relative_error=radius / exact - 1.0)
        r = config.grid.centres
        out["reference_x"] = reference_x
        out["reference"] = np.stack([ref.rho, ref.u, ref.p])
        out["reference_label"] = "Weaver (adiabatic similarity)"
        # hot bubble between the reverse shock and the contact: isobaric in Weaver's solution
        inside = (r > 1.3 * ref.r_reverse) & (r < 0.95 * ref.r_contact)
        ratio = float(np.median(np.asarray(w)[2][inside]) / ref.p_bubble) if inside.any() else float("nan")
        nums.update(bubble_pressure_ratio=ratio, weaver_contact_radius_pc=ref.r_contact * pc,
                    weaver_reverse_shock_radius_pc=ref.r_reverse * pc)
    return out
