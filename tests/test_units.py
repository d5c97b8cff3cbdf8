"""astrograd.units.CodeUnits: arrays and unknown unit names."""

import astropy.units as u
import numpy as np
import pytest

from astrograd._errors import InputError
from astrograd.units import CodeUnits

CU = CodeUnits(3 * u.pc, 1e-4 * u.Msun, 1 * u.km / u.s)


def test_an_array_quantity_converts_element_by_element():
    # was "TypeError: only 0-dimensional arrays can be converted to Python scalars"
    v = np.array([1.0, 2.5, 40.0]) * u.km / u.s
    got = CU.to_code(v)
    assert isinstance(got, np.ndarray) and got.shape == (3,)
    np.testing.assert_allclose(got, [CU.to_code(x) for x in v], rtol=1e-15)
    # an independent reference (the code velocity unit is 1 km/s): the element-wise call above
    # goes through the same conversion and would agree with a wrong scale
    np.testing.assert_allclose(got, [1.0, 2.5, 40.0], rtol=1e-14)
    # and one through astropy alone: the code time unit is 3 pc / (1 km/s), the mass unit 1e-4 Msun
    t_unit = (3 * u.pc / (1 * u.km / u.s)).to_value(u.s)
    np.testing.assert_allclose(CU.to_code(np.array([1.0, 7.0]) * u.Myr), np.array([1.0, 7.0]) * u.Myr.to(u.s) / t_unit,
                               rtol=1e-14)
    assert CU.to_code(1 * u.Msun) == pytest.approx(1e4, rel=1e-14)
    np.testing.assert_allclose(CU.from_code(got, u.km / u.s).to_value(u.km / u.s), v.value, rtol=1e-14)
    assert isinstance(CU.to_code(3 * u.pc), float) and CU.to_code(3 * u.pc) == pytest.approx(1.0)


def test_an_unknown_unit_name_is_a_one_line_error():
    # was astropy's ValueError "'furlongzz' did not parse as unit: ..."
    with pytest.raises(InputError, match="^unit 'furlongzz' is not a unit astropy knows$"):
        CU.from_code(1.0, "furlongzz")
    with pytest.raises(InputError, match="^unit K is not built from length, mass and time$"):
        CU.from_code(1.0, "K")
    # a number was taken as a scaled dimensionless unit: from_code(1.0, 3) gave "3.0 x 3"
    for number in (3, 2.5, True):
        with pytest.raises(InputError, match=f"^unit {number!r} is not allowed; give a unit such as 'km/s'"):
            CU.from_code(1.0, number)


def test_complex_quantities_are_refused():
    # to_code((1+1j) km/s) was 1.0 (float() dropped the imaginary part, with a ComplexWarning),
    # and a complex velocity unit was accepted ((1+1j) compared as > 0)
    for value in ((1 + 1j) * u.km / u.s, np.array([1.0, 2 + 1j]) * u.km / u.s):
        with pytest.raises(InputError, match="it is complex, give a real quantity$"):
            CU.to_code(value)
    with pytest.raises(InputError, match=r"^velocity unit = .* is complex; it must be a finite real scalar > 0$"):
        CodeUnits(3 * u.pc, 1e-4 * u.Msun, (1 + 1j) * u.km / u.s)


def test_from_code_takes_a_list_and_refuses_what_is_not_numbers():
    # a list was "TypeError: can't multiply sequence by non-int of type 'numpy.float64'"
    got = CU.from_code([1.0, 2.5], u.km / u.s)
    np.testing.assert_allclose(got.to_value(u.km / u.s), [1.0, 2.5], rtol=1e-14)
    assert CU.from_code(2, "km/s").to_value(u.km / u.s) == pytest.approx(2.0)
    for value in ("1", None, [1.0, [2.0]], 1j, True):
        with pytest.raises(InputError, match=r"^cannot convert .* from code units; give a real number or an array"):
            CU.from_code(value, "km/s")


@pytest.mark.parametrize("length", [1e-320 * u.pc, 1e308 * u.Mpc])
def test_units_whose_derived_units_overflow_are_refused(length):
    # each finite and > 0, but a length of 1e-320 pc gave a density unit of inf g/cm³ (and
    # pressure inf dyn/cm²), 1e308 Mpc a time unit of inf s and a density of 0: every
    # conversion through them was then inf, 0 or nan
    with pytest.raises(InputError, match=r"^units length = .* give a (time|density|pressure) unit of (inf|0\.0) "):
        CodeUnits(length, 1e-4 * u.Msun, 1 * u.km / u.s)


def test_derived_units_and_cgs_attributes_against_astropy():
    # density and pressure units were tested nowhere (any formula passed), and the cgs attributes
    # only through a length: a wrong mass or velocity scale round-tripped unnoticed. abs=0: the
    # units are ~1e-28 g/cm³ and ~1e-18 dyn/cm², inside approx's default abs tolerance of 1e-12
    msun_g, pc_cm, km_s_cm_s = 1.988409870698051e33, 3.0856775814913673e18, 1e5  # IAU 2015 / exact
    rho = 1e-4 * msun_g / (3 * pc_cm) ** 3
    assert CU.density.unit == u.g / u.cm**3 and CU.density.value == pytest.approx(rho, rel=1e-12, abs=0)
    assert CU.pressure.unit == u.dyn / u.cm**2
    assert CU.pressure.value == pytest.approx(rho * km_s_cm_s**2, rel=1e-12, abs=0)
    assert CU.time.to_value(u.s) == pytest.approx(3 * pc_cm / km_s_cm_s, rel=1e-12)
    attrs = CU.cgs_attributes()
    assert attrs == pytest.approx({"unit_length_cm": 3 * pc_cm, "unit_mass_g": 1e-4 * msun_g,
                                   "unit_velocity_cm_s": km_s_cm_s}, rel=1e-12)
    back = CodeUnits.from_cgs_attributes(attrs)
    for quantity, code in ((2e-4 * u.Msun, 2.0), (3 * u.km / u.s, 3.0), (rho * u.g / u.cm**3, 1.0),
                           (2 * rho * u.g / u.cm**3 * (km_s_cm_s * u.cm / u.s) ** 2, 2.0)):
        assert back.to_code(quantity) == pytest.approx(code, rel=1e-12), quantity
