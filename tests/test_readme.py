"""The README names the two fresh-machine commands and links every page of the guide."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_the_two_commands_are_there() -> None:
    assert "make demo" in README and "make test" in README


def test_the_readme_stays_short_and_links_the_guide() -> None:
    assert len(README.splitlines()) <= 200, "the README is an entry point: move detail into docs/"
    for page in ("quickstart", "user-guide", "operations", "configuration", "architecture", "benchmarks"):
        assert f"(docs/{page}.md)" in README
        assert (ROOT / "docs" / f"{page}.md").is_file()
