"""Config errors point at file, line, key, value and the fix; the example file documents every key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from pydantic import BaseModel

from engine.commands.targets import check_declared
from engine.config.locate import locate
from engine.config.settings import Settings, load_settings
from engine.core.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.toml.example"


def _load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Settings:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_settings(path, tmp_path / "data", env=env or {}, check_target=check_declared)


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    assert info.value.exit_code == 2
    return str(info.value)


def test_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    msg = _error(tmp_path, '[general]\nlog_level = "info"\nbroken = = 3\n')
    assert str(tmp_path / "config.toml") in msg
    assert "line 3" in msg and "column 10" in msg


def test_bad_value_names_key_value_and_allowed(tmp_path: Path) -> None:
    msg = _error(tmp_path, '[general]\nlocation = "x"\nlog_level = "loud"\n')
    assert msg.startswith(f"{tmp_path / 'config.toml'}:3: general.log_level = 'loud'")
    for allowed in ("debug", "info", "warning", "error"):
        assert allowed in msg


def test_out_of_range_value(tmp_path: Path) -> None:
    msg = _error(tmp_path, "[smtp]\nhost = 'relay'\n\nport = 70000\n")
    assert "config.toml:4: smtp.port = 70000" in msg and "65535" in msg


def test_bad_duration_says_the_forms(tmp_path: Path) -> None:
    msg = _error(tmp_path, "[alerts]\nresend_interval = 'often'\n")
    assert "config.toml:2: alerts.resend_interval = 'often'" in msg and "30s" in msg


@pytest.mark.parametrize(
    ("text", "line", "key", "suggestion"),
    [
        ("[engine]\nconcurrency = 4\nconcurency = 5\n", 3, "engine.concurency", "concurrency"),
        ("[genral]\nlog_level = 'info'\n", 1, "genral", "general"),
        ("[telegram]\napi_hsh = 'x'\n", 2, "telegram.api_hsh", "api_hash"),
        (
            "[[targets]]\nspec = 'tcp://a:1'\n\n[[targets]]\nspec = 'tcp://b:2'\nintervall = '5s'\n",
            6,
            "targets[1].intervall",
            "interval",
        ),
    ],
)
def test_unknown_key_suggests_the_closest(
    tmp_path: Path, text: str, line: int, key: str, suggestion: str
) -> None:
    msg = _error(tmp_path, text)
    assert f"config.toml:{line}: unknown key {key!r}" in msg
    assert f"did you mean {suggestion!r}" in msg


def test_unknown_key_without_close_match_lists_known_keys(tmp_path: Path) -> None:
    msg = _error(tmp_path, "[quotas]\nzzz = 1\n")
    assert "unknown key 'quotas.zzz'" in msg and "max_targets" in msg and "max_benchmarks" in msg


def test_third_targets_bad_interval_points_at_its_line(tmp_path: Path) -> None:
    text = """[engine]
concurrency = 10

[[targets]]
spec = "tcp://a.example:1"
interval = "30s"

[[targets]]
spec = "tcp://b.example:2"
interval = "1m"

