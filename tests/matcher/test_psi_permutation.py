"""Every list a node sends is in a fresh uniformly random order per session.

Two keys imported together (one case, adjacent in import order) are held by both sides. The peer is an
adversary with one behaviour changed: it sends its own elements unpermuted, in import order (a responder's
canaries last), so that it knows exactly where its copies of the two keys sit. Over 200 sessions with the
same two sets, chi-square tests check where the honest side's lists put the two keys: the elements it sends
(either role, both modes; a responder's list holds the canaries too) and the tags an initiator returns
(count-only; in mutual mode tags answer the peer's elements in the order the peer chose, which is all it
needs for the result). A responder sends no tags, and its Result names positions in the order the
initiator chose. If the send order kept anything of import order, of the case or of the previous session,
the positions would show it. Removing either permutation makes these tests fail.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest
from scipy.stats import chisquare

from crypto import DEFAULT_SUITE, BlindingKey, tags_of
from matcher.psi import Elements, Message, Mode, Open, PsiSession, Role, Tags
from tests.matcher.psi_helpers import POOL, pair, pump, seeded

SESSIONS = 200
SIZE = 16
P_MIN = 0.01
FIRST, SECOND = POOL[0], POOL[1]  # one case: imported one after the other on both sides
OURS = POOL[:SIZE]
THEIRS = [FIRST, SECOND, *POOL[40 : 40 + SIZE - 2]]


@dataclass(frozen=True)
class Seen:
    """Where the honest side put the two keys in what the adversary received."""

    elements: tuple[int, int]  # positions of the honest side's elements for FIRST and SECOND
    tags: tuple[int, int]  # positions of its answers to the adversary's FIRST and SECOND (initiator only)
    slots: tuple[int, int]  # how many elements and tags it sent


def _split(messages: Sequence[Message], kind: type[Elements] | type[Tags], width: int) -> list[bytes]:
    data = b"".join(m.data for m in messages if isinstance(m, kind))
    return [data[i : i + width] for i in range(0, len(data), width)]


def _session(honest_role: Role, mode: Mode, seed: int) -> Seen:
    initiator, responder = pair(OURS, THEIRS, mode, seed=seed, chunk_size=5)
    honest, adversary = (initiator, responder) if honest_role is Role.INITIATOR else (responder, initiator)

    def import_order(items: list[bytes]) -> list[bytes]:
        first = adversary._positions
        return sorted(items, key=lambda e: first[e][0] if e in first else len(items))  # canaries last

    adversary._arrange = import_order  # type: ignore[method-assign]
    transcript = pump(initiator, responder)
    assert honest.result is not None and honest.result.intersection_size == 2
    sent_by_honest = [m for d, m in transcript if d == ("i->r" if honest is initiator else "r->i")]
    elements = _split(sent_by_honest, Elements, 32)
    tags = _split(sent_by_honest, Tags, honest.tag_length)
    ours = honest._key.blind([FIRST, SECOND])
    answers = tags_of(honest._key.blind(adversary._key.blind([FIRST, SECOND])), honest.tag_length)
    tag_positions = (tags.index(answers[0]), tags.index(answers[1])) if tags else (0, 0)
    return Seen(
        elements=(elements.index(ours[0]), elements.index(ours[1])),
        tags=tag_positions,
        slots=(len(elements), len(tags)),
    )


Runs = list[Seen]
# A statistic: the values seen, reduced modulo SIZE, and how often each residue would come up if positions
# were uniformly random over ``n`` slots.
Statistic = Callable[[Runs, str], list[int]]


def _position(runs: Runs, part: str) -> list[int]:
    return [getattr(s, part)[0] for s in runs]


def _distance(runs: Runs, part: str) -> list[int]:
    # How far the second key of the case lands from the first: adjacency no likelier than any distance.
    return [getattr(s, part)[1] - getattr(s, part)[0] for s in runs]


def _shift(runs: Runs, part: str) -> list[int]:
    # Where the key lands relative to the previous session: nothing links one session to the next.
    return [getattr(b, part)[0] - getattr(a, part)[0] for a, b in itertools.pairwise(runs)]


def _expected(statistic: str, n: int) -> list[float]:
    """Residue frequencies modulo SIZE of the statistic under uniformly random positions over n slots."""
    counts = [0] * SIZE
    if statistic == "position":
        for i in range(n):
            counts[i % SIZE] += 1
    else:  # a difference of two positions: distinct ones for "distance", independent ones for "shift"
        for i in range(n):
            for j in range(n):
                if i != j or statistic == "shift":
                    counts[(j - i) % SIZE] += 1
    total = sum(counts)
    return [c / total for c in counts]


def _p_uniform(values: Sequence[int], statistic: str, n: int) -> float:
    expected = _expected(statistic, n)
    bins = [b for b in range(SIZE) if expected[b] > 0]
    observed = [sum(1 for v in values if v % SIZE == b) for b in bins]
    scale = len(values) / sum(expected[b] for b in bins)
    return float(chisquare(observed, [expected[b] * scale for b in bins]).pvalue)


STATISTICS: dict[str, Statistic] = {"position": _position, "distance": _distance, "shift": _shift}
CASES = [
    (role, mode, part)
    for role in (Role.INITIATOR, Role.RESPONDER)
    for mode in (Mode.MUTUAL, Mode.COUNT_ONLY)
    for part in ("elements", "tags")
    if not (part == "tags" and (mode is Mode.MUTUAL or role is Role.RESPONDER))
]
_RUNS: dict[tuple[Role, Mode], Runs] = {}


def _runs(role: Role, mode: Mode) -> Runs:
    if (role, mode) not in _RUNS:
        _RUNS[role, mode] = [_session(role, mode, seed) for seed in range(1, 2 * SESSIONS, 2)]
    return _RUNS[role, mode]


@pytest.mark.parametrize("statistic", list(STATISTICS))
@pytest.mark.parametrize(("role", "mode", "part"), CASES, ids=lambda v: getattr(v, "value", v))
def test_what_the_peer_receives_is_in_a_fresh_random_order(role: Role, mode: Mode, part: str, statistic: str) -> None:
    runs = _runs(role, mode)
    slots = {s.slots[0 if part == "elements" else 1] for s in runs}
    assert len(slots) == 1
    assert _p_uniform(STATISTICS[statistic](runs, part), statistic, slots.pop()) > P_MIN


def test_mutual_tags_follow_the_order_the_peer_chose() -> None:
    # The one list not permuted by its sender: mutual-mode answers line up with the peer's elements, which
    # the peer itself put in a random order; here the adversary kept import order and gets it back.
    runs = _runs(Role.INITIATOR, Mode.MUTUAL)[:5]
    assert all(s.tags == (0, 1) for s in runs)


def test_results_map_back_to_every_import_position() -> None:
    initiator, responder = pair(OURS, THEIRS, Mode.MUTUAL, seed=7)
    pump(initiator, responder)
    assert initiator.result is not None and responder.result is not None
    assert initiator.result.matched == frozenset({0, 1}) and responder.result.matched == frozenset({0, 1})


def test_the_same_seed_gives_the_same_order_and_another_seed_another() -> None:
    def order(seed: int) -> list[bytes]:
        session = PsiSession(role=Role.RESPONDER, suite=DEFAULT_SUITE, elements=OURS, random_bytes=seeded(seed))
        session.receive(Open(DEFAULT_SUITE.name, Mode.MUTUAL, 1, BlindingKey(bytes(31) + b"\x01").public_key()))
        return list(session._sending)

    assert order(1) == order(1)
    assert order(1) != order(2)
