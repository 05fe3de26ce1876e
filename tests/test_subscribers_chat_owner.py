"""What a subscriber does from the chat, through a running engine and real TL updates: targets and
benchmarks of their own, /get with the score against its baseline, /status, /history, /mode, their
alerts reaching their chat, quotas in both profiles, and never seeing another subscriber's things."""

from __future__ import annotations

import anyio
import pytest
from sqlalchemy import func, select

from engine.store.models import Subscriber, Target
from tests.subscriber_world import (
    ALICE,
    CAROL,
    DAVE,
    ask,
    chat_world,
    listener,
    owned_targets,
    server_fixture,  # noqa: F401  (the `server` fixture)
    until,
)
from tests.telegram_engine import closed_port


def target_rows(w) -> int:
    with w.store.session() as s:
        return int(s.exec(select(func.count()).select_from(Target)).scalar_one())


@pytest.mark.anyio
async def test_subscriber_addtarget_takes_the_cli_spec_forms_and_refuses_local_kinds(
    tmp_path, settings, keyring, server
):
    async with chat_world(tmp_path, settings, keyring, server, subscribers=(CAROL,)) as w:
        with listener() as port:
            text = await ask(w, CAROL, f"/addtarget 127.0.0.1:{port} web")
            assert text.startswith("Added web (tcp), checked every ")
            assert text.endswith("Targets: 1 of unlimited; benchmarks: 0 of unlimited.")
            text = await ask(w, CAROL, f"/addtarget http://127.0.0.1:{port}/health")
            assert text.startswith("Added 127.0.0.1 (http)")
            text = await ask(w, CAROL, "/addtarget heartbeat://nightly?every=1d")
            assert text.startswith("Added nightly (heartbeat), expects a ping every 1d with 1h")
            assert "Ping URL: http" in text and "/ping/" in text
            assert "takes no pings over the network yet" in text  # no TCP listener here
            w.engine.ping_listener = "127.0.0.1:8787"
            text = await ask(w, CAROL, "/addtarget heartbeat://weekly?every=7d")
            assert "Ping URL: http" in text and "takes no pings" not in text
        mine = {t.name: (t.kind, t.spec) for t in owned_targets(w, CAROL)}
        assert mine["web"] == ("tcp", f"tcp://127.0.0.1:{port}")
        assert set(mine) == {"web", "127.0.0.1", "nightly", "weekly"}
        refusals = {
            "/addtarget cmd:/bin/true": "Commands can only be added from the console or CLI.",
            "/addtarget system://cpu": "Local system metrics can only be added from the console",
            "/addtarget": "Which target? Give a spec such as tcp://db.example:5432.",
            "/addtarget ftp://x.example": "Usage: /addtarget <spec> [name]",
            "/addtarget 127.0.0.1:99999": "Usage: /addtarget <spec> [name]",
            f"/addtarget 127.0.0.1:1 {'n' * 101}": "too long or has control characters",
        }
        for text, expected in refusals.items():
            assert expected in await ask(w, CAROL, text), text
        assert "already exists" in await ask(w, CAROL, "/addtarget 127.0.0.1:7 web")
        assert len(owned_targets(w, CAROL)) == 4 and target_rows(w) == 4


@pytest.mark.anyio
async def test_subscriber_cannot_see_or_change_another_subscribers_targets(
    tmp_path, settings, keyring, server
):
    async with chat_world(tmp_path, settings, keyring, server, subscribers=(CAROL, DAVE)) as w:
        w.commands.add_contact("alice", "telegram:@alice_oncall")
        with listener() as port:
            await ask(w, CAROL, f"/addtarget 127.0.0.1:{port} carol-web")
            await ask(w, DAVE, f"/addtarget 127.0.0.1:{port} dave-web")
            for text in (
                "/get carol-web",
                "/history carol-web",
                "/mode maintenance carol-web",
                "/rmtarget carol-web",
            ):
                assert await ask(w, DAVE, text) == "No target 'carol-web'.", text
            carol_id = owned_targets(w, CAROL)[0].id
            for text in (f"/get {carol_id}", f"/rmtarget {carol_id}"):
                assert await ask(w, DAVE, text) == f"No target '{carol_id}'."
            status = await ask(w, DAVE, "/status")
            assert status.splitlines()[0].endswith("of 1 targets up.") and "carol" not in status
            # Someone else's benchmark named like Dave's target is not Dave's event.
            await anyio.to_thread.run_sync(
                lambda: w.commands.add_benchmark("cpu", name="dave-web", interval="1h")
            )
            everything = await ask(w, DAVE, "/history")
            assert "carol" not in everything and "benchmark" not in everything
            assert "target.add dave-web" in everything
            # Dave's "all" is his own targets only.
            on = await ask(w, DAVE, "/mode maintenance all")
            assert on.startswith("Maintenance on for all your targets")
            scopes = [(m["target"], m["scope"]) for m in w.commands.list_maintenance()]
            assert scopes == [("dave-web", "target")]
            assert (await ask(w, DAVE, "/mode active all")).endswith("(1 window(s) ended).")
            # The operator's contact sees everything, as before subscribers existed.
            ops = await ask(w, ALICE, "/status")
            assert ops.splitlines()[0].endswith("of 2 targets up.")
            assert [t.name for t in owned_targets(w, CAROL)] == ["carol-web"]


