"""The Faust app's configuration from livewatch's settings."""

from __future__ import annotations

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
