"""The pure part of ``--preflight``: what the probes found, the verdict and its two forms.

:class:`Report` holds the checks (one per endpoint the selected streams need) and the measured
limits; it decides the exit code (0 when every selected stream can run, 2 otherwise: no token,
or an endpoint a stream needs answered 403, 404 or failed; a check not made is shown, not
counted), the settings to copy into the config, the readable table and the JSON document.
No I/O; :mod:`~tap_genesys_analytics.preflight` sends the probes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tap_genesys_analytics.settings import BY_NAME

OK, FORBIDDEN, MISSING, FAILED, UNCHECKED = "ok", "forbidden", "missing", "failed", "not checked"


@dataclass(frozen=True)
class Endpoint:
    """One API endpoint a stream needs, and the permission it takes."""

    method: str
    path: str
    permission: str

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class Check:
    """What one endpoint answered to its minimal request."""

    result: str = UNCHECKED
    detail: str = ""


@dataclass
class Limit:
    """One measured limit: the value (None: not measured) and how it was found."""

    value: float | None = None
    note: str = ""


@dataclass
class Report:
    """Everything a preflight found (pure: decides the exit code, renders table and JSON)."""

    api_url: str
    login_url: str
    region: str
    streams: dict[str, list[Endpoint]]
    checks: dict[Endpoint, Check] = field(default_factory=dict)
    token: str = UNCHECKED  # "ok" or the one-line error
    limits: dict[str, Limit] = field(default_factory=dict)
    rate_limit: dict[str, float] = field(default_factory=dict)  # the last inin-ratelimit-*
    requests: int = 0
    elapsed_s: float = 0.0

    def blocked(self) -> dict[str, list[tuple[Endpoint, Check]]]:
        """Streams that cannot run, with the failed checks (no token: every stream)."""
        out: dict[str, list[tuple[Endpoint, Check]]] = {}
        for stream, endpoints in self.streams.items():
            bad = [(e, self.checks.get(e, Check())) for e in endpoints]
            bad = [
                (e, c)
                for e, c in bad
                if c.result in (FORBIDDEN, MISSING, FAILED) or self.token != OK
            ]
            if bad:
                out[stream] = bad
        return out

    @property
    def exit_code(self) -> int:
        """0 when every selected stream can run, 2 otherwise."""
        return 2 if self.blocked() or self.token != OK else 0

    def suggested_settings(self) -> dict[str, int]:
        """Settings to copy into the config, from what this org answered (within bounds)."""
        out: dict[str, int] = {}
        for setting, limit in (
            ("page_size", "details_page_size_max"),
            ("job_page_size", "jobs_results_page_size_max"),
        ):
            value = self.limits.get(limit, Limit()).value
            if value is not None:
                out[setting] = min(int(value), BY_NAME[setting].type.to_dict()["maximum"])
        allowed = self.rate_limit.get("allowed")
        if allowed:
            out["requests_per_minute"] = int(allowed)
        return out

    def as_dict(self) -> dict[str, Any]:
        """The machine-readable document (``--format json``)."""
        blocked = self.blocked()
        return {
            "ok": self.exit_code == 0,
            "api_url": self.api_url,
            "login_url": self.login_url,
            "region": self.region,
            "token": self.token,
            "streams": {
                name: {
                    "ok": name not in blocked,
                    "endpoints": [
                        {
                            "endpoint": str(e),
                            "permission": e.permission,
                            "result": self.checks.get(e, Check()).result,
                            "detail": self.checks.get(e, Check()).detail,
                        }
                        for e in endpoints
                    ],
                }
                for name, endpoints in self.streams.items()
            },
            "limits": {k: {"value": v.value, "note": v.note} for k, v in self.limits.items()},
            "rate_limit": self.rate_limit,
            "suggested_settings": self.suggested_settings(),
            "requests": self.requests,
            "elapsed_s": round(self.elapsed_s, 2),
        }

    def table(self) -> str:
        """The readable report: endpoints (with the streams needing them), limits, verdict."""
        lines = [
            f"API {self.api_url}   login {self.login_url}   region {self.region}",
            f"token: {self.token}",
            "",
            f"{'ENDPOINT':<62} {'PERMISSION':<36} RESULT",
        ]
        for endpoint, check in self.checks.items():
            result = check.result.upper() if check.result != OK else OK
            shown = check.detail and check.result != FORBIDDEN  # the verdict names the grant
            detail = f" ({check.detail[:100]})" if shown else ""
            lines.append(f"{endpoint!s:<62} {endpoint.permission:<36} {result}{detail}")
        lines += ["", f"{'LIMIT':<32} {'VALUE':<10} HOW"]
        for key, limit in self.limits.items():
            value = "-" if limit.value is None else f"{limit.value:g}"
            lines.append(f"{key:<32} {value:<10} {limit.note}")
        if self.rate_limit:
            rate = ", ".join(f"{k} {v:g}" for k, v in self.rate_limit.items())
            lines.append(f"{'rate_limit (inin-ratelimit-*)':<32} {rate}")
        settings = self.suggested_settings()
        lines += [
            "",
            "Settings to copy into your config (measured on this org, not stored): "
            + (json.dumps(settings) if settings else "none measured"),
            f"{self.requests} requests in {self.elapsed_s:.1f} s",
            "",
        ]
        blocked = self.blocked()
        if self.token != OK:
            lines.append(
                f"RESULT: no stream can run without a token ({len(self.streams)} selected)"
            )
        elif blocked:
            lines.append(
                f"RESULT: {len(blocked)} of {len(self.streams)} selected streams cannot run:"
            )
            for name, failures in blocked.items():
                for endpoint, check in failures:
                    why = (
                        f"403, grant the permission {endpoint.permission}"
                        if check.result == FORBIDDEN
                        else check.result
                    )
                    lines.append(f"  {name}: {endpoint}: {why}")
        else:
            lines.append(f"RESULT: all {len(self.streams)} selected streams can run")
        return "\n".join(lines)


def render(report: Report, as_json: bool) -> str:
    """The report as a table or JSON. Every text from a response or an error in it already
    went through the run's Redactor when it was recorded (no pass over the whole text: the
    Redactor's ``Authorization:`` pattern would eat permission names such as
    ``authorization:division:view``)."""
    return json.dumps(report.as_dict(), indent=2) if as_json else report.table()
