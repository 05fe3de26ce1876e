"""Checks on a config file before and after it is parsed: that it is a readable text file of
sane depth, where a key sits (`file:line`), and that its database URL is one SysAlert supports."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.config.locate import locate
from engine.core.errors import ConfigError

ENV_DATABASE_URL = "SYSALERT_DATABASE_URL"


# Deeper than any config needs, far below the recursion limit of what reads it later.
MAX_DEPTH = 32


def read_text(path: Path) -> str:
    """The file as UTF-8 text; a directory, an unreadable or a binary file is one line."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise ConfigError(
            f"config {path} is a directory, not a file",
            "point --config or SYSALERT_CONFIG at the TOML file, e.g. DIR/config.toml",
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"config {path} cannot be read: {exc.strerror or type(exc).__name__}",
            "check the path and its permissions",
        ) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config {path} is not a text file (not UTF-8 at byte {exc.start})",
            "point --config or SYSALERT_CONFIG at the TOML config",
        ) from None


def parse_toml(text: str, where: Path | str) -> dict[str, Any]:
    """TOML text (a config file, or targets to import) as a table; a syntax error or nesting
    deeper than MAX_DEPTH is one ConfigError naming `where` (tomllib recurses once per level,
    so thousands of brackets would otherwise be a RecursionError)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{where}: TOML syntax error: {exc}", "fix the line and column shown"
        ) from None
    except RecursionError:
        raise ConfigError(
            f"{where}: arrays or tables nested too deeply to read",
            f"a config needs no more than {MAX_DEPTH} levels",
        ) from None
    check_depth(raw, where)
    return raw


def check_depth(raw: Any, path: Path | str) -> None:
    stack: list[tuple[Any, int]] = [(raw, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ConfigError(
                f"{path}: arrays or tables nested deeper than {MAX_DEPTH} levels",
                "flatten the value; no key here takes that many levels",
            )
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def is_default_place(path: Path, data_dir: Path) -> bool:
    return path.expanduser().resolve() == (data_dir.expanduser() / "config.toml").resolve()


def config_where(path: Path | None, text: str | None, loc: tuple[str | int, ...]) -> str:
    """`file:line` of a key (just `file` when the line is not found); reads the file if no text."""
    if path is None:
        return "config"
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
    line = locate(text, loc)
    return f"{path}:{line}" if line else str(path)


DATABASE_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg")


def check_database_url(url: str, path: Path, text: str, env: Mapping[str, str]) -> None:
    """Only the stores SysAlert is built and tested for; the URL itself is never repeated (it may
    hold a password and a host)."""
    if not url:
        return
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in DATABASE_SCHEMES:
        return
    origin = (
        ENV_DATABASE_URL
        if env.get(ENV_DATABASE_URL)
        else config_where(path, text, ("general", "database_url"))
    )
    shown = f"scheme {scheme!r}" if scheme and len(scheme) < 40 else "a URL without a scheme"
    raise ConfigError(
        f"{origin}: database_url has {shown}, which SysAlert does not support",
        f"supported: {', '.join(DATABASE_SCHEMES)}; "
        "e.g. sqlite:///path/to/sysalert.db or postgresql+psycopg://user@host/db",
    )
