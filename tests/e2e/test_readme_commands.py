"""The README's shell snippets work as written, in a fresh copy of the project.

Each test copies ``meltano.yml`` into a temp dir (a fresh clone: no ``output/``, no ``.env``),
links the project's ``.venv`` and installed plugins there, and runs the snippet's lines with bash.
Only scaffolding is added: a free port instead of 8080, a wait until the simulator listens, and
a note of the simulator's ground truth before it is stopped.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import duckdb
import pytest

from tests.e2e.meltano import PROJECT_ROOT, base_env, private_sys_dir

pytestmark = pytest.mark.e2e

README = (PROJECT_ROOT / "README.md").read_text()


def bash_block_after(marker: str) -> list[str]:
    """The lines of the first ```bash block after ``marker`` in the README."""
    start = README.index(marker)
    match = re.compile(r"```bash\n(.*?)```", re.S).search(README, start)
    assert match, f"no bash block after {marker!r}"
    return match.group(1).strip().splitlines()


def fresh_project(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the Meltano project as a clone has it, and the env to run Meltano there."""
    project = tmp_path / "clone"
    project.mkdir()
    (project / "meltano.yml").write_text((PROJECT_ROOT / "meltano.yml").read_text())
    (project / ".venv").symlink_to(PROJECT_ROOT / ".venv")
    env = base_env()
    env["MELTANO_SYS_DIR_ROOT"] = str(private_sys_dir(project / ".meltano"))
    env["MELTANO_DATABASE_URI"] = f"sqlite:///{tmp_path / 'meltano.db'}"
    return project, env


def run_bash(lines: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run lines under ``bash -e``; on a timeout the whole process group (simulator too) ends."""
    script = "set -e\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + "\n".join(lines)
    proc = subprocess.Popen(
        ["bash", "-c", script],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"README snippet timed out:\n{out[-4000:]}")
    assert proc.returncode == 0, f"README snippet exited {proc.returncode}:\n{out[-4000:]}"
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_pointing_a_pipeline_at_the_simulator_by_hand_works_on_a_fresh_clone(
    meltano_plugins: None, tmp_path: Path
) -> None:
    lines = bash_block_after("To point any pipeline at the simulator by hand")
    assert any(line.startswith("mkdir -p output") for line in lines)
    assert lines[-1].startswith("kill %1")
    project, env = fresh_project(tmp_path)
    port = str(free_port())
    truth = tmp_path / "ground_truth.json"
    script: list[str] = []
    for readme_line in lines:
        line = readme_line.replace("8080", port)
        if line.startswith("kill %1"):  # scaffolding: the simulator's answer, before it stops
            script.append(
                "python -c 'import json, sys, urllib.request as u; "
                f'r = u.Request("http://127.0.0.1:{port}/_sim/ground_truth", '
                'data=json.dumps({"start": "2024-05-01T00:00:00Z", '
                '"end": "2024-05-08T00:00:00Z", "idsOnly": True}).encode(), '
                'headers={"Content-Type": "application/json"}); '
                f'open(sys.argv[1], "w").write(u.urlopen(r).read().decode())\' {truth}'
            )
        script.append(line)
        if line.startswith("genesys-sim serve"):  # scaffolding: wait until it listens (<= 10 s)
            script.append(
                "for _ in $(seq 100); do "
                f"(exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && break; sleep 0.1; done"
            )
    assert not (project / "output").exists()
    run_bash(script, project, env)

    expected = set(json.loads(truth.read_text())["conversationIds"])
    assert len(expected) > 1000  # 7 days at the CLI's default volume
    warehouse = project / "output" / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute("SELECT conversationid FROM genesys.conversation_details").fetchall()
    loaded = [str(r[0]) for r in rows]
    assert len(loaded) == len(set(loaded)) == len(expected)
    assert set(loaded) == expected


def test_configuring_a_real_org_as_the_readme_says_leaves_meltano_yml_alone(
    meltano_plugins: None, tmp_path: Path
) -> None:
    lines = bash_block_after("3. Configure and run.")
    setup = [line for line in lines if not line.startswith("meltano run")]
    assert sum(line.startswith("meltano config set --store=dotenv") for line in setup) >= 5
    project, env = fresh_project(tmp_path)
    env["GENESYS_SECRET"] = "s3cr3t-from-the-readme-test"
    before = (project / "meltano.yml").read_bytes()

    out = run_bash(setup, project, env)

    assert (project / "meltano.yml").read_bytes() == before, "the README's steps edit meltano.yml"
    dotenv = (project / ".env").read_text()
    for name, value in (
        ("TAP_GENESYS_ANALYTICS_CLIENT_ID", "1234abcd-..."),
        ("TAP_GENESYS_ANALYTICS_CLIENT_SECRET", "s3cr3t-from-the-readme-test"),
        ("TAP_GENESYS_ANALYTICS_REGION", "eu-west-1"),
        ("TAP_GENESYS_ANALYTICS_START_DATE", "2024-01-01"),
        ("TARGET_POSTGRES_HOST", "db.internal"),
    ):
        assert re.search(rf"^{name}=['\"]?{re.escape(value)}['\"]?$", dotenv, re.M), dotenv
    printed_json = re.search(r"^\{$.*?^\}$", out, re.S | re.M)  # `meltano config print`
    assert printed_json, out[-2000:]
    printed = json.loads(printed_json.group(0))
    assert printed.get("region") == "eu-west-1", out[-2000:]
    assert printed.get("start_date", "").startswith("2024-01-01"), out[-2000:]
    assert "s3cr3t-from-the-readme-test" not in out  # `config print` masks the secret
    assert (PROJECT_ROOT / ".gitignore").read_text().splitlines().count(".env") == 1
