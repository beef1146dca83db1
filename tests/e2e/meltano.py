"""Run the project's Meltano (``.venv/bin/meltano``) as a user would, isolated per test.

Each :class:`MeltanoRunner` has its own system database (state backend) and run directory in
a temp dir, so tests never see each other's bookmarks or run files (and can run while others
use the project); the installed plugins are the project's ``.meltano/`` ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MELTANO = Path(sys.executable).with_name("meltano")
EXTRACTOR = "tap-genesys-analytics"
PLUGIN_EXECUTABLES = (
    PROJECT_ROOT / ".meltano/extractors/tap-genesys-analytics/venv/bin/tap-genesys-analytics",
    PROJECT_ROOT / ".meltano/loaders/target-postgres/venv/bin/target-postgres",
    PROJECT_ROOT / ".meltano/loaders/target-duckdb/venv/bin/target-duckdb",
)
_OWN_PREFIXES = ("TAP_GENESYS_ANALYTICS_", "TARGET_POSTGRES_", "TARGET_DUCKDB_", "MELTANO_")


class MeltanoError(AssertionError):
    """A meltano command failed; the message carries its output tail."""


def ensure_plugins_installed() -> None:
    """``meltano install`` when a plugin executable is missing (``make test`` does it first)."""
    if all(p.exists() for p in PLUGIN_EXECUTABLES):
        return
    proc = subprocess.run(
        [str(MELTANO), "install"],
        cwd=PROJECT_ROOT,
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    missing = [str(p) for p in PLUGIN_EXECUTABLES if not p.exists()]
    if proc.returncode != 0 or missing:
        raise MeltanoError(
            f"meltano install failed (exit {proc.returncode}); missing {missing}:\n"
            + _tail(proc.stdout + proc.stderr)
        )


def private_sys_dir(root: Path) -> Path:
    """A Meltano system dir of one's own: the project's installed plugins, a private ``run/``.

    Meltano writes each run's config, catalog and state files to ``<sys dir>/run/<plugin>/``;
    concurrent runs sharing the project's ``.meltano`` would overwrite each other's files.
    """
    (root / "run").mkdir(parents=True, exist_ok=True)
    for name in ("extractors", "loaders"):
        link = root / name
        if not link.exists():
            link.symlink_to(PROJECT_ROOT / ".meltano" / name)
    return root


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    env["PATH"] = f"{MELTANO.parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


@dataclass
class MeltanoRunner:
    """Runs meltano in the project with a private system database and extra env vars."""

    workdir: Path
    environment: str = "dev"
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sys_dir = private_sys_dir(self.workdir / "sys")

    def full_env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = base_env()
        env["MELTANO_SYS_DIR_ROOT"] = str(self.sys_dir)
        env["MELTANO_DATABASE_URI"] = f"sqlite:///{self.workdir / 'meltano.db'}"
        env.update(self.env)
        env.update(extra or {})
        return env

    def run(
        self, *args: str, extra_env: dict[str, str] | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """``meltano --environment=<env> <args>``; raises MeltanoError on a non-zero exit."""
        cmd = [str(MELTANO), f"--environment={self.environment}", *args]
        proc = subprocess.run(
            cmd,
            cwd=PROJECT_ROOT,
            env=self.full_env(extra_env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        (self.workdir / "last-run.log").write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            raise MeltanoError(
                f"`meltano {' '.join(args)}` exited {proc.returncode}:\n"
                + _tail(proc.stdout + proc.stderr)
            )
        return proc

    def state_id(self, loader: str, suffix: str | None = None) -> str:
        base = f"{self.environment}:{EXTRACTOR}-to-{loader}"
        return f"{base}:{suffix}" if suffix else base

    def state(self, state_id: str) -> dict[str, Any]:
        """``meltano state get <state_id>`` parsed as JSON."""
        out = self.run("state", "get", state_id).stdout.strip()
        start = out.find("{")
        if start < 0:
            raise MeltanoError(f"`meltano state get {state_id}` printed no JSON: {out[-500:]!r}")
        return dict(json.loads(out[start:]))


def bookmark_of(state: dict[str, Any], stream: str = "conversation_details") -> str | None:
    """The stream's replication_key_value in a Meltano state payload (or None)."""
    bookmarks = state.get("singer_state", state).get("bookmarks", {})
    value = bookmarks.get(stream, {}).get("replication_key_value")
    return str(value) if value is not None else None
