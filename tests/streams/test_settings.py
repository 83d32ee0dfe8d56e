"""Settings: secrets from files, where a server may listen, credentials sent in clear."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from streams.settings import SECRETS, Settings, is_loopback, redacted


@pytest.mark.parametrize("name", SECRETS)
def test_every_secret_reads_from_its_file(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As Kubernetes and Docker mount secrets: the file's content, its last newline dropped."""
    secret = tmp_path / name
    secret.write_text("from-a-file\n", encoding="utf-8")
    monkeypatch.setenv(f"LIVEWATCH_{name.upper()}_FILE", str(secret))
    if name == "alertmanager_password":
        monkeypatch.setenv("LIVEWATCH_ALERTMANAGER_USERNAME", "livewatch")  # they go together
    value = getattr(Settings(), name)
    assert value is not None and value.get_secret_value() == "from-a-file"
    assert "from-a-file" not in repr(Settings())


def test_a_secret_given_twice_or_missing_is_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVEWATCH_API_TOKEN_FILE", str(tmp_path / "absent"))
    with pytest.raises(ValidationError, match=r"LIVEWATCH_API_TOKEN_FILE=.*absent: No such file"):
        Settings()
    (tmp_path / "absent").write_text("t")
    monkeypatch.setenv("LIVEWATCH_API_TOKEN", "t2")
    with pytest.raises(ValidationError, match="LIVEWATCH_API_TOKEN_FILE and LIVEWATCH_API_TOKEN"):
        Settings()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.1.1", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("0.0.0.0", False), ("::", False), ("10.0.0.5", False),
     ("worker.internal", False)],
)  # fmt: skip
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_open_listeners_need_a_token_or_an_explicit_choice() -> None:
    assert Settings(web_host="0.0.0.0").open_listeners("worker") is not None
    assert Settings(web_host="0.0.0.0", api_token="t").open_listeners("notify") is None
    assert Settings(web_host="0.0.0.0", insecure_http=True).open_listeners("worker") is None
    assert Settings(board_host="0.0.0.0").open_listeners("board") is not None
    assert (
        Settings(board_host="0.0.0.0", web_host="0.0.0.0", api_token="t").open_listeners("board")
        is not None
    )  # the board's own token guards the board
    assert Settings().open_listeners("worker") is None


def test_a_password_sent_in_clear_is_warned_of() -> None:
    plain = Settings(security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN")
    assert "clear text" in plain.plaintext_warnings()[0]
    assert Settings(security_protocol="SASL_SSL", sasl_mechanism="PLAIN").plaintext_warnings() == []
    am = Settings(alertmanager_urls="http://am:9093", alertmanager_bearer_token="t")
    assert "http://" in am.plaintext_warnings()[0]
    assert (
        Settings(alertmanager_urls="https://u:p@am")
        .plaintext_warnings()[0]
        .startswith("an Alertmanager URL carries a password")
    )


def test_alertmanager_logins_are_one_kind_and_whole() -> None:
    with pytest.raises(ValidationError, match="not both"):
        Settings(alertmanager_username="u", alertmanager_password="p",
                 alertmanager_bearer_token="t")  # fmt: skip
    with pytest.raises(ValidationError, match="go together"):
        Settings(alertmanager_username="u")


def test_urls_are_shown_without_credentials() -> None:
    assert redacted("https://u:p@am.example:9093/x") == "https://am.example:9093/x"
    assert redacted("http://am:9093") == "http://am:9093"


def test_a_time_zone_for_naive_event_times_is_checked_at_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIVEWATCH_NAIVE_TIME_ZONE", "Asia/Shanghia")
    with pytest.raises(ValidationError, match=r"naive_time_zone\n.*'Asia/Shanghia' is no IANA"):
        Settings()
    monkeypatch.setenv("LIVEWATCH_NAIVE_TIME_ZONE", "Asia/Shanghai")
    zone = Settings().naive_zone
    assert zone is not None and str(zone) == "Asia/Shanghai"
    assert Settings(naive_time_zone=None).naive_zone is None
