"""The add form's service kinds: picking one offers its fields, they write the spec, the spec field
shows the password as ***, and what is saved carries the real password (sealed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Select

from screens.spec_builder import KIND_FIELDS, SCHEMES, build_spec
from screens.target_form import TargetFormScreen
from tests.console_fixture import fresh_world, make_app, settle

pytestmark = pytest.mark.anyio


def test_every_kind_builds_a_spec_the_parser_takes() -> None:
    from engine.checks.specs import parse_spec

    sample = {
        "host": "db.internal",
        "port": "4000",
        "user": "app",
        "password": "p@ss:w/rd",
        "path": "main",
        "query": "SELECT 2",
        "info": "role",
        "topic": "a/b",
        "queue": "jobs",
        "subject": "svc.ping",
        "starttls": "true",
        "fingerprint": "SHA256:abc",
        "send": "ping",
        "expect": "pong",
        "unit": "nginx.service",
        "container": "web-1",
    }
    for scheme, kind in SCHEMES.items():
        values = {f[0]: sample[f[0]] for f in KIND_FIELDS[kind]}
        if kind == "redis":
            values["path"] = "3"
        spec = parse_spec(build_spec(scheme, values))
        assert spec.kind == kind, scheme
        if "password" in values:
            from engine.checks.probes.service import credentials

            assert credentials(spec)[1] == "p@ss:w/rd", scheme


async def test_picking_a_kind_offers_its_fields_and_saves_the_real_password(
    tmp_path: Path,
) -> None:
    with fresh_world(tmp_path) as w:
        async with make_app(w.backend).run_test(size=(100, 40)) as pilot:
            await settle(pilot)
            await pilot.press("a")
            await settle(pilot)
            form = pilot.app.screen
            assert isinstance(form, TargetFormScreen)
            form.query_one("#f-kind", Select).value = "amqp"
            await settle(pilot)
            ids = {w.id for w in form.query(".kind-field").results(Input)}
            assert ids == {"k-host", "k-port", "k-user", "k-password", "k-path", "k-queue"}
            assert form.query_one("#k-password", Input).password  # typed, never shown
            form.query_one("#k-host", Input).value = "127.0.0.1"
            form.query_one("#k-user", Input).value = "guest"
            form.query_one("#k-password", Input).value = "zebra-secret-77"
            form.query_one("#k-queue", Input).value = "jobs"
            await settle(pilot)
            shown = form.query_one("#f-spec", Input).value
            assert shown == "amqp://guest:***@127.0.0.1/?queue=jobs"
            assert not form.query_one("#e-spec").display  # the parser accepted the real spec
            form.query_one("#f-name", Input).value = "mq"
            await pilot.press("ctrl+s")
            await settle(pilot)
            rec = w.engine.commands.target_record("mq")
            assert rec.kind == "amqp"
            assert rec.spec_text == "amqp://guest:zebra-secret-77@127.0.0.1/?queue=jobs"
            shown_rec = w.engine.commands.get_target("mq")
            assert shown_rec.spec == "amqp://guest:***@127.0.0.1/?queue=jobs"
            # editing keeps the password the form never showed
            pilot.app.push_screen(TargetFormScreen(shown_rec))
            await settle(pilot)
            edit = pilot.app.screen
            assert edit.query_one("#f-spec", Input).value.count("***") == 1
            edit.query_one("#f-interval", Input).value = "45s"
            await pilot.press("ctrl+s")
            await settle(pilot)
            again = w.engine.commands.target_record("mq")
            assert again.interval_s == 45.0
            assert again.spec_text == rec.spec_text
