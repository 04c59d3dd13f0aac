"""llmrouter.values.frozen: values that behave as frozen dataclasses (equality, hashing,
replace) and that the type checker refuses to change, without frozen's run-time guard."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest
from mypy import api

from llmrouter.values import frozen

ROOT = Path(__file__).resolve().parents[1]


@frozen
class Point:
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class FrozenPoint:
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()


@frozen
class WithDict:
    x: int
    extra: dict[str, str] = dataclasses.field(default_factory=dict)


def test_equality_hash_and_replace_are_frozen_dataclasses() -> None:
    a, b = Point(1, 2, ("t",)), Point(1, 2, ("t",))
    assert a == b
    assert hash(a) == hash(b) == hash(FrozenPoint(1, 2, ("t",)))
    assert {a, b} == {a}
    assert dataclasses.replace(a, y=3) == Point(1, 3, ("t",))
    assert repr(a) == "Point(x=1, y=2, tags=('t',))"
    assert not hasattr(a, "__dict__")  # slots, as before


def test_a_dict_field_makes_it_unhashable_as_frozen_does() -> None:
    with pytest.raises(TypeError, match="unhashable"):
        hash(WithDict(1))


def test_the_type_checker_refuses_to_change_a_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # where mypy finds llmrouter
    program = tmp_path / "change.py"
    program.write_text(
        textwrap.dedent(
            """
            from dataclasses import replace

            from llmrouter.values import frozen


            @frozen
            class Point:
                x: int


            point = Point(1)
            point.x = 2
            replace(point, z=3)
            """
        )
    )
    out, _, status = api.run(
        ["--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(program)]
    )
    assert status == 1
    assert 'change.py:13: error: Property "x" defined in "Point" is read-only' in out
    assert 'change.py:14: error: Unexpected keyword argument "z" for "replace"' in out
