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


class _Reference:
    """The settle rule as first written: every entry scanned and sorted on each call."""

    def __init__(self, settle: float) -> None:
        self.settle = settle
        self.entries: dict[str, tuple[tuple[int, int, int], float, bool]] = {}

    def note(self, name: str, sig: tuple[int, int, int], now: float, renamed_in: bool) -> None:
        old = self.entries.get(name)
        if old is None or old[0] != sig:
            self.entries[name] = (sig, now, renamed_in)
        elif renamed_in:
            self.entries[name] = (sig, old[1], True)

    def due(self, now: float, limit: int) -> list[str]:
        ready = [
            n for n, (_, since, ren) in self.entries.items() if ren or now - since >= self.settle
        ]
        return sorted(ready, key=batch_order)[:limit]

    def next_deadline(self) -> float | None:
        if any(ren for _, _, ren in self.entries.values()):
            return 0.0
        waiting = [since + self.settle for _, since, ren in self.entries.values()]
        return min(waiting) if waiting else None


_NAMES = [f"{seq:03d}_{'ab'[seq % 2] * 16}.txt" for seq in range(8)] + ["x.txt"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["note", "forget", "due"]),
            st.sampled_from(_NAMES),
            st.integers(0, 2),  # signature
            st.booleans(),  # renamed in
            st.floats(0, 3),  # time step
            st.integers(1, 4),  # due limit
        ),
        max_size=60,
    )
)
def test_heaps_agree_with_the_reference_scan(
    ops: list[tuple[str, str, int, bool, float, int]],
) -> None:
    pending, reference = Pending(2.0), _Reference(2.0)
    now = 0.0
    for op, name, sig, renamed, step, limit in ops:
        now += step
        if op == "note":
            pending.note(name, (sig, sig, 1), now, renamed_in=renamed)
            reference.note(name, (sig, sig, 1), now, renamed)
        elif op == "forget":
            pending.forget(name)
            reference.entries.pop(name, None)
        else:
            assert [n for n, _, _ in pending.due(now, limit)] == reference.due(now, limit)
        # The same wait for the loop: a settled file may be reported as due at 0.0.
        assert _wait(pending.next_deadline(), now) == _wait(reference.next_deadline(), now)
        assert len(pending) == len(reference.entries)


def _wait(deadline: float | None, now: float) -> float | None:
    return None if deadline is None else max(0.0, deadline - now)


def test_due_leaves_files_pending_until_claimed() -> None:
    pending = Pending(0.0)
    for seq in range(5):
        pending.note(f"{seq:03d}_a.txt", SIG, 0.0)
    assert [n for n, _, _ in pending.due(1.0, 2)] == ["000_a.txt", "001_a.txt"]
    assert [n for n, _, _ in pending.due(1.0, 2)] == ["000_a.txt", "001_a.txt"]  # not claimed
    pending.forget("000_a.txt")
    pending.note("001_a.txt", (11, 1_000, 7), 1.0)  # changed: settles again from now
    assert [n for n, _, _ in pending.due(1.0, 9)] == [
        "001_a.txt",
        "002_a.txt",
        "003_a.txt",
        "004_a.txt",
    ]
    assert pending.oldest_age(3.0) == 3.0
