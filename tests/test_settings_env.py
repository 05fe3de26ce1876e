"""Every config key from the environment (SYSALERT_ prefix, `__` between section and key), over
a real config file: the environment wins, secrets included, and a bad value names its variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.config.settings import Settings, load_settings
from engine.core.errors import ConfigError
from tests.daemon_harness import ROOT, child_env

FILE = """\
[smtp]
host = "mail.internal"
password = "from-the-file"
port = 2525

[alerts]
resend_interval = "10m"

[[targets]]
spec = "tcp://127.0.0.1:9"
name = "web"
"""


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(FILE)
    return path


def test_every_section_and_secret_can_come_from_the_environment(tmp_path: Path) -> None:
    env = {
        "SYSALERT_SMTP__PASSWORD": "from-the-env",
        "SYSALERT_ALERTS__WEBHOOK_SECRET": "hmac-key",
        "SYSALERT_ENGINE__CONCURRENCY": "800",
        "SYSALERT_API__API_KEYS": '["k1", "k2"]',
        "SYSALERT_WATCHDOG__URL": "https://hc.example/ping/abc",
        "sysalert_retention__raw_days": "3",  # names are case-insensitive, as pydantic-settings
    }
    s = load_settings(_config(tmp_path), tmp_path / "data", env=env)
    assert s.smtp.password.get_secret_value() == "from-the-env"  # the environment wins
    assert s.smtp.host == "mail.internal" and s.smtp.port == 2525  # the file's other keys stand
    assert s.alerts.webhook_secret.get_secret_value() == "hmac-key"
    assert s.alerts.resend_interval == 600.0
    assert s.engine.concurrency == 800
    assert [k.get_secret_value() for k in s.api.api_keys] == ["k1", "k2"]
    assert s.watchdog.url.get_secret_value() == "https://hc.example/ping/abc"
    assert s.retention.raw_days == 3
    assert [t.name for t in s.targets] == ["web"]
    # Without the variables, the file's values.
    plain = load_settings(_config(tmp_path), tmp_path / "data", env={})
    assert plain.smtp.password.get_secret_value() == "from-the-file"
    assert plain.engine.concurrency == Settings().engine.concurrency


def test_the_older_variables_still_work_beside_the_new_ones(tmp_path: Path) -> None:
    env = {
        "SYSALERT_CONFIG": str(_config(tmp_path)),
        "SYSALERT_DATA_DIR": str(tmp_path / "dd"),
        "SYSALERT_DATABASE_URL": "postgresql+psycopg://u@127.0.0.1/db",
        "SYSALERT_GENERAL__TIMEZONE": "Europe/Riga",
        "SYSALERT_LOG_LEVEL": "DEBUG",  # read by the CLI, not a settings key: ignored here
        "SYSALERT_MASTER_KEY": "not-a-settings-key",
    }
    s = load_settings(None, None, env=env)
    assert s.data_dir == tmp_path / "dd"
    assert s.database_url == "postgresql+psycopg://u@127.0.0.1/db"
    assert s.general.timezone == "Europe/Riga"


@pytest.mark.parametrize(
    ("var", "value", "said"),
    [
        ("SYSALERT_ENGINE__CONCURRENCY", "lots", "environment SYSALERT_ENGINE__CONCURRENCY"),
        ("SYSALERT_SMTP__PORT", "99999", "environment SYSALERT_SMTP__PORT"),
        ("SYSALERT_SMTP__PASWORD", "x", "did you mean 'password'?"),
        (
            "SYSALERT_API__API_KEYS",
            "k1",
            "environment SYSALERT_API__API_KEYS: the value is not JSON",
        ),
    ],
)
def test_a_bad_value_in_the_environment_names_its_variable(
    tmp_path: Path, var: str, value: str, said: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(_config(tmp_path), tmp_path / "data", env={var: value})
    assert said in str(info.value)
    assert "config.toml:" not in info.value.message  # not blamed on a line of the file


def test_a_secret_in_the_environment_is_never_echoed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(
            _config(tmp_path),
            tmp_path / "data",
            env={"SYSALERT_WATCHDOG__URL": "ftp://token-abc123@hc.example/x"},
        )
    text = f"{info.value.message} {info.value.hint}"
    assert "SYSALERT_WATCHDOG__URL" in text and "token-abc123" not in text


def test_a_file_error_still_points_at_its_line_with_the_environment_set(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(FILE.replace("port = 2525", "port = 0"))
    with pytest.raises(ConfigError) as info:
        load_settings(path, tmp_path / "data", env={"SYSALERT_SMTP__PASSWORD": "x"})
    assert info.value.message.startswith(f"{path}:4: smtp.port = 0:")


def test_the_cli_reads_the_process_environment(tmp_path: Path) -> None:
    """A real `sysalert` process: the variable reaches the engine's settings, a bad one is one
    line and exit code 2."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "config.toml").write_text(FILE)
    env = child_env(data)
    env["SYSALERT_CONFIG"] = str(data / "config.toml")
    env["SYSALERT_ENGINE__CONCURRENCY"] = "0"
    out = subprocess.run(
        [sys.executable, "-m", "sysalert_tui", "status"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2, out.stdout + out.stderr
    assert "SYSALERT_ENGINE__CONCURRENCY" in out.stderr and "Traceback" not in out.stderr