[[targets]]
spec = "tcp://c.example:3"
name = "c"
interval = "soon"
"""
    msg = _error(tmp_path, text)
    assert "config.toml:15: targets[2].interval = 'soon'" in msg


def test_nested_and_dotted_keys_point_at_their_lines(tmp_path: Path) -> None:
    msg = _error(
        tmp_path, "[general]\nlog_level = 'info'\n[engine]\nretries = 3\nconcurrency = 0\n"
    )
    assert "config.toml:5: engine.concurrency = 0" in msg
    msg = _error(tmp_path, "# top\nengine.concurrency = 0\n")
    assert "config.toml:2: engine.concurrency = 0" in msg


def test_bad_spec_in_declared_target(tmp_path: Path) -> None:
    msg = _error(tmp_path, "[[targets]]\nspec = 'tcp://a:1'\n[[targets]]\nspec = 'tcp://nohost'\n")
    assert "config.toml:4: targets[1].spec" in msg and "no port" in msg


def test_duplicate_declared_names(tmp_path: Path) -> None:
    msg = _error(
        tmp_path,
        "[[targets]]\nspec='tcp://a:1'\nname='x'\n[[targets]]\nspec='tcp://a:2'\nname='x'\n",
    )
    assert "config.toml:6: targets[1].name = 'x' is already used by targets[0]" in msg


def test_locate_in_arrays_of_tables_with_subtables() -> None:
    text = "[[targets]]\nspec='a'\n[targets.options]\nx=1\n[[targets]]\nspec='b'\n[[rules]]\nname='r'\n"
    assert locate(text, ("targets", 1, "spec")) == 6
    assert locate(text, ("targets", 0, "spec")) == 2
    assert locate(text, ("rules", 0, "name")) == 8
    assert locate(text, ("nothing",)) is None


def test_missing_explicit_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", tmp_path, env={})
    # No file at the default place means defaults.
    s = load_settings(None, tmp_path, env={})
    assert s.engine.concurrency == Settings().engine.concurrency


def test_environment_overrides(tmp_path: Path) -> None:
    cfg = tmp_path / "elsewhere.toml"
    cfg.write_text(
        "[general]\ndata_dir = '/nope'\ndatabase_url = 'sqlite:////nope.db'\n[telegram]\napi_id = 1\n"
    )
    env = {
        "SYSALERT_CONFIG": str(cfg),
        "SYSALERT_DATA_DIR": str(tmp_path / "dd"),
        "SYSALERT_DATABASE_URL": "postgresql+psycopg://u@127.0.0.1/db",
        "TELEGRAM_API_ID": "4242",
        "TELEGRAM_API_HASH": "0123456789abcdef",
    }
    s = load_settings(None, None, env=env)
    assert s.config_path == cfg
    assert s.data_dir == tmp_path / "dd"
    assert s.database_url == "postgresql+psycopg://u@127.0.0.1/db"
    assert s.telegram.api_id == 4242
    assert (
        s.telegram.api_hash is not None
        and s.telegram.api_hash.get_secret_value() == "0123456789abcdef"
    )
    # Without the env, the file's values stand; the default store is SQLite in the data dir.
    s2 = load_settings(cfg, None, env={})
    assert s2.data_dir == Path("/nope") and s2.telegram.api_id == 1
    s3 = load_settings(None, tmp_path / "d3", env={})
    assert s3.database_url == f"sqlite:///{tmp_path / 'd3' / 'sysalert.db'}"


def test_bad_telegram_api_id_env(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_API_ID"):
        load_settings(None, tmp_path, env={"TELEGRAM_API_ID": "abc"})


def test_example_loads_as_is_and_matches_packaged_copy(tmp_path: Path) -> None:
    packaged = ROOT / "engine" / "config" / "example.toml"
    assert EXAMPLE.read_text() == packaged.read_text()
    s = load_settings(EXAMPLE, tmp_path, env={})
    defaults = Settings()
    for section in ("engine", "retention", "api", "alerts", "smtp", "telegram", "quotas"):
        assert getattr(s, section) == getattr(defaults, section), section
    assert s.general.model_dump(exclude={"data_dir"}) == defaults.general.model_dump(
        exclude={"data_dir"}
    )
    assert s.targets == [] and s.rules == []


def test_example_commented_keys_are_valid_when_uncommented(tmp_path: Path) -> None:
    lines = []
    for line in EXAMPLE.read_text().splitlines():
        m = re.match(r"^# ((?:\[\[?\w+\]\]?)|(?:\w+ = .*))$", line)  # [[x]], [x] and keys
        lines.append(m.group(1) if m else line)
    s = _load(tmp_path, "\n".join(lines) + "\n")
    assert s.telegram.api_id == 12345
    assert len(s.targets) == 1 and len(s.rules) == 1
    assert s.watchdog.url.get_secret_value().startswith("https://") and s.watchdog.every == 60


def _documented_keys() -> dict[str, set[str]]:
    keys: dict[str, set[str]] = {}
    section = ""
    for line in EXAMPLE.read_text().splitlines():
        if m := re.match(r"^#?\s*\[\[?(\w+)\]\]?\s*$", line):
            section = m.group(1)
        elif m := re.match(r"^#?\s*(\w+)\s*=", line):
            keys.setdefault(section, set()).add(m.group(1))
    return keys


def _item_model(field_annotation: object) -> type[BaseModel]:
    args = getattr(field_annotation, "__args__", ())
    model = next(
        a for a in (field_annotation, *args) if isinstance(a, type) and issubclass(a, BaseModel)
    )
    return model


def test_every_settings_key_is_documented_in_the_example() -> None:
    documented = _documented_keys()
    missing = []
    for section, field in Settings.model_fields.items():
        if section == "config_path":
            continue
        model = _item_model(field.annotation)
        for key in model.model_fields:
            if key not in documented.get(section, set()):
                missing.append(f"{section}.{key}")
    assert not missing, f"undocumented in config.toml.example: {missing}"


def test_general_log_level_sets_the_daemon_and_console_level(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`[general] log_level` was documented and read by nothing; --debug and SYSALERT_LOG_LEVEL
    still win over it."""
    import argparse
    import logging

    from sysalert_tui.daemon import apply_log_level

    cfg = tmp_path / "config.toml"
    cfg.write_text('[general]\nlog_level = "error"\n')
    settings = load_settings(cfg, tmp_path, env={})
    root = logging.getLogger()
    noisy = ("telethon", "httpx", "httpcore", "uvicorn.access", "aiosqlite", "asyncio")
    before = root.level, {n: logging.getLogger(n).level for n in noisy}
    try:
        monkeypatch.delenv("SYSALERT_LOG_LEVEL", raising=False)
        root.setLevel(logging.INFO)
        apply_log_level(settings, argparse.Namespace(debug=True))
        assert root.level == logging.INFO
        apply_log_level(settings, argparse.Namespace(debug=False))
        assert root.level == logging.ERROR
        assert logging.getLogger("httpx").level == logging.ERROR
        monkeypatch.setenv("SYSALERT_LOG_LEVEL", "DEBUG")
        root.setLevel(logging.DEBUG)
        apply_log_level(settings, argparse.Namespace(debug=False))
        assert root.level == logging.DEBUG
    finally:
        root.setLevel(before[0])
        for name, level in before[1].items():
            logging.getLogger(name).setLevel(level)


