"""The Faust app's configuration from livewatch's settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from streams.settings import Settings
from streams.worker.app import _faust_app


def test_a_fetch_and_so_a_batch_holds_at_most_batch_max_records() -> None:
    assert _faust_app(Settings(store="memory://")).conf.broker_max_poll_records == 5_000
    app = _faust_app(Settings(store="memory://", batch_max_records=15_000))
    assert app.conf.broker_max_poll_records == 15_000


@pytest.mark.parametrize("records", [0, 100_001])
def test_a_batch_cap_out_of_range_is_refused(records: int) -> None:
    with pytest.raises(ValidationError, match="batch_max_records"):
        Settings(batch_max_records=records)


def test_the_internal_topics_come_first_in_each_batch() -> None:
    settings = Settings(store="memory://", app_id="lw")
    app = _faust_app(settings)
    assert app.first_topics == frozenset(settings.internal_topics.values())
    assert not app.first_topics & set(settings.input_topics)


def test_the_input_topics_are_aligned_when_turned_on() -> None:
    settings = Settings(store="memory://", app_id="lw")
    assert _faust_app(settings).aligned_topics == ()
    on = settings.model_copy(update={"align_inputs": True})
    aligned = _faust_app(on).aligned_topics
    assert aligned == (settings.topic_orders, settings.topic_refunds, settings.topic_complaints)


def test_each_app_id_keeps_its_tables_in_a_directory_of_its_own(tmp_path: Path) -> None:
    """Two app ids on one data directory never share a store: recovering one app's tables over
    another's local stores refused to start (Faust's "persisted offset higher than the
    highwater") or, worse, mixed their states."""
    one = _faust_app(Settings(app_id="lw-a", data_dir=tmp_path)).conf.tabledir
    other = _faust_app(Settings(app_id="lw-b", data_dir=tmp_path)).conf.tabledir
    assert one != other
    assert one.is_relative_to(tmp_path / "lw-a")
    assert other.is_relative_to(tmp_path / "lw-b")


@pytest.mark.parametrize("app_id", ["", ".", "..", "a/b", "live watch", "x" * 201])
def test_an_app_id_kafka_would_refuse_or_a_path_would_escape_is_refused(app_id: str) -> None:
    with pytest.raises(ValidationError, match="app_id"):
        Settings(app_id=app_id)
