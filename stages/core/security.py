"""How every Kafka client authenticates and encrypts: one set of keyword arguments from ``KafkaConfig``.

Consumers, producers and the admin client take the same arguments, so the
CLI tools and the stages reach a secured cluster (TLS, SASL PLAIN or SCRAM)
the same way. OAUTHBEARER is not offered: aiokafka needs a token-provider
object for it, which a setting cannot express.
"""

from __future__ import annotations

import ssl
from typing import Any

from aiokafka.helpers import create_ssl_context

from stages.core.errors import ConfigError
from stages.core.settings import KafkaConfig


def client_options(config: KafkaConfig) -> dict[str, Any]:
    """``security_protocol``, ``ssl_context`` and ``sasl_*`` arguments for an aiokafka client."""
    options: dict[str, Any] = {"security_protocol": config.security_protocol}
    if config.security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl_context(config)
    if config.security_protocol.startswith("SASL_"):
        options.update(sasl_mechanism=config.sasl_mechanism, sasl_plain_username=config.sasl_username,
                       sasl_plain_password=config.sasl_password)
    return options


def ssl_context(config: KafkaConfig) -> ssl.SSLContext:
    """The TLS context: the given CAs (or the system's), an optional client certificate, hostname checks."""
    try:
        context = create_ssl_context(
            cafile=config.ssl_cafile, certfile=config.ssl_certfile, keyfile=config.ssl_keyfile,
            password=config.ssl_key_password or None,
        )
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"--ssl-cafile / --ssl-certfile / --ssl-keyfile: cannot load: {exc}") from exc
    context.check_hostname = config.ssl_check_hostname
    made: ssl.SSLContext = context
    return made