def test_sighup_names_the_keys_that_wait_for_a_restart(tmp_path: Path) -> None:
    from engine.runtime.engine import restart_only_changes

    old = load_settings(None, tmp_path, env={})
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        '[engine]\nconcurrency = 64\nfailure_threshold = 4\n[api]\nlisten = "0.0.0.0:9"\n'
    )
    new = load_settings(cfg, tmp_path, env={})
    assert restart_only_changes(old, new) == ["engine.concurrency", "api.listen"]
    assert restart_only_changes(new, new) == []


# ---- everything a [[targets]] entry carries is checked at load (issue 15) -------------------------
TARGET = '[[targets]]\nspec = "http://127.0.0.1:9/"\nname = "web"\n'


@pytest.mark.parametrize(
    ("extra", "line", "said"),
    [
        ('conditions = ["[STATUS] === 1"]\n', 4, "targets[0].conditions"),
        ('conditions = ["[DOMAIN_EXPIRATION] > 1"]\n', 4, "does not look up domain"),
        ("options = { follow_redirect = true }\n", 4, "did you mean 'follow_redirects'"),
        ('options = { max_latency_ms = "soon" }\n', 4, "targets[0].options"),
        ("failure_threshold = 1000\n", 4, "1 to 100"),
        ("recovery_threshold = true\n", 4, "whole number"),
        ('interval = "0.1s"\n', 4, "too short"),
        ('timeout = "0s"\n', 4, "timeout"),
        ('depends_on = "web"\n', 4, "cannot depend on itself"),
        ('tags = ["a", 3]\n', 4, "targets[0].tags[1]"),
    ],
)
def test_declared_target_fields_are_checked_at_load(
    tmp_path: Path, extra: str, line: int, said: str
) -> None:
    msg = _error(tmp_path, TARGET + extra)
    assert f"config.toml:{line}:" in msg, msg
    assert said in msg, msg
    assert "\n" not in msg  # one line, the condition's caret drawing left out


def test_declared_name_and_heartbeat_spec_are_checked(tmp_path: Path) -> None:
    msg = _error(tmp_path, '[[targets]]\nspec = "tcp://127.0.0.1:9"\nname = "  "\n')
    assert "config.toml:3: targets[0].name" in msg and "empty" in msg
    msg = _error(tmp_path, '[[targets]]\nspec = "heartbeat://job?every=1h&grace=soon"\n')
    assert "config.toml:2: targets[0].spec" in msg


def test_a_whole_entry_is_built_as_target_add_builds_it(tmp_path: Path) -> None:
    """What only the whole entry shows (a timeout longer than the interval) is refused by the
    command layer's builder the CLI, console and daemon hand to load_settings."""
    text = TARGET + 'interval = "10s"\ntimeout = "20s"\n'
    msg = _error(tmp_path, text)
    assert "config.toml:" in msg and "targets[0]" in msg and "longer than the interval" in msg
    path = tmp_path / "config.toml"
    path.write_text(text)
    assert load_settings(path, tmp_path / "data", env={}).targets[0].timeout == 20.0


def test_a_shown_value_is_redacted(tmp_path: Path) -> None:
    msg = _error(tmp_path, '[[targets]]\nspec = "tcp://db-primary.corp.example"\n')
    assert "config.toml:2: targets[0].spec" in msg and "db-primary" not in msg


