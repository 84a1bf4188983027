"""jsonsafe: strict JSON in and out (the hostile forms are in tests/security/test_non_finite.py)."""

from __future__ import annotations

import math

import pytest

from doorbell_ci import jsonsafe


def test_finite_numbers_round_trip_exactly() -> None:
    document = {"big": 1.7976931348623157e308, "small": 5e-324, "negative_zero": -0.0, "int": 10**300, "list": [1, 2.5]}
    assert jsonsafe.loads(jsonsafe.dumps(document)) == document


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e309", "-2e400", "1" + "0" * 320])
def test_each_non_finite_form_is_refused_with_its_reason(text: str) -> None:
    with pytest.raises(jsonsafe.NonFiniteNumberError) as caught:
        jsonsafe.loads(f"[{text}]")
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 120


def test_finite_copy_replaces_and_names_every_non_finite_number() -> None:
    copy, replaced = jsonsafe.finite_copy({"a": [1.0, math.nan], "b": {"c": math.inf}, "d": "inf"})
    assert copy == {"a": [1.0, None], "b": {"c": None}, "d": "inf"}
    assert replaced == ["$.a[1]", "$.b.c"]


def test_is_finite_number_refuses_bools_and_integers_no_float_can_hold() -> None:
    assert jsonsafe.is_finite_number(3) and jsonsafe.is_finite_number(2.5)
    assert not any(jsonsafe.is_finite_number(v) for v in (True, 10**400, math.inf, math.nan, "1", None))
