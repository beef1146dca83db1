"""Keep meltano.yml's extractor and the Meltano Hub definition in step with the tap.

The tap's settings schema (`tap-genesys-analytics --about --format=json`) is the single source
of setting names, descriptions, required-ness and secrecy. This script renders them as Meltano
settings (label, kind, description, default, `sensitive`) into

- `meltano.yml` (plugins.extractors[tap-genesys-analytics]: capabilities + settings), and
- `hub/tap-genesys-analytics.yml` (Meltano Hub extractor definition),
- README.md's settings table (from `--about --format=markdown`),

and with `--check` only reports drift (exit 1), which a test runs.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

ROOT = Path(__file__).resolve().parents[1]
MELTANO_YML = ROOT / "meltano.yml"
HUB_FILE = ROOT / "hub" / "tap-genesys-analytics.yml"
README = ROOT / "README.md"
TABLE_START = "<!-- settings-table:start -->"
TABLE_END = "<!-- settings-table:end -->"
EXTRACTOR = "tap-genesys-analytics"
REPO = "https://github.com/tap-genesys-analytics/tap-genesys-analytics"

#: Capabilities Meltano should use (a subset of what --about lists).
CAPABILITIES = ["about", "catalog", "discover", "state", "stream-maps", "schema-flattening"]
#: SDK settings that need an optional extra this plugin does not install.
SKIPPED = {"faker_config"}
LABELS = {
    "client_id": "OAuth client ID",
    "client_secret": "OAuth client secret",
    "region": "Region",
    "api_url": "API base URL (override)",
    "login_url": "Login base URL (override)",
    "start_date": "Start date",
    "end_date": "End date",
    "page_size": "Page size",
    "window_size": "Window size",
    "lookback": "Lookback",
    "settle_lag": "Settle lag",
    "open_conversation_horizon": "Open conversation horizon",
    "media_types": "Media types",
    "segment_filters": "Segment filters",
    "conversation_filters": "Conversation filters",
    "request_timeout": "Request timeout (s)",
    "max_retries": "Max retries",
    "max_concurrency": "Max concurrency",
    "requests_per_minute": "Requests per minute",
    "max_response_mb": "Max response size (MB)",
    "stream_maps": "Stream maps",
    "stream_map_config": "Stream map config",
    "flattening_enabled": "Enable schema flattening",
    "flattening_max_depth": "Max flattening depth",
    "flattening_max_key_length": "Max flattened key length",
    "flattening_separator": "Flattening separator",
    "batch_config": "Batch config",
}
DATE_SETTINGS = {"start_date", "end_date"}
KINDS = {
    "string": "string",
    "integer": "integer",
    "number": "decimal",
    "boolean": "boolean",
    "array": "array",
    "object": "object",
}


def about(fmt: str = "json") -> str:
    exe = Path(sys.executable).with_name(EXTRACTOR)
    return subprocess.run(
        [str(exe), "--about", f"--format={fmt}"], capture_output=True, text=True, check=True
    ).stdout


def meltano_settings(info: dict[str, Any]) -> list[dict[str, Any]]:
    """Meltano setting definitions for every tap setting (in the tap's order)."""
    result = []
    for name, prop in info["settings"]["properties"].items():
        if name in SKIPPED:
            continue
        types = prop.get("type", ["string"])
        types = [types] if isinstance(types, str) else types
        # A number that may also be numeric text (request_timeout) is a Meltano `string`:
        # `decimal` cannot be serialised when read from an env var (Meltano 4.4: Decimal is
        # not JSON serializable), `integer` refuses `meltano config set ... 30.5`; a string
        # reaches the tap as typed, and the tap reads "30.5" as a number.
        json_type = "string" if "string" in types else next(t for t in types if t != "null")
        setting: dict[str, Any] = {
            "name": name,
            "label": LABELS.get(name, name.replace("_", " ").capitalize()),
            "kind": "date_iso8601" if name in DATE_SETTINGS else KINDS[json_type],
            "description": " ".join(str(prop.get("description", "")).split()),
        }
        if prop.get("default") is not None:
            setting["value"] = prop["default"]
        if prop.get("secret"):
            setting["sensitive"] = True
        result.append(setting)
    return result


def stream_selection() -> list[str]:
    """Meltano ``select`` rules: every stream of the tap, one line each (delete lines to
    extract a subset; ``meltano select --list --all`` shows them)."""
    from tap_genesys_analytics.streams import STREAM_CLASSES

    return [f"{getattr(cls, 'name')}.*" for cls in STREAM_CLASSES]  # noqa: B009


def hub_definition(info: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": EXTRACTOR,
        "namespace": "tap_genesys_analytics",
        "variant": "tap-genesys-analytics",
        "label": "Genesys Cloud Analytics",
        "description": "Genesys Cloud analytics: conversation details and their normalized "
        "tables, agent status history, and the reference tables that name the ids",
        "logo_url": "/assets/logos/extractors/genesys.png",
        "domain_url": "https://developer.genesys.cloud/analyticsdatamanagement/analytics/detail/",
        "repo": REPO,
        "docs": f"{REPO}#readme",
        "pip_url": EXTRACTOR,  # the PyPI distribution (pyproject name)
        "executable": EXTRACTOR,
        "maintenance_status": "active",
        "keywords": ["meltano_sdk", "genesys", "purecloud", "contact-center"],
        "capabilities": CAPABILITIES,
        "settings_group_validation": [sorted(info["settings"].get("required", []))],
        "settings": meltano_settings(info),
        "select": stream_selection(),
    }


def _yaml() -> YAML:
    yaml = YAML()
    yaml.indent(mapping=2, sequence=2, offset=0)
    yaml.width = 100
    return yaml


def render_meltano_yml(info: dict[str, Any]) -> str:
    yaml = _yaml()
    doc = yaml.load(MELTANO_YML.read_text())
    extractor = next(p for p in doc["plugins"]["extractors"] if p["name"] == EXTRACTOR)
    extractor["capabilities"] = CAPABILITIES
    extractor["settings_group_validation"] = [sorted(info["settings"].get("required", []))]
    extractor["settings"] = [CommentedMap(s) for s in meltano_settings(info)]
    extractor["select"] = stream_selection()
    buf = io.StringIO()
    yaml.dump(doc, buf)
    return buf.getvalue()


def render_hub(info: dict[str, Any]) -> str:
    buf = io.StringIO()
    buf.write("# Meltano Hub extractor definition (generated by scripts/plugin_definitions.py)\n")
    _yaml().dump(hub_definition(info), buf)
    return buf.getvalue()


def _escape_description(row: str) -> str:
    """Escape `|` inside the last (description) cell so the table keeps four columns."""
    cells = row.strip().strip("|").split("|")
    if len(cells) <= 4:
        return row
    description = "\\|".join(cells[3:])
    return "|" + "|".join(cells[:3]) + "|" + description + "|"


def render_readme(markdown: str) -> str:
    """README.md with the settings table replaced by the tap's own (SKIPPED rows left out)."""
    section = markdown[markdown.index("## Settings") :]
    rows = [
        _escape_description(line)
        for line in section.splitlines()
        if line.startswith("|") and line.split("|")[1].strip().split(".")[0] not in SKIPPED
    ]
    text = README.read_text()
    head, rest = text.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    return f"{head}{TABLE_START}\n" + "\n".join(rows) + f"\n{TABLE_END}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report drift, write nothing")
    args = parser.parse_args()
    info = json.loads(about("json"))
    wanted = {
        MELTANO_YML: render_meltano_yml(info),
        HUB_FILE: render_hub(info),
        README: render_readme(about("markdown")),
    }
    drift = [p for p, text in wanted.items() if not p.exists() or p.read_text() != text]
    if args.check:
        for path in drift:
            print(f"{path.relative_to(ROOT)} is out of date: run scripts/plugin_definitions.py")
        return 1 if drift else 0
    for path in drift:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(wanted[path])
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
