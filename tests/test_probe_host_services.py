"""systemd units and Docker containers. This machine kind runs neither systemd as PID 1 nor a
Docker engine, so the tests against a live unit or container run only where one exists and are
skipped here with the reason shown (`-ra`: "skipped: no systemd here ..."); under
SYSALERT_REQUIRE_SERVICES=1 they stay skipped, because no start command can give this host an init
system or a Docker engine. What does run here is the probe on this host as it is: a clear failure
naming what is missing, never a crash or an up."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests.service_probes import check

pytestmark = pytest.mark.anyio

SYSTEMD = Path("/run/systemd/system").is_dir()  # what sd_booted() checks
DOCKER_SOCKET = "/var/run/docker.sock"
DOCKER = os.path.exists(DOCKER_SOCKET)
NO_SYSTEMD = "skipped: no systemd here (PID 1 is not systemd: /run/systemd/system is missing)"
NO_DOCKER = f"skipped: no docker here ({DOCKER_SOCKET} does not exist: no Docker engine runs)"


async def test_systemd_unit_states_where_systemd_runs() -> None:
    if not SYSTEMD:
        pytest.skip(NO_SYSTEMD)
    res = await check("systemd://systemd-journald.service", conditions=["[BODY].active == active"])
    assert res.ok, res.detail
    res = await check("systemd://sysalert-no-such-unit.service")
    assert not res.ok and res.error_class == "status" and "not installed" in res.detail


async def test_systemd_without_systemd_says_so() -> None:
    if SYSTEMD:
        pytest.skip("systemd runs here: the unit test above covers this host")
    res = await check("systemd://ssh.service")
    assert not res.ok and res.error_class in ("protocol", "unreachable")
    assert "systemd" in res.detail  # "not been booted with systemd" or "systemctl is not installed"


def _a_running_container() -> str | None:
    transport = httpx.HTTPTransport(uds=DOCKER_SOCKET)
    with httpx.Client(transport=transport, timeout=5) as http:
        running = http.get("http://docker/containers/json").json()
    return running[0]["Id"][:12] if running else None


async def test_docker_container_where_docker_runs() -> None:
    if not DOCKER:
        pytest.skip(NO_DOCKER)
    res = await check("docker://sysalert-no-such-container")
    assert not res.ok and res.error_class == "status" and "no container" in res.detail
    container = _a_running_container()
    if container is None:
        pytest.skip("skipped: Docker runs here but no container is running to probe")
    res = await check(f"docker://{container}", conditions=["[BODY].running == true"])
    assert res.ok, res.detail


async def test_docker_without_a_socket_says_so(tmp_path: Path) -> None:
    missing = tmp_path / "docker.sock"
    res = await check(f"docker://web?socket={missing}")
    assert not res.ok and res.error_class == "unreachable"
    assert "does not exist: is Docker running here?" in res.detail
    if not DOCKER:
        res = await check("docker://web")  # the default socket, absent on this host
        assert not res.ok and res.error_class == "unreachable"
