"""crawlpipe.toml: checked whole, keys named in errors, below flags and environment, above defaults."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stages.cli import file_sections, main
from stages.core import config_file, settings
from stages.core.errors import ConfigError
from stages.core.settings import KafkaConfig, RunnerConfig
from stages.parser.settings import ParserConfig

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "crawlpipe.toml"
    path.write_text(text)
    return path


def read(tmp_path: Path, text: str) -> config_file.ConfigFile:
    return config_file.read(write(tmp_path, text), file_sections())


def test_flags_beat_environment_beat_the_file_beats_stage_defaults(tmp_path):
    file = read(tmp_path, "[shared]\nmax_in_flight = 64\ncommit_interval_seconds = 3\nnice = 4\n"
                          "poll_timeout_seconds = 0.5\n")
    values = file.values("parser")
    cli = {"nice": "7"}
    env = {"CRAWLPIPE_COMMIT_INTERVAL_SECONDS": "2"}
    resolved = {r.name: (r.value, r.source)
                for r in settings.resolve(RunnerConfig, cli, env, defaults={"max_in_flight": 32,
                                                                            "max_in_flight_bytes": 1000},
                                          file=values)}
    assert resolved["nice"] == (7, "flag")
    assert resolved["commit_interval_seconds"] == (2.0, "environment")
    assert resolved["max_in_flight"] == (64, "file")
    assert resolved["max_in_flight_bytes"] == (1000, "stage default")
    assert resolved["memory_limit_mb"] == (RunnerConfig().memory_limit_mb, "default")


def test_a_stage_section_wins_over_shared_for_that_stage_only(tmp_path):
    file = read(tmp_path, '[shared]\nmax_in_flight = 64\n[parser]\nmax-in-flight = 16\nrules = "r.toml"\n')
    assert settings.load(RunnerConfig, env={}, file=file.values("parser")).max_in_flight == 16
    assert settings.load(RunnerConfig, env={}, file=file.values("sink")).max_in_flight == 64
    assert settings.load(ParserConfig, env={}, file=file.values("parser")).rules == tmp_path / "r.toml"


@pytest.mark.parametrize("text, named", [
    ("[shared]\nmax_in_fligt = 5\n", r"\[shared\] max_in_fligt: unknown setting"),
    ("[parser]\nstorage = 'x'\n", r"\[parser\] storage: unknown setting"),
    ("[parsr]\nrules = 'x'\n", r"unknown section \[parsr\]"),
    ("[shared]\nmax_in_flight = '5'\n", r"\[shared\] max_in_flight: expected int, got '5'"),
    ("[fetcher]\nallowed_networks = '127.0.0.0/8'\n", r"\[fetcher\] allowed_networks: expected a list of strings"),
    ("[sink]\nbatch_size = true\n", r"\[sink\] batch_size: expected int, got True"),
    ("[shared\n", "not valid TOML"),
])
def test_a_bad_file_is_refused_naming_the_key(tmp_path, text, named):
    with pytest.raises(ConfigError, match=named):
        read(tmp_path, text)


def test_the_file_is_found_by_flag_then_environment_then_the_working_directory(tmp_path):
    here = write(tmp_path, "")
    assert config_file.locate("given.toml", {"CRAWLPIPE_CONFIG": "env.toml"}, tmp_path) == Path("given.toml")
    assert config_file.locate(None, {"CRAWLPIPE_CONFIG": "env.toml"}, tmp_path) == Path("env.toml")
    assert config_file.locate(None, {}, tmp_path) == here
    assert config_file.locate(None, {}, tmp_path / "elsewhere") is None


def test_a_file_value_of_the_wrong_meaning_is_refused_by_the_settings_class(tmp_path):
    file = read(tmp_path, "[shared]\nsecurity_protocol = 'TLS'\n")
    with pytest.raises(ConfigError, match="--security-protocol"):
        settings.load(KafkaConfig, env={}, file=file.values())


def test_a_command_with_a_bad_file_exits_2_naming_the_key(tmp_path, capsys):
    path = write(tmp_path, "[shared]\nbootstrapp = 'x:1'\n")
    assert main(["tail", "crawl.urls", "--config", str(path)]) == 2
    assert "[shared] bootstrapp: unknown setting" in capsys.readouterr().err


def run_config(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "stages.cli", "config", *args], cwd=cwd, text=True, check=False,
                          capture_output=True, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **(env or {})})
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_config_stage_shows_the_defaults_the_stage_really_runs_with(tmp_path):
    lines = {line.split()[0]: line.split()[2] for line in run_config("--stage", "parser", cwd=tmp_path).splitlines()
             if line.startswith("--")}
    assert lines["--max-in-flight"] == "16*"
    assert lines["--max-in-flight-bytes"] == str(8 * 1024 * 1024) + "*"
    sink = {line.split()[0]: line.split()[2] for line in run_config("--stage", "sink", cwd=tmp_path).splitlines()
            if line.startswith("--")}
    assert sink["--max-in-flight"] == "2000*" and sink["--nice"] == "10*"


def test_config_effective_shows_each_value_and_its_source_with_secrets_masked(tmp_path):
    write(tmp_path, "[shared]\nbootstrap = 'kafka1:9093'\nsecurity_protocol = 'SASL_SSL'\n"
                    "sasl_username = 'crawlpipe'\nsasl_password = 'hunter2'\n[parser]\nmax_in_flight = 16\n")
    out = run_config("--effective", "--stage", "parser", "--nice", "3", cwd=tmp_path,
                     env={"CRAWLPIPE_COMMIT_INTERVAL_SECONDS": "2"})
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()}
    assert rows["bootstrap"] == ["'kafka1:9093'", "file"]
    assert rows["max_in_flight"] == ["16", "file"]
    assert rows["max_in_flight_bytes"] == [str(8 * 1024 * 1024), "stage", "default"]
    assert rows["nice"] == ["3", "flag"]
    assert rows["commit_interval_seconds"] == ["2.0", "environment"]
    assert rows["sasl_password"] == ["'***'", "file"]
    assert "hunter2" not in out
