"""The add form's service kinds: pick postgres, redis, amqp ... and fill in host, port, user,
password and the kind's own fields; the spec is written from them.

The spec field then shows the spec with the password as *** (the console never shows one); the
form keeps the real spec and saves that. A spec typed by hand still works as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote, urlencode

from textual import on
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Label, Select

_HOST = ("host", "Host", "db.internal or 10.0.0.5")
_USER = ("user", "User", "")
_PASSWORD = ("password", "Password", "hidden here, sealed when saved")

# kind -> its fields: (id, label, placeholder); ids host/port/user/password/path build the URL,
# the others become ?key=value options.
KIND_FIELDS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "postgres": (
        *(_HOST, ("port", "Port", "5432"), _USER, _PASSWORD),
        ("path", "Database", "app"),
        ("query", "Query", "SELECT 1 (the first row is [BODY])"),
    ),
    "mysql": (
        *(_HOST, ("port", "Port", "3306"), _USER, _PASSWORD),
        ("path", "Database", "app"),
        ("query", "Query", "SELECT 1"),
    ),
    "redis": (
        *(_HOST, ("port", "Port", "6379"), _PASSWORD),
        ("path", "Database", "0"),
        ("info", "INFO fields", "role,connected_clients,used_memory"),
    ),
    "mqtt": (
        *(_HOST, ("port", "Port", "1883"), _USER, _PASSWORD),
        ("topic", "Topic", "round trip on this topic (optional)"),
    ),
    "amqp": (
        *(_HOST, ("port", "Port", "5672"), _USER, _PASSWORD),
        ("path", "Vhost", "/"),
        ("queue", "Queue", "its depth is [BODY].messages (optional)"),
    ),
    "nats": (
        *(_HOST, ("port", "Port", "4222"), _USER, _PASSWORD),
        ("subject", "Subject", "request/reply on this subject (optional)"),
    ),
    "smtp": (_HOST, ("port", "Port", "25"), ("starttls", "STARTTLS", "true or false")),
    "ssh": (_HOST, ("port", "Port", "22"), ("fingerprint", "Host key", "SHA256:... (optional)")),
    "udp": (
        *(_HOST, ("port", "Port", "required")),
        ("send", "Send", "ping"),
        ("expect", "Expect", "pong (optional)"),
    ),
    "systemd": (("unit", "Unit", "nginx.service"),),
    "docker": (("container", "Container", "name or id"),),
}
# What the kind list offers: scheme -> kind (the TLS schemes share their kind's fields).
SCHEMES = {
    "postgres": "postgres",
    "mysql": "mysql",
    "redis": "redis",
    "rediss": "redis",
    "mqtt": "mqtt",
    "mqtts": "mqtt",
    "amqp": "amqp",
    "amqps": "amqp",
    "nats": "nats",
    "smtp": "smtp",
    "smtps": "smtp",
    "ssh": "ssh",
    "udp": "udp",
    "systemd": "systemd",
    "docker": "docker",
}


def build_spec(scheme: str, values: dict[str, str]) -> str:
    """The spec the fields describe, e.g. postgres://app:secret@db:5432/app?query=SELECT+1."""
    kind = SCHEMES[scheme]
    v = {k: s.strip() for k, s in values.items()}
    if kind == "systemd":
        return f"systemd://{v.get('unit', '')}"
    if kind == "docker":
        return f"docker://{v.get('container', '')}"
    login = ""
    if v.get("user") or v.get("password"):
        login = quote(v.get("user", ""), safe="")
        if v.get("password"):
            login += ":" + quote(v["password"], safe="")
        login += "@"
    host = v.get("host", "")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    port = f":{v['port']}" if v.get("port") else ""
    path = v.get("path", "")
    if path:
        path = "/" + (quote(path, safe="") if kind == "amqp" else path.lstrip("/"))
    elif kind == "amqp":
        path = "/"
    names = {f[0] for f in KIND_FIELDS[kind]} - {"host", "port", "user", "password", "path"}
    options = {k: v[k] for k in sorted(names) if v.get(k)}
    query = f"?{urlencode(options)}" if options else ""
    return f"{scheme}://{login}{host}{port}{path}{query}"


class SpecBuilder(Vertical):
    """A kind list and, once a kind is picked, its fields; posts Built with each new spec."""

    class Built(Message):
        def __init__(self, spec: str) -> None:
            super().__init__()
            self.spec = spec

    def compose(self) -> Iterable[Widget]:
        with Horizontal(classes="field-row"):
            yield Label("Service kind", classes="field-label")
            yield Select(
                [(s, s) for s in SCHEMES],
                prompt="none: type the spec below",
                id="f-kind",
                compact=True,
            )
        yield Vertical(id="kind-fields")

    @on(Select.Changed, "#f-kind")
    async def _kind_changed(self, event: Select.Changed) -> None:
        box = self.query_one("#kind-fields", Vertical)
        await box.remove_children()
        if not isinstance(event.value, str):
            return
        rows = []
        for fid, label, placeholder in KIND_FIELDS[SCHEMES[event.value]]:
            rows.append(
                Horizontal(
                    Label(label, classes="field-label"),
                    Input(
                        placeholder=placeholder,
                        id=f"k-{fid}",
                        classes="kind-field",
                        password=fid == "password",
                        compact=True,
                    ),
                    classes="field-row",
                )
            )
        await box.mount_all(rows)
        self._emit()

    @on(Input.Changed, ".kind-field")
    def _field_changed(self, event: Input.Changed) -> None:
        event.stop()  # the form validates its own fields; these only write the spec
        self._emit()

    def values(self) -> dict[str, str]:
        return {(w.id or "")[2:]: w.value for w in self.query(".kind-field").results(Input)}

    def _emit(self) -> None:
        scheme = self.query_one("#f-kind", Select).value
        if isinstance(scheme, str):
            self.post_message(self.Built(build_spec(scheme, self.values())))
