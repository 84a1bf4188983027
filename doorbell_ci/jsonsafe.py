"""JSON that only ever holds finite numbers, read and written the one way doorbell-ci does it.

Python's ``json`` reads and writes ``NaN``, ``Infinity`` and ``-Infinity`` (and turns ``1e999``
into infinity), although JSON has no such values: most other readers (``jq``, JavaScript,
GitHub) refuse such a file, and a baseline holding one is refused by our own baseline reader.
So every reader of a file a run, a test or an artifact may have written goes through
:func:`loads`, which refuses them with the reason, and every writer through :func:`dumps`,
which never produces them. :func:`finite_copy` is for a writer that must not fail (report.json):
it turns each non-finite number into ``null`` and says where.
"""

from __future__ import annotations

import json
import math
from typing import IO, Any


class NonFiniteNumberError(ValueError):
    """A JSON document holds NaN, Infinity or a number too large for a float."""


def _refuse_constant(name: str) -> Any:
    raise NonFiniteNumberError(f"holds {name}, which is not a JSON number (only finite numbers are accepted)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise NonFiniteNumberError(f"holds the number {shown}, which overflows to infinity")
    return value


def _float_sized_int(text: str) -> int:
    if len(text) > _MAX_INT_DIGITS:  # 1e308 is the largest float: a longer integer is infinite as a float
        raise NonFiniteNumberError(f"holds an integer of {len(text.lstrip('-'))} digits, which overflows a float")
    return int(text)


_MAX_INT_DIGITS = 310


def loads(text: str | bytes) -> Any:
    """``json.loads`` refusing non-finite numbers with :class:`NonFiniteNumberError` (a ValueError).

    Integers too large for a float are refused too: every number read is used as a float somewhere.
    """
    return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_float_sized_int)


def dumps(value: Any, **options: Any) -> str:
    """``json.dumps`` that raises ValueError rather than write NaN or Infinity."""
    return json.dumps(value, allow_nan=False, **options)


def dump(value: Any, stream: IO[str], **options: Any) -> None:
    json.dump(value, stream, allow_nan=False, **options)


def finite_copy(value: Any, where: str = "$") -> tuple[Any, list[str]]:
    """``value`` with every non-finite float replaced by None, and the JSON paths replaced."""
    replaced: list[str] = []

    def walk(item: Any, path: str) -> Any:
        if isinstance(item, float) and not math.isfinite(item):
            replaced.append(path)
            return None
        if isinstance(item, dict):
            return {key: walk(inner, f"{path}.{key}") for key, inner in item.items()}
        if isinstance(item, list | tuple):
            return [walk(inner, f"{path}[{index}]") for index, inner in enumerate(item)]
        return item

    return walk(value, where), replaced


def is_finite_number(value: Any) -> bool:
    """An int or float (not a bool) that is finite as a float: ``10**400`` is not (float() overflows)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False
