"""`sysalert check SPEC` for the service kinds (exit 0 up, 1 down, 2 a bad spec, in one line), a
password that never shows in what the CLI prints or in the data directory, and a spec whose
client library is missing naming the extra that installs it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.daemon_harness import cli, init_store, sysalert
from tests.service_probes import check, closed_port, need_service


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    init_store(data)
    return data


def test_check_exit_codes(store_dir: Path) -> None:
    need_service("redis")
    rc, out, _ = cli(store_dir, "check", "redis://127.0.0.1:6379/0")
    assert rc == 0 and out.startswith("ok"), out
    rc, out, _ = cli(store_dir, "check", f"redis://127.0.0.1:{closed_port()}/0")
    assert rc == 1 and "FAILED (refused)" in out
    rc, out, err = cli(store_dir, "check", "redis://127.0.0.1:6379/0", "--condition", "[BODY] == x")
    assert rc == 1 and "FAILED (condition)" in out
    rc, _, err = cli(store_dir, "check", "postgres://")
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "no host" in err


def test_a_password_is_never_shown(store_dir: Path) -> None:
    secret = "zebra-secret-5521"
    spec = f"amqp://guest:{secret}@127.0.0.1:5672/?queue=jobs"
    rc, _, err = cli(store_dir, "target", "add", spec, "--name", "mq", "--interval", "1m")
    assert rc == 0, err
    for argv in (("target", "list", "--json"), ("target", "show", "mq"), ("target", "list")):
        rc, out, err = cli(store_dir, *argv)
        assert rc == 0 and secret not in out + err
    rc, out, _ = cli(store_dir, "target", "show", "mq", "--json")
    assert '"spec": "amqp://guest:***@127.0.0.1:5672/?queue=jobs"' in out
    # an edit that sends the masked spec back keeps the password
    rc, _, err = cli(store_dir, "target", "edit", "mq", "--spec", "amqp://guest:***@127.0.0.1/")
    assert rc == 0, err
    for path in store_dir.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    from engine.core.spec_secrets import spec_password

    got = sysalert(store_dir, "export")
    assert spec_password(got.stdout.split('spec = "', 1)[1].split('"', 1)[0]) == secret


@pytest.mark.anyio
async def test_a_missing_client_library_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("aiomqtt", "aiormq", "redis", "redis.asyncio", "nats", "aiomysql"):
        monkeypatch.setitem(sys.modules, module, None)  # `import` raises ImportError
    for spec in (
        "mqtt://127.0.0.1:1",
        "amqp://guest:guest@127.0.0.1:1/",
        "redis://127.0.0.1:1/0",
        "nats://127.0.0.1:1",
        "mysql://root@127.0.0.1:1/test",
    ):
        res = await check(spec)
        assert not res.ok and res.error_class == "error"
        assert "pip install 'sysalert[services]'" in res.detail, spec
