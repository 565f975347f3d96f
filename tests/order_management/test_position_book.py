"""The position book (kept between reads) answers exactly what a rebuild from every fill answers."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from core.order_management.business_days import BusinessCalendar
from core.order_management.domain import Side, default_instruments
from core.order_management.fill_view import PositionBook, StoredFill, positions_from_fills

DAY = 86_400_000_000_000


def _fills(seed: int, n: int) -> list[StoredFill]:
    rng = random.Random(seed)
    names = sorted(default_instruments())
    ts, out = 1_700_000_000 * 10**9, []
    for i in range(n):
        ts += rng.choice([0, 1, 1_000, 7 * 3_600 * 10**9, DAY // 3])  # equal times too: seq breaks the tie
        out.append(StoredFill(f"F{i}", f"O{i}", rng.choice(names), rng.choice([Side.BUY, Side.SELL]),
                              rng.randint(1, 500), Decimal(rng.randint(9_000, 11_000)) / 100, ts, i))
    return out


def _plain(positions: dict) -> dict:
    return {k: tuple(getattr(p, s) for s in type(p).__slots__) for k, p in positions.items()}


@pytest.mark.parametrize("seed", range(8))
def test_a_book_folded_in_steps_answers_as_a_rebuild_does(seed: int) -> None:
    instruments, cal = default_instruments(), BusinessCalendar()
    fills = _fills(seed, 300)
    rng = random.Random(seed)
    book = PositionBook(instruments, cal)
    taken = 0
    now = fills[0].ts_ns
    for _ in range(40):  # reads at rising times, each folding a random further prefix into the book
        now += rng.choice([0, 3_600 * 10**9, DAY, 2 * DAY])
        upto = rng.randint(taken, len(fills))
        for f in fills[taken:upto]:
            book.fold(f)
        taken = upto
        seen = rng.randint(taken, len(fills))  # the fills the database has by now
        pos, cash, settled, unsettled = book.view(fills[taken:seen], now)
        want_pos, want_cash, want_settled = positions_from_fills(fills[:seen], instruments, cal, now)
        assert _plain(pos) == _plain(want_pos)
        assert (cash, settled) == (want_cash, want_settled)
        due = [cal.settlement_ns(f.ts_ns, instruments[f.instrument].settlement_days) for f in fills[:seen]]
        assert unsettled == sum(1 for d in due if d > now)


def test_a_view_leaves_the_book_as_it_was_and_a_fill_behind_its_horizon_is_refused() -> None:
    instruments, cal = default_instruments(), BusinessCalendar()
    fills = _fills(99, 20)
    book = PositionBook(instruments, cal)
    for f in fills[:10]:
        book.fold(f)
    book.view([], fills[-1].ts_ns)  # settles what is due by then: that the book keeps
    before = (_plain(book.positions), book.cash, book.count, book.horizon)
    book.view(fills[10:], fills[-1].ts_ns)
    assert (_plain(book.positions), book.cash, book.count, book.horizon) == before
    with pytest.raises(ValueError, match="not after the book's horizon"):
        book.fold(fills[5])
    book.reset()
    assert (book.count, book.horizon, book.positions) == (0, None, {})
