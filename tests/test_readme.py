"""The README shows the two fresh-machine commands and points to the configuration reference."""

from __future__ import annotations

from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_the_two_commands_are_there():
    assert "make demo" in README and "make test" in README


def test_the_configuration_section_points_to_the_full_reference():
    assert "docs/configuration.md" in README
