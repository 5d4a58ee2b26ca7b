"""What ``crawlpipe config`` prints: the settings reference, a stage's real defaults, the effective values.

Everything is rendered from the settings dataclasses and each stage's
``runner_defaults``, so the reference in ``docs/configuration.md`` and the
listing cannot drift from what the stages run with.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import PurePath
from typing import Any

from stages.core import settings
from stages.core.config_file import SHARED


def _first_line(cls: type) -> str:
    return (cls.__doc__ or "").strip().splitlines()[0]


def shown(value: Any, secret: bool) -> str:
    """A value as printed: a set secret is masked, never shown."""
    if secret and value:
        return "'***'"
    return repr(str(value)) if isinstance(value, PurePath) else repr(value)


def listing(classes: Sequence[type], own: Mapping[str, Any],
            by_stage: Mapping[str, Mapping[str, Any]]) -> Iterator[str]:
    """One line per setting: option, variable, default, help.

    With ``own`` (one stage's defaults) the default shown is the one that
    stage runs with; otherwise the help names each stage's own default.
    """
    for option, env, default, help_text in settings.describe(*classes):
        name = option[2:].replace("-", "_")
        if name in own:
            default = f"{own[name]!r}*"
        elif not own:
            stages = ", ".join(f"{stage} {values[name]!r}" for stage, values in by_stage.items() if name in values)
            help_text += f" [stage defaults: {stages}]" if stages else ""
        yield f"{option:36} {env:44} {default:>24}  {help_text}"
    if own:
        yield "* this stage's own default (Stage.runner_defaults); flags, environment and the file still win"


def effective(resolved: Sequence[settings.Resolved]) -> Iterator[str]:
    """One line per setting: its value and where it came from."""
    for item in resolved:
        yield f"{item.name:36} {shown(item.value, item.secret):>32}  {item.source}"


def reference_markdown(sections: Mapping[str, Sequence[type]],
                       stage_defaults: Mapping[str, Mapping[str, Any]]) -> str:
    """The configuration reference: a table per settings class, the section each belongs in, stage defaults."""
    lines: list[str] = []
    seen: set[type] = set()
    for section, classes in sections.items():
        for cls in classes:
            if cls in seen:
                continue
            seen.add(cls)
            where = "any section" if section == SHARED else f"[{section}]"
            lines += [f"### {cls.__name__}", "", f"{_first_line(cls)} File section: {where}.", "",
                      "| option | environment | default | meaning |", "|---|---|---|---|"]
            lines += [f"| `{option}` | `{env}` | `{default}` | {help_text} |"
                      for option, env, default, help_text in settings.describe(cls)]
            lines.append("")
    lines += ["### Per-stage defaults", "",
              "A stage runs with these instead of the defaults above (`crawlpipe config --stage NAME`).", "",
              "| stage | setting | default |", "|---|---|---|"]
    lines += [f"| {stage} | `{settings.option_name(name)}` | `{value!r}` |"
              for stage, defaults in stage_defaults.items() for name, value in defaults.items()]
    return "\n".join(lines) + "\n"
