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
