"""The README's "Using the tap in your own Meltano project", done in a scratch Meltano project.

A new project (`meltano init`) adds the extractor from this repository's Hub definition with
`--from-ref`, points its ``pip_url`` at this checkout (the Hub file names a PyPI release that does
not exist yet), installs it, and runs it against the simulator into DuckDB with every setting
from ``TAP_GENESYS_ANALYTICS_*`` env vars. The loaded rows must be the simulator's conversations.

The loader is added from a local definition (this project's target-duckdb, pinned as in
meltano.yml) because the test runs offline, without Meltano Hub. Installing both plugins into
fresh virtual envs takes a minute or two.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from tests.e2e.meltano import PROJECT_ROOT, base_env, bookmark_of

pytestmark = pytest.mark.e2e

HUB_FILE = PROJECT_ROOT / "hub" / "tap-genesys-analytics.yml"
README = PROJECT_ROOT / "README.md"
CHECKOUT = "/path/to/tap-genesys-analytics"  # the README's placeholder for this checkout

# The README's commands, with CHECKOUT standing for this repository's path.
README_ADD_EXTRACTOR = (
    f"meltano add --plugin-type extractor tap-genesys-analytics"
    f" --from-ref {CHECKOUT}/hub/tap-genesys-analytics.yml --no-install"
)
README_SET_PIP_URL = f"sed -i 's|pip_url: tap-genesys-analytics$|pip_url: {CHECKOUT}|' meltano.yml"
README_INSTALL = "meltano install tap-genesys-analytics"


def run(cmd: str, cwd: Path, env: dict[str, str], timeout: float = 900) -> str:
    """One shell command as a user types it; its stdout, or the test fails with its output tail."""
    proc = subprocess.run(
        ["bash", "-c", cmd],  # `meltano` is the project's .venv/bin/meltano (first on PATH)
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"`{cmd}` exited {proc.returncode}:\n{output[-4000:]}"
    return proc.stdout


def loader_definition() -> dict[str, Any]:
    """This project's target-duckdb plugin definition (pip_url keeps the duckdb pin)."""
    doc = yaml.safe_load((PROJECT_ROOT / "meltano.yml").read_text())
    return dict(next(p for p in doc["plugins"]["loaders"] if p["name"] == "target-duckdb"))


def test_readme_shows_the_commands_this_test_runs() -> None:
    readme = README.read_text()
    for command in (README_ADD_EXTRACTOR, README_SET_PIP_URL, README_INSTALL):
        assert command in readme, f"README no longer shows `{command}`"


def test_a_new_meltano_project_installs_the_tap_from_this_checkout_and_loads_the_simulator(
    genesys_sim: Any, tmp_path: Path
) -> None:
    env = base_env()
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    run("meltano init --no-usage-stats my-project", cwd=tmp_path, env=env)
    project = tmp_path / "my-project"

    checkout = str(PROJECT_ROOT)
    run(README_ADD_EXTRACTOR.replace(CHECKOUT, checkout), cwd=project, env=env)
    run(README_SET_PIP_URL.replace(CHECKOUT, checkout), cwd=project, env=env)
    plugins = yaml.safe_load((project / "meltano.yml").read_text())["plugins"]
    assert set(plugins) == {"extractors"}, plugins  # `meltano add extractor ...` adds a utility too
    extractor = plugins["extractors"][0]
    assert extractor["pip_url"] == checkout
    declared = {s["name"] for s in extractor["settings"]}
    assert {"client_id", "client_secret", "api_url", "login_url", "start_date"} <= declared

    loader_ref = tmp_path / "target-duckdb.yml"
    loader_ref.write_text(yaml.safe_dump(loader_definition()))
    run(
        f"meltano add --plugin-type loader target-duckdb --from-ref {loader_ref} --no-install",
        cwd=project,
        env=env,
    )
    run(README_INSTALL, cwd=project, env=env)
    # the conversations only (the tap's other streams are not what this test is about)
    run("meltano select tap-genesys-analytics conversation_details '*'", cwd=project, env=env)
    run("meltano install target-duckdb", cwd=project, env=env)
    tap_bin = project / ".meltano/extractors/tap-genesys-analytics/venv/bin/tap-genesys-analytics"
    assert tap_bin.exists(), "the extractor was not installed into the new project"

    sim = genesys_sim(
        seed=7,
        conversations_per_day=40,
        data_start="2024-05-01T00:00:00Z",
        now="2024-05-04T00:00:00Z",
    )
    warehouse = tmp_path / "warehouse.duckdb"
    run_env = {
        **env,
        "TAP_GENESYS_ANALYTICS_CLIENT_ID": "sim-client",
        "TAP_GENESYS_ANALYTICS_CLIENT_SECRET": "sim-secret",
        "TAP_GENESYS_ANALYTICS_API_URL": sim.base_url,
        "TAP_GENESYS_ANALYTICS_START_DATE": "2024-05-01T00:00:00Z",
        "TAP_GENESYS_ANALYTICS_END_DATE": "2024-05-04T00:00:00Z",
        "TARGET_DUCKDB_FILEPATH": str(warehouse),
    }
    run("meltano run tap-genesys-analytics target-duckdb", cwd=project, env=run_env)

    expected = set(sim.ground_truth_ids("2024-05-01T00:00:00Z", "2024-05-04T00:00:00Z"))
    assert len(expected) > 60
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute("SELECT conversationid FROM genesys.conversation_details").fetchall()
    loaded = [str(r[0]) for r in rows]
    assert len(loaded) == len(set(loaded)) == len(expected)
    assert set(loaded) == expected

    out = run("meltano state get dev:tap-genesys-analytics-to-target-duckdb", cwd=project, env=env)
    state, _ = json.JSONDecoder().raw_decode(out[out.index("{") :])
    bookmark = bookmark_of(state)
    assert bookmark is not None, state
    assert "2024-05-01" <= bookmark[:10] <= "2024-05-04", state
