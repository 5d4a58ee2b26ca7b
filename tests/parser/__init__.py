"""Tests of the parser's extraction library; fixtures are in tests/fixtures/parser/."""

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "parser"
