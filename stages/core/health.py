"""What one stage process knows of its own health: dependencies, background tasks, stuck partitions.

``/readyz`` answers from it (not ready, with the reasons, while Kafka or
storage is unreachable, a background task is failing or a partition makes no
progress), and so do the ``crawlpipe_dependency_up`` and
``crawlpipe_background_task_up`` metrics. A change of state is logged once,
when it happens: an outage is one WARNING line and one INFO line when it ends,
whatever it costs the code that meets it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

log = logging.getLogger("crawlpipe.health")


@dataclass
class State:
    up: bool
    reason: str
    since: float

    def describe(self, name: str, now: float) -> str:
        return f"{name} down for {now - self.since:.0f} s: {self.reason}"


class Health:
    def __init__(self, stage: str) -> None:
        self._stage = stage
        self.dependencies: dict[str, State] = {}
        self.tasks: dict[str, State] = {}
        self.stuck: dict[str, str] = {}

    def dependency_up(self, name: str) -> None:
        self._set(self.dependencies, name, True, "reachable", "")

    def dependency_down(self, name: str, reason: str) -> None:
        self._set(self.dependencies, name, False, "unreachable", reason)

    def task_up(self, name: str) -> None:
        self._set(self.tasks, name, True, "background task running again", "")

    def task_down(self, name: str, reason: str) -> None:
        self._set(self.tasks, name, False, "background task failing, restarting it with backoff", reason)

    def _set(self, states: dict[str, State], name: str, up: bool, what: str, reason: str) -> None:
        state = states.get(name)
        now = time.monotonic()
        if state is not None and state.up == up:
            if not up:
                state.reason = reason
            return
        if up:
            if state is not None:
                log.info("%s %s: %s again after %.0f s", self._stage, name, what, now - state.since)
        else:
            log.warning("%s %s %s: %s", self._stage, name, what, reason)
        states[name] = State(up, reason, now)

    def set_stuck(self, stuck: dict[str, str]) -> None:
        """Replace the partitions that make no progress (name -> why), logging each change."""
        for name in stuck.keys() - self.stuck.keys():
            log.warning("%s partition %s stuck: %s", self._stage, name, stuck[name])
        for name in self.stuck.keys() - stuck.keys():
            log.info("%s partition %s moving again", self._stage, name)
        self.stuck = dict(stuck)

    def problems(self) -> list[str]:
        """Why the stage is not ready; empty when nothing known is wrong."""
        now = time.monotonic()
        reasons = [state.describe(name, now) for name, state in sorted(self.dependencies.items()) if not state.up]
        reasons += [f"background task {state.describe(name, now)}"
                    for name, state in sorted(self.tasks.items()) if not state.up]
        reasons += [f"partition {name} stuck: {why}" for name, why in sorted(self.stuck.items())]
        return reasons
