"""Why a Kafka client could not start: the broker absent, TLS refused, or the credentials refused.

aiokafka reports every bootstrap failure as one ``KafkaConnectionError``
("Unable to bootstrap") and only logs the cause. When that happens, one
more connection to each bootstrap address, made with the same settings,
finds the cause so the operator is told which setting to check.
"""

from __future__ import annotations

import ssl

from aiokafka.conn import create_conn
from aiokafka.errors import (
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)

from stages.core.errors import KafkaAuthenticationFailed, KafkaUnavailable
from stages.core.security import client_options
from stages.core.settings import KafkaConfig


async def diagnose(config: KafkaConfig) -> KafkaUnavailable:
    """The error to raise for a client that could not bootstrap from ``config.bootstrap``."""
    for address in config.bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            timeout_ms = int(config.request_timeout_seconds * 1000)
            connection = await create_conn(host, int(port), request_timeout_ms=timeout_ms, **client_options(config))
        except (SaslAuthenticationFailed, UnsupportedSaslMechanismError) as exc:
            return KafkaAuthenticationFailed(
                f"Kafka at {address} refused user {config.sasl_username!r} with {config.sasl_mechanism}: "
                f"check --sasl-username, --sasl-password and --sasl-mechanism ({type(exc).__name__})"
            )
        except ssl.SSLError as exc:
            return KafkaUnavailable(
                f"TLS with Kafka at {address} failed: {exc.reason or exc}: check --security-protocol, "
                f"--ssl-cafile and --ssl-check-hostname"
            )
        except (OSError, KafkaError, TimeoutError, ValueError):
            continue
        connection.close()
    return KafkaUnavailable(
        f"cannot reach Kafka at {config.bootstrap} with {config.security_protocol}: start a broker "
        f"(ops/kafka/start) or set --bootstrap / CRAWLPIPE_BOOTSTRAP and --security-protocol"
    )
