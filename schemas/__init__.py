"""The message contracts as JSON Schema files, installed as ``stages.schemas`` (see pyproject.toml)."""
