"""Kafka over TLS with SASL (SCRAM-SHA-512 and PLAIN), against a local broker started with a
SASL_SSL listener and a certificate made here; a wrong password fails fast and says so."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from streams.devtools.children import start_worker, stop
from streams.devtools.kafka_local import KafkaLocal, SecureListener, free_port
from streams.devtools.sim.kafka import send_events
from streams.replay import replay_records
from streams.settings import Settings
from streams.topics import create_topics
from tests.e2e.test_detection import mixed_feed
from tests.streams.worker_process import WorkerProcess, read_alerts

pytestmark = pytest.mark.kafka

STORE_PASSWORD = "keystore-pw-1"
USER, PASSWORD = "livewatch", "s3cret-sasl-pw"


def make_keystore(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 in a PKCS12 keystore (the broker's), and the
    same certificate as PEM (the clients' CA file), made with the JDK's keytool."""
    keystore, ca = directory / "broker.p12", directory / "ca.pem"
    subprocess.run(
        ["keytool", "-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048",
         "-validity", "2", "-dname", "CN=localhost", "-ext", "SAN=ip:127.0.0.1,dns:localhost",
         "-keystore", str(keystore), "-storetype", "PKCS12", "-storepass", STORE_PASSWORD,
         "-keypass", STORE_PASSWORD],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        ["keytool", "-exportcert", "-rfc", "-alias", "broker", "-keystore", str(keystore),
         "-storepass", STORE_PASSWORD, "-file", str(ca)],
        check=True, capture_output=True,
    )  # fmt: skip
    return keystore, ca


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A broker with a SASL_SSL listener (started here, stopped by its pid)."""
    directory = tmp_path_factory.mktemp("kafka-sasl")
    keystore, ca = make_keystore(directory)
    listener = SecureListener(free_port(), keystore, STORE_PASSWORD, {USER: PASSWORD})
    broker = KafkaLocal(state_dir=directory / "kafka", port=free_port(), secure=listener)
    broker.up()
    try:
        yield f"127.0.0.1:{listener.port}", ca
    finally:
        broker.down()


def secured(
    settings: Settings, broker: tuple[str, Path], mechanism: str, password: str
) -> Settings:
    bootstrap, ca = broker
    return settings.model_copy(update={
        "kafka_bootstrap": bootstrap, "security_protocol": "SASL_SSL",
        "sasl_mechanism": mechanism, "sasl_username": USER,
        "sasl_password": SecretStr(password), "ssl_cafile": ca,
    })  # fmt: skip


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "PLAIN"])
async def test_the_worker_runs_over_sasl_ssl(
    secure_broker: tuple[str, Path], settings: Settings, workers: list[WorkerProcess],
    tmp_path: Path, mechanism: str,
) -> None:  # fmt: skip
    settings = secured(settings, secure_broker, mechanism, PASSWORD)
    records = mixed_feed()
    expected = list(replay_records(records, settings))
    await create_topics(settings)
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    workers.append(worker)
    worker.start()
    await send_events(settings, records)
    alerts = await read_alerts(settings, lambda got: len(got) >= len(expected))
    got = {(a.alert_id, a.status.value) for a in alerts}
    assert got == {(a.alert_id, a.status.value) for a in expected}, worker.tail()
    assert PASSWORD not in worker.log_path.read_text()


async def test_a_wrong_password_fails_fast_and_says_so(
    secure_broker: tuple[str, Path], settings: Settings, tmp_path: Path
) -> None:
    settings = secured(settings, secure_broker, "SCRAM-SHA-512", "not-the-password")
    log = tmp_path / "worker.log"
    proc = start_worker(settings, log)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        pass
    finally:
        stop(proc)
    text = log.read_text()
    assert proc.returncode not in (None, 0), text[-3000:]
    assert "refused the credentials" in text, text[-3000:]
    assert "not-the-password" not in text
