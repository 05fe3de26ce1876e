"""Redis, RabbitMQ, Mosquitto and NATS probes against the real local servers.

Each test makes what it checks and removes it after: a Redis ACL user, a RabbitMQ vhost and queue
(rabbitmqctl), an MQTT topic, a NATS subject with a responder. The local Mosquitto and NATS take
anonymous logins, so a wrong password is tested against a second, password-protected Mosquitto and
NATS server started from the same binaries on a free port (real servers, not fakes).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, need_tool
from tests.service_probes import answers, black_hole, check, closed_port, need_service, throwaway

pytestmark = pytest.mark.anyio


# --- Redis --------------------------------------------------------------------------------------


@pytest.fixture
def redis_user() -> Iterator[str]:
    """A throwaway ACL user with password pw-USER, deleted after the test."""
    need_service("redis")
    import redis

    user = throwaway()
    admin = redis.Redis(host="127.0.0.1", port=6379)
    admin.execute_command("ACL", "SETUSER", user, "on", f">pw-{user}", "~*", "+@all")
    try:
        yield user
    finally:
        admin.execute_command("ACL", "DELUSER", user)
        admin.close()


async def test_redis_ping_info_and_acl_login(redis_user: str) -> None:
    assert (await check("redis://127.0.0.1:6379/0")).ok
    res = await check(
        f"redis://{redis_user}:pw-{redis_user}@127.0.0.1:6379/3?info=role,connected_clients",
        conditions=["[BODY].role == master", "[BODY].connected_clients > 0", "[CONNECTED] == true"],
    )
    assert res.ok, res.detail
    assert '"role": "master"' in res.facts["body"]
    res = await check(f"redis://{redis_user}:wrong-pass@127.0.0.1:6379/0")
    assert not res.ok and res.error_class == "permission" and "wrong-pass" not in res.detail


async def test_redis_closed_port_and_silence() -> None:
    res = await check(f"redis://127.0.0.1:{closed_port()}/0")
    assert not res.ok and res.error_class == "refused"
    with black_hole() as port:
        res = await check(f"redis://127.0.0.1:{port}/0", timeout=1.0)
        assert not res.ok and res.error_class == "timeout"


# --- RabbitMQ -----------------------------------------------------------------------------------


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture
def vhost() -> Iterator[str]:
    """A throwaway vhost guest may use, with a queue `jobs` holding three messages."""
    need_service("amqp")
    need_tool("rabbitmqctl")
    name = throwaway()
    _rabbitmqctl("add_vhost", name)
    try:
        _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield name
    finally:
        _rabbitmqctl("delete_vhost", name)


async def test_amqp_channel_and_queue_depth(vhost: str) -> None:
    import aiormq

    conn = await aiormq.connect(f"amqp://guest:guest@127.0.0.1:5672/{vhost}")
    channel = await conn.channel()
    await channel.queue_declare("jobs")
    for i in range(3):
        await channel.basic_publish(f"job {i}".encode(), routing_key="jobs")
    await conn.close()
    spec = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    assert (await check(spec)).ok
    res = await check(spec + "?queue=jobs", conditions=["[BODY].messages == 3"])
    assert res.ok, res.detail
    assert res.facts["body"] == '{"consumers": 0, "messages": 3}'
    res = await check(spec, queue="jobs", conditions=["[BODY].messages < 2"])
    assert not res.ok and res.error_class == "condition"
    res = await check(spec + "?queue=no-such-queue")
    assert not res.ok and res.error_class == "protocol" and "does not exist" in res.detail


async def test_amqp_wrong_password_unknown_vhost_closed_and_silent() -> None:
    need_service("amqp")
    res = await check("amqp://guest:wrong@127.0.0.1:5672/")
    assert not res.ok and res.error_class == "permission" and ":wrong" not in res.detail
    res = await check(f"amqp://guest:guest@127.0.0.1:5672/{throwaway()}")
    assert not res.ok and res.error_class in ("permission", "error")
    res = await check(f"amqp://guest:guest@127.0.0.1:{closed_port()}/")
    assert not res.ok and res.error_class == "refused"
    with black_hole() as port:
        res = await check(f"amqp://guest:guest@127.0.0.1:{port}/", timeout=1.0)
        assert not res.ok and res.error_class == "timeout"


# --- Mosquitto ----------------------------------------------------------------------------------


async def test_mqtt_connect_and_round_trip() -> None:
    need_service("mqtt")
    assert (await check("mqtt://127.0.0.1:1883")).ok
    topic = f"sysalert/test/{throwaway()}"
    res = await check(
        f"mqtt://127.0.0.1:1883?topic={topic}", conditions=["[BODY].round_trip_ms < 2000"]
    )
    assert res.ok, res.detail
    assert "round_trip_ms" in res.facts["body"]


async def test_mqtt_closed_and_silent() -> None:
    res = await check(f"mqtt://127.0.0.1:{closed_port()}")
    assert not res.ok and res.error_class == "refused"
    with black_hole() as port:
        res = await check(f"mqtt://127.0.0.1:{port}", timeout=1.0)
        assert not res.ok and res.error_class == "timeout"


@pytest.fixture
def mosquitto_with_password(tmp_path: Path) -> Iterator[int]:
    """A second Mosquitto on a free port that takes only user probe, password right-one."""
    need_tool("mosquitto")
    passwd = need_tool("mosquitto_passwd")
    pwfile = tmp_path / "passwd"
    subprocess.run([passwd, "-c", "-b", str(pwfile), "probe", "right-one"], check=True)
    pwfile.chmod(0o600)
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {pwfile}\n"
        "persistence false\nuser root\n"  # as root it would drop to `mosquitto`, who cannot read it
    )
    proc = subprocess.Popen(
        [shutil.which("mosquitto") or "mosquitto", "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port, proc)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


async def test_mqtt_wrong_password(mosquitto_with_password: int) -> None:
    port = mosquitto_with_password
    assert (await check(f"mqtt://probe:right-one@127.0.0.1:{port}")).ok
    res = await check(f"mqtt://probe:wrong-one@127.0.0.1:{port}")
    assert not res.ok and res.error_class == "permission" and "wrong-one" not in res.detail
    res = await check(f"mqtt://127.0.0.1:{port}")  # anonymous, refused by this one
    assert not res.ok and res.error_class == "permission"


# --- NATS ---------------------------------------------------------------------------------------


async def test_nats_connect_and_request_reply() -> None:
    need_service("nats")
    import nats

    assert (await check("nats://127.0.0.1:4222")).ok
    subject = f"sysalert.test.{throwaway()}"
    responder = await nats.connect("nats://127.0.0.1:4222")

    async def answer(msg: object) -> None:
        await msg.respond(b"pong:" + msg.data)  # type: ignore[attr-defined]

    await responder.subscribe(subject, cb=answer)
    await responder.flush()
    try:
        res = await check(f"nats://127.0.0.1:4222?subject={subject}&expect=pong")
        assert res.ok, res.detail
        assert '"reply": "pong:ping"' in res.facts["body"]
        res = await check(f"nats://127.0.0.1:4222?subject={subject}&expect=nope")
        assert not res.ok and res.error_class == "keyword"
        res = await check(f"nats://127.0.0.1:4222?subject={subject}.nobody")
        assert not res.ok and res.error_class == "protocol" and "nothing answers" in res.detail
    finally:
        await responder.close()


async def test_nats_closed_and_silent() -> None:
    res = await check(f"nats://127.0.0.1:{closed_port()}")
    assert not res.ok and res.error_class == "refused"
    with black_hole() as port:
        res = await check(f"nats://127.0.0.1:{port}", timeout=1.0)
        assert not res.ok and res.error_class == "timeout"


@pytest.fixture
def nats_with_password() -> Iterator[int]:
    """A second nats-server on a free port that takes only probe / right-one."""
    server = need_tool("nats-server")
    port = free_port()
    proc = subprocess.Popen(
        [server, "-a", "127.0.0.1", "-p", str(port), "--user", "probe", "--pass", "right-one"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port, proc)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


async def test_nats_wrong_password(nats_with_password: int) -> None:
    port = nats_with_password
    assert (await check(f"nats://probe:right-one@127.0.0.1:{port}")).ok
    res = await check(f"nats://probe:wrong-one@127.0.0.1:{port}")
    assert not res.ok and res.error_class == "permission" and "wrong-one" not in res.detail


def _wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while not answers(port):
        if proc.poll() is not None:
            pytest.fail(f"{proc.args[0]} exited at start with {proc.returncode}")
        if time.monotonic() > deadline:
            pytest.fail(f"the server on {port} did not listen within 15s")
        time.sleep(0.05)