def test_a_good_declared_target_still_loads(tmp_path: Path) -> None:
    s = _load(
        tmp_path,
        TARGET + 'conditions = ["[STATUS] == 200", "[IP] == 127.0.0.1"]\n'
        "options = { follow_redirects = false }\nfailure_threshold = 3\n"
        '[[targets]]\nspec = "tcp://127.0.0.1:9"\nname = "db"\ndepends_on = "web"\n',
    )
    assert [t.name for t in s.targets] == ["web", "db"] and s.targets[0].failure_threshold == 3


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not a text file"),
        (b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deeply"),
        (b"a = " + b"[" * 40 + b"]" * 40 + b"\n", "deeper than 32"),
        (b"a = " + b"{b = " * 40 + b"1" + b"}" * 40 + b"\n", "deeper than 32"),
        (b"x = 1\x00\n", "TOML syntax error"),
    ],
)
def test_unreadable_config_is_one_line(tmp_path: Path, content: bytes, said: str) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load_settings(path, tmp_path, env={})
    assert said in str(info.value) and "\n" not in str(info.value)


def test_config_naming_a_directory_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_settings(None, tmp_path / "d", env={"SYSALERT_CONFIG": str(tmp_path)})


def test_named_config_must_exist_but_the_default_place_may_be_empty(tmp_path: Path) -> None:
    """SYSALERT_CONFIG (or --config) naming a file elsewhere that does not exist is an error: a
    typo must not run on defaults. The default place, `<data dir>/config.toml`, may be empty
    before `sysalert init` (named or not); `init` itself may create a named file."""
    data = tmp_path / "data"
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(None, data, env={"SYSALERT_CONFIG": str(tmp_path / "typo.toml")})
    assert load_settings(None, data, env={}).config_path == data / "config.toml"
    assert load_settings(None, data, env={"SYSALERT_CONFIG": str(data / "config.toml")})
    s = load_settings(
        None, data, env={"SYSALERT_CONFIG": str(tmp_path / "new.toml")}, creating=True
    )
    assert s.config_path == tmp_path / "new.toml"


@pytest.mark.parametrize(
    ("url", "shown"), [("mysql://u@h/x", "'mysql'"), ("redis://x", "'redis'"), ("x.db", "scheme")]
)
def test_unsupported_database_scheme_names_the_supported(
    tmp_path: Path, url: str, shown: str
) -> None:
    msg = _error(tmp_path, f'[general]\ndatabase_url = "{url}"\n')
    assert "config.toml:2:" in msg and shown in msg
    assert "sqlite" in msg and "postgresql+psycopg" in msg and "u@h" not in msg
    with pytest.raises(ConfigError, match="SYSALERT_DATABASE_URL"):
        load_settings(None, tmp_path, env={"SYSALERT_DATABASE_URL": url})


def test_tls_files_go_together(tmp_path: Path) -> None:
    msg = _error(tmp_path, '[api]\ntls_cert = "/x/cert.pem"\n')
    assert "config.toml:1: api" in msg and "go together" in msg


# ---- property: whatever the file holds, loading it gives settings or one ConfigError --------------


def _toml(v: object) -> str:
    """A value as TOML (strings as JSON strings, which TOML reads the same)."""
    import json

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(x)}" for k, x in v.items()) + "}"
    return json.dumps(v, ensure_ascii=False)


_scalars = st.one_of(
    st.text(max_size=30),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.sampled_from(
        [
            "tcp://127.0.0.1:9",
            "http://x.example/",
            "heartbeat://j?every=1h",
            "30s",
            "0s",
            "[STATUS] == 200",
            "[STATUS] === 1",
            "system://cpu?max=90",
            "1e308d",
        ]
    ),
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_keys = st.sampled_from(
    [
        "spec",
        "name",
        "interval",
        "timeout",
        "tags",
        "conditions",
        "options",
        "depends_on",
        "failure_threshold",
        "recovery_threshold",
        "bogus",
    ]
)


@examples(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(entries=st.lists(st.dictionaries(_keys, _values, max_size=6), max_size=3))
def test_any_targets_entries_load_or_give_one_config_error(tmp_path: Path, entries: list) -> None:
    text = "".join(
        "[[targets]]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in e.items()) for e in entries
    )
    path = tmp_path / "prop.toml"
    path.write_text(text, encoding="utf-8")
    try:
        load_settings(path, tmp_path, env={}, check_target=check_declared)
    except ConfigError as exc:
        assert "\n" not in str(exc)


@examples(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=600))
def test_any_bytes_load_or_give_one_config_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "raw.toml"
    path.write_bytes(data)
    try:
        load_settings(path, tmp_path, env={}, check_target=check_declared)
    except ConfigError as exc:
        assert "\n" not in str(exc).split(" TOML syntax error: ")[0]
