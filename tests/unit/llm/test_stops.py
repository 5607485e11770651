from __future__ import annotations

import pytest

from aistack.llm.stops import StopMatcher

pytestmark = pytest.mark.unit


def run(stops: list[str], pieces: list[str]) -> tuple[str, bool]:
    matcher = StopMatcher(stops)
    out = "".join(matcher.push(p) for p in pieces)
    if not matcher.stopped:
        out += matcher.flush()
    return out, matcher.stopped


def test_stop_split_across_pieces_is_cut_cleanly() -> None:
    assert run(["END"], ["hello E", "N", "D world"]) == ("hello ", True)


def test_a_partial_match_that_fails_is_released() -> None:
    assert run(["END"], ["hello EN", "x"]) == ("hello ENx", False)


def test_earliest_of_several_stops_wins() -> None:
    assert run(["b", "a"], ["xxab"]) == ("xx", True)


def test_no_stops_passes_everything_through() -> None:
    assert run([], ["a", "b"]) == ("ab", False)