@pytest.mark.anyio
async def test_subscriber_get_status_and_history_of_their_own_target(
    tmp_path, settings, keyring, server
):
    async with chat_world(tmp_path, settings, keyring, server, subscribers=(CAROL,)) as w:
        with listener() as port:
            await ask(w, CAROL, f"/addtarget 127.0.0.1:{port} web")
            got = await ask(w, CAROL, "/get web")
            assert got.startswith("web: up, ") and " ms" in got
            assert (await ask(w, CAROL, "/status")).startswith("1 of 1 targets up.")
            hist = await ask(w, CAROL, "/history web")
            assert hist.startswith("Recent events for web:") and "target.add web" in hist
            assert await ask(w, CAROL, "/get nosuch") == "No target 'nosuch'."
            await ask(w, CAROL, "/addtarget heartbeat://nightly?every=1d&grace=2h")
            got = await ask(w, CAROL, "/get nightly")
            assert got.splitlines()[-1] == (
                "never pinged, expected every 1d with 2h grace; it goes down only after its first ping"
            )
            await ask(w, CAROL, "/rmtarget nightly")
            removed = await ask(w, CAROL, "/rmtarget web")
            assert removed.startswith("Removed web;") and owned_targets(w, CAROL) == []


@pytest.mark.anyio
async def test_subscriber_setbench_and_get_score_against_the_baseline(
    tmp_path, settings, keyring, server
):
    async with chat_world(tmp_path, settings, keyring, server, subscribers=(CAROL, DAVE)) as w:
        assert (
            await ask(w, CAROL, "/get cpu")
            == "You have no cpu benchmark yet; /setbench cpu adds one."
        )
        added = await ask(w, CAROL, "/setbench cpu")
        assert added.startswith("Added benchmark cpu (cpu, every 3600 s).")
        assert "median of its first 3 runs" in added
        cpu = await ask(w, CAROL, "/get cpu", timeout=15)
        assert cpu.startswith("cpu: ") and "ops/s, baseline " in cpu and "%)" in cpu
        with listener() as port:
            added = await ask(w, CAROL, f"/setbench 127.0.0.1:{port}")
            assert added.startswith(f"Added benchmark 127.0.0.1:{port} connect (tcp")
            got = await ask(w, CAROL, f"/get 127.0.0.1:{port} connect", timeout=10)
            assert got.startswith(f"127.0.0.1:{port} connect: ") and " ms, baseline " in got
        bench = w.commands.list_benchmarks(w.commands.find_subscriber(CAROL).id)
        assert {b["kind"] for b in bench} == {"cpu", "tcp"}
        assert all(b["baseline"] is not None for b in bench)  # from the first runs
        # Dave has none of these, and cannot run or remove Carol's.
        assert (
            await ask(w, DAVE, "/get cpu")
            == "You have no cpu benchmark yet; /setbench cpu adds one."
        )
        assert await ask(w, DAVE, "/rmbench cpu") == "No benchmark 'cpu'."
        bad = {
            "/setbench": "Give one benchmark: cpu, an http(s) URL, or host:port.",
            "/setbench cpu twice": "Give one benchmark",
            "/setbench icmp://127.0.0.1": "A benchmark is cpu, an http(s) URL's latency",
            "/setbench cmd:/bin/true": "Commands can only be added from the console or CLI.",
        }
        for text, expected in bad.items():
            assert expected in await ask(w, CAROL, text), text
        assert (await ask(w, CAROL, "/rmbench cpu")).startswith("Removed benchmark cpu.")


