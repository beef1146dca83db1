"""Every error the tap raises on purpose: one home, one line each, one exit code each.

The error boundary in ``cli.py`` turns a :class:`TapError` into one stderr line
``tap-genesys-analytics: <label>: <message>`` and ``exit_code``; anything else is a bug and
keeps its traceback. Messages are built already redacted (``http.Redactor``) and on one line.
"""

from __future__ import annotations


class TapError(Exception):
    """Base of the tap's own errors; ``str(e)`` is one line without secrets."""

    label = "error"
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class ConfigError(TapError):
    """A setting (or the state/catalog file) is missing or invalid: "<setting>: <problem>"."""

    label = "config error"
    exit_code = 2

    def __init__(self, setting: str, problem: str | None = None) -> None:
        if problem is None:  # ConfigError("page_size: must be ...") works too
            setting, _, problem = setting.partition(": ")
        self.setting = setting
        self.problem = " ".join(problem.split())
        super().__init__(f"{setting}: {self.problem}")


class AuthError(TapError):
    """No access token could be had (credentials rejected, token endpoint unreachable)."""

    label = "authentication error"


class GenesysAPIError(TapError):
    """A request to the API failed for good (after the retry policy)."""

    label = "API error"


class ExtractError(TapError):
    """Extraction cannot go on without losing data (malformed page, unsplittable window, gap)."""

    label = "extraction error"


class StoppedError(TapError):
    """The run was stopped (signal or a failure elsewhere) while this work waited."""

    label = "stopped"
