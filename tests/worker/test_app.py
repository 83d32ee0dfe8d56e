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
