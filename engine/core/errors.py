"""Errors a user can cause. They carry a sentence saying what is wrong and how to fix it."""

from __future__ import annotations


class SysAlertError(Exception):
    """Base for every error we expect and explain; never shown as a traceback."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class BadInput(SysAlertError):
    """Bad user input: a spec, a duration, a config value, an API body. Exit code 2."""

    exit_code = 2


class ConfigError(BadInput):
    """A config file that does not parse or validate; names file, line and key."""


class KeyError_(SysAlertError):
    """Missing or wrong master key."""

    exit_code = 2


class NotFound(BadInput):
    """A target, incident or contact the user named does not exist."""


class QuotaExceeded(BadInput):
    """An owner is over a quota; says which limit and the current use."""


class StoreBusy(SysAlertError):
    """Another daemon holds the store's single-instance lock."""
