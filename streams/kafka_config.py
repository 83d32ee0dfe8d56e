"""Client options shared by every Kafka connection livewatch opens (admin, producer, consumer)."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from streams.settings import Settings


def client_options(settings: Settings) -> dict[str, Any]:
    """aiokafka keyword arguments for the configured brokers and security."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.security_protocol,
    }
    if settings.sasl_mechanism:
        options |= {
            "sasl_mechanism": settings.sasl_mechanism,
            "sasl_plain_username": settings.sasl_username,
            "sasl_plain_password": (
                settings.sasl_password.get_secret_value() if settings.sasl_password else None
            ),
        }
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    return options


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context for SSL and SASL_SSL: the configured CA file (else the system's CAs),
    and a client certificate when one is configured; hostnames are checked."""
    if settings.security_protocol not in ("SSL", "SASL_SSL"):
        return None
    from aiokafka.helpers import create_ssl_context

    context: ssl.SSLContext = create_ssl_context(
        cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None,
        certfile=str(settings.ssl_certfile) if settings.ssl_certfile else None,
        keyfile=str(settings.ssl_keyfile) if settings.ssl_keyfile else None,
        password=(
            settings.ssl_key_password.get_secret_value() if settings.ssl_key_password else None
        ),
    )
    return context


class LoginRefused(RuntimeError):
    """The brokers refused this client's TLS or SASL login: retrying cannot help."""


async def check_login(settings: Settings, timeout_s: float = 20.0) -> None:
    """Open one connection to each bootstrap broker as the clients will, and raise LoginRefused
    if a broker refuses the credentials or the TLS handshake. A broker that cannot be reached
    is not an error here: the clients wait for it and `/readyz` reports it.

    aiokafka logs a refused login and then retries the bootstrap for ever (its error says only
    "Unable to bootstrap"); a worker with a wrong password would look alive and do nothing."""
    if settings.security_protocol == "PLAINTEXT":
        return
    from aiokafka.conn import create_conn
    from aiokafka.errors import KafkaConnectionError, KafkaError

    options = client_options(settings)
    options.pop("bootstrap_servers")
    for hostport in (h.strip() for h in settings.kafka_bootstrap.split(",") if h.strip()):
        host, _, port = hostport.rpartition(":")
        try:
            conn = await asyncio.wait_for(
                create_conn(host, int(port), request_timeout_ms=int(timeout_s * 1000), **options),
                timeout_s,
            )
        except ssl.SSLError as exc:
            raise LoginRefused(
                f"TLS with {hostport} failed ({exc.reason or exc}): check LIVEWATCH_SSL_CAFILE "
                "and the broker's certificate"
            ) from exc
        except (OSError, TimeoutError, KafkaConnectionError):
            continue  # unreachable now: not a login problem
        except KafkaError as exc:
            who = f"user {settings.sasl_username!r} with {settings.sasl_mechanism}"
            raise LoginRefused(
                f"the broker {hostport} refused the credentials of {who}: {exc}; check "
                "LIVEWATCH_SASL_USERNAME, LIVEWATCH_SASL_PASSWORD and LIVEWATCH_SASL_MECHANISM"
            ) from exc
        conn.close()
