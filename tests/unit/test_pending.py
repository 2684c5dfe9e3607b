"""The settle rule, with time passed in."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.pending import Pending, batch_order

pytestmark = pytest.mark.unit

SIG = (10, 1_000, 7)


@pytest.mark.parametrize(
    ("observations", "now", "expected"),
    [
        ([(0.0, SIG, False)], 1.9, []),  # not settled yet
        ([(0.0, SIG, False)], 2.0, ["a"]),  # unchanged for the settle time
        ([(0.0, SIG, False), (1.5, (20, 2_000, 7), False)], 3.0, []),  # grew: clock restarts
        ([(0.0, SIG, False), (1.5, (20, 2_000, 7), False)], 3.5, ["a"]),
        ([(0.0, SIG, True)], 0.0, ["a"]),  # renamed in: complete now
        ([(0.0, SIG, False), (0.5, SIG, True)], 0.5, ["a"]),  # a later rename completes it
    ],
)
def test_settle_table(
    observations: list[tuple[float, tuple[int, int, int], bool]], now: float, expected: list[str]
) -> None:
    pending = Pending(2.0)
    for at, sig, renamed in observations:
        pending.note("a", sig, at, renamed_in=renamed)
    assert [name for name, _, _ in pending.due(now, 10)] == expected


def test_due_is_in_batch_order_and_limited() -> None:
    pending = Pending(0.0)
    for name in ["010_b.txt", "002_a.txt", "1000_c.txt", "009_z.txt"]:
        pending.note(name, SIG, 0.0)
    assert [n for n, _, _ in pending.due(1.0, 3)] == ["002_a.txt", "009_z.txt", "010_b.txt"]


def test_deadline_and_forget() -> None:
    pending = Pending(2.0)
    assert pending.next_deadline() is None
    pending.note("a", SIG, 5.0)
    assert pending.next_deadline() == 7.0
    pending.note("b", SIG, 6.0, renamed_in=True)
    assert pending.next_deadline() == 0.0
    pending.forget("b")
    pending.forget("a")
    assert len(pending) == 0
    assert pending.oldest_age(10.0) == 0.0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 100), st.integers(0, 3)), min_size=1, max_size=20),
    st.floats(0, 200),
)
def test_never_due_before_settling_since_the_last_change(
    events: list[tuple[float, int]], probe: float
) -> None:
    pending = Pending(5.0)
    events.sort()
    last_change = None
    last_sig = None
    for at, size in events:
        sig = (size, size, 1)
        if sig != last_sig:
            last_change, last_sig = at, sig
        pending.note("a", sig, at)
    due = pending.due(max(probe, events[-1][0]), 1)
    assert bool(due) == (max(probe, events[-1][0]) - last_change >= 5.0)  # type: ignore[operator]


def test_batch_order_puts_unnumbered_names_first() -> None:
    assert batch_order("x.txt") < batch_order("000_a.txt") < batch_order("2_a.txt")