@pytest.mark.anyio
async def test_subscriber_alerts_reach_their_own_chat_and_only_they_can_ack(
    tmp_path, settings, keyring, server
):
    async with chat_world(tmp_path, settings, keyring, server, subscribers=(CAROL, DAVE)) as w:
        w.commands.add_contact("alice", "telegram:@alice_oncall")
        port = closed_port()
        await ask(w, CAROL, "/start")
        await ask(w, CAROL, f"/addtarget 127.0.0.1:{port} carol-db")
        await ask(w, CAROL, "/get carol-db")

        def alerts_to_carol():
            return [m for m in w.sent_to(CAROL) if "carol-db" in m.message and not m.reply_to]

        alert = (await until(alerts_to_carol, what="carol's alert"))[0]
        assert not any("carol-db" in m.message for m in w.sent_to(ALICE))  # not the operator's
        inc = w.commands.list_incidents(owner_id=w.commands.find_subscriber(CAROL).id)[0]
        assert (await ask(w, DAVE, f"/ack {inc['id']}")) == f"No incident '{inc['id']}'."
        reply = await w.say(CAROL, "ack", reply_to=alert.id)
        assert (await w.reply_text(reply)).startswith(f"Acknowledged {inc['id']} (carol-db)")
        status = await ask(w, CAROL, "/status")
        assert "carol-db: down" in status and f"{inc['id']} carol-db: acknowledged" in status


@pytest.mark.anyio
async def test_quota_hosted_profile_refuses_the_sixth_target_and_fourth_benchmark(
    tmp_path, settings, keyring, server
):
    async with chat_world(
        tmp_path, settings, keyring, server, profile="hosted", subscribers=(CAROL, DAVE)
    ) as w:
        with listener() as port:
            for i in range(5):
                assert (await ask(w, CAROL, f"/addtarget 127.0.0.1:{port} t{i}")).startswith(
                    "Added"
                )
            before = target_rows(w)
            refused = await ask(w, CAROL, f"/addtarget 127.0.0.1:{port} sixth")
            first, second = refused.splitlines()
            assert first == (
                "Target quota reached: 5 of 5 targets in use (the hosted profile's default)."
            )
            assert second.startswith("Remove one first with /rmtarget <name> (yours: t0, t1,")
            assert target_rows(w) == before and "sixth" not in str(w.commands.list_targets())
            who = await ask(w, CAROL, "/whoami")
            assert "Targets: 5 of 5; benchmarks: 0 of 3." in who
            # Another subscriber has a quota of their own.
            assert (await ask(w, DAVE, f"/addtarget 127.0.0.1:{port} dave")).startswith("Added")
            await ask(w, CAROL, "/rmtarget t0")
            assert (await ask(w, CAROL, f"/addtarget 127.0.0.1:{port} sixth")).startswith("Added")
            ports = []
            for _ in range(3):
                with listener() as p:
                    ports.append(p)
            for p in ports:
                assert (await ask(w, CAROL, f"/setbench 127.0.0.1:{p}")).startswith("Added")
            refused = await ask(w, CAROL, "/setbench cpu")
            assert refused.startswith(
                "Benchmark quota reached: 3 of 3 benchmarks in use (the hosted profile's default)."
            )
            assert "/rmbench <name>" in refused
            sub = w.commands.find_subscriber(CAROL)
            assert len(w.commands.list_benchmarks(sub.id)) == 3
            # A per-subscriber limit wins over the profile: 0 means none at all.
            with w.store.session() as s:
                row = s.get(Subscriber, w.commands.find_subscriber(DAVE).id)
                row.max_targets = 0
                s.add(row)
                s.commit()
            refused = await ask(w, DAVE, f"/addtarget 127.0.0.1:{port} more")
            assert "1 of 0 targets in use (this subscriber's own limit)" in refused
            assert "Your account may not add targets" in refused


@pytest.mark.anyio
async def test_quota_self_hosted_profile_is_unlimited_for_subscribers(
    tmp_path, settings, keyring, server
):
    async with chat_world(tmp_path, settings, keyring, server, subscribers=(CAROL,)) as w:
        with listener() as port:
            for i in range(7):
                assert (await ask(w, CAROL, f"/addtarget 127.0.0.1:{port} t{i}")).startswith(
                    "Added"
                )
            for _ in range(4):
                with listener() as p:
                    assert (await ask(w, CAROL, f"/setbench 127.0.0.1:{p}")).startswith("Added")
        who = await ask(w, CAROL, "/whoami")
        assert who.startswith("You are ****1265, role subscriber.")
        assert "Targets: 7 of unlimited; benchmarks: 4 of unlimited." in who
        assert str(CAROL) not in who
        await anyio.sleep(0)
