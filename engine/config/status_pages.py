"""Public status pages declared in the config file ([[status_pages]]): a slug, a title and the
targets (by name and/or tag) the page shows. Only what a page lists is ever public, so every
entry is checked at load, each error pointing at its own line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, field_validator, model_validator

from engine.config.locate import locate
from engine.config.sections import Section
from engine.core.errors import BadInput, ConfigError
from engine.core.limits import check_name

if TYPE_CHECKING:
    from engine.config.settings import Settings

SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
TITLE_MAX = 120


class StatusPageDecl(Section):
    """One page at /status/<slug>: the listed targets by name, plus every target with a listed
    tag. Names that match no target are simply not shown (a target may be added later)."""

    slug: str
    title: str = ""
    targets: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)

    @field_validator("slug")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not SLUG.fullmatch(v):
            raise ValueError(
                "a slug is 1 to 63 lower-case letters, digits and dashes, starting with a letter "
                'or digit (it is the page\'s URL: /status/<slug>), e.g. "public"'
            )
        return v

    @field_validator("title")
    @classmethod
    def _title(cls, v: str) -> str:
        if len(v) > TITLE_MAX or any(ord(c) < 32 for c in v):
            raise ValueError(f"a title is one line of at most {TITLE_MAX} characters")
        return v

    @field_validator("targets")
    @classmethod
    def _targets(cls, v: list[str]) -> list[str]:
        for name in v:
            try:
                check_name(name, "target")
            except BadInput as exc:
                raise ValueError(
                    f"{exc.message}; list target names as `sysalert target list` shows them"
                ) from None
        return v

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        for tag in v:
            if not tag.strip() or len(tag) > 64:
                raise ValueError("a tag is 1 to 64 characters, as given to `target add --tags`")
        return v

    @model_validator(mode="after")
    def _something(self) -> StatusPageDecl:
        if not self.targets and not self.tags:
            raise ValueError(
                'a status page lists what it shows: set targets = ["name", ...] and/or '
                'tags = ["tag", ...]'
            )
        return self

    def shows(self, name: str, tags: list[str]) -> bool:
        return name in self.targets or any(t in self.tags for t in tags)


def check_unique_slugs(settings: Settings, path: Path, text: str) -> None:
    """Two pages with one slug: the second would never be served; say which lines."""
    seen: dict[str, int] = {}
    for i, page in enumerate(settings.status_pages):
        if page.slug in seen:
            line = locate(text, ("status_pages", i, "slug"))
            raise ConfigError(
                f"{path}:{line}: status_pages[{i}].slug = {page.slug!r} is already used by "
                f"status_pages[{seen[page.slug]}]",
                "give every status page its own slug",
            )
        seen[page.slug] = i


def find_page(settings: Settings, slug: str) -> StatusPageDecl | None:
    return next((p for p in settings.status_pages if p.slug == slug), None)
