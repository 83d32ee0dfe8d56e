"""The workers' rankings merged into one (the HTTP side is in tests/e2e/test_board.py)."""

from __future__ import annotations

from streams.board.workers import merge_rankings


def _row(anchor: str, bound: float, firing: tuple[str, ...] = ()) -> dict[str, object]:
    return {"anchor_id": anchor, "refund_rate_lower_bound": bound, "firing": list(firing)}


def test_rows_of_every_worker_are_ranked_together_once_each() -> None:
    answer = merge_rankings(
        {
            "http://w1": [_row("a", 0.2), _row("b", 0.1)],
            "http://w2": [_row("c", 0.05, ("quality_complaints",)), _row("a", 0.2), _row("d", 0.3)],
            "http://w3": None,
        },
        limit=4,
    )
    assert [r["anchor_id"] for r in answer.rows] == ["c", "d", "a", "b"]
    assert answer.unreachable == ["http://w3"]
    assert len(merge_rankings({"http://w1": [_row("a", 0.2), _row("b", 0.1)]}, 1).rows) == 1
