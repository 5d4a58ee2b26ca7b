"""Which stages exist: registered by the stages themselves, never named in core.

The built-in stages are entry points of the ``crawlpipe.stages`` group
(``pyproject.toml``); a stage defined elsewhere (a test, a plug-in package)
calls ``register``. Each stage's downstream is found here too: the stage
that consumes the topic of its main output.
"""

from __future__ import annotations

import functools
from importlib.metadata import entry_points

from stages.core.lag import Downstream
from stages.core.settings import KafkaConfig
from stages.core.stage import Stage

GROUP = "crawlpipe.stages"

_registered: dict[str, type[Stage]] = {}


def register(stage: type[Stage]) -> type[Stage]:
    """Make ``stage`` runnable by name (``crawlpipe <name>``); usable as a class decorator."""
    _registered[stage.name] = stage
    return stage


@functools.cache
def _installed() -> dict[str, type[Stage]]:
    """The entry points' stages, read and imported once per process (the CLI asks for them repeatedly)."""
    return {point.name: point.load() for point in entry_points(group=GROUP)}


def stages() -> dict[str, type[Stage]]:
    """Every stage by name: the entry points', then those registered in this process."""
    return {**_installed(), **_registered}


def stage(name: str) -> type[Stage]:
    known = stages()
    if name not in known:
        raise KeyError(f"no stage named {name!r}; known: {', '.join(sorted(known))}")
    return known[name]


def downstream(stage_class: type[Stage], kafka_config: KafkaConfig) -> Downstream | None:
    """The topic and group whose lag pauses ``stage_class``: its main output's consumer, if any."""
    if not stage_class.outputs:
        return None
    topic_field = next(iter(stage_class.outputs.values()))
    for name, other in stages().items():
        if other.input == topic_field and other is not stage_class and other.paces_upstream:
            return Downstream(getattr(kafka_config, topic_field), kafka_config.group(name))
    return None
