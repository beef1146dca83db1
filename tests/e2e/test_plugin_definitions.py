"""meltano.yml and the Meltano Hub definition describe the tap as it is, and Meltano reads them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.e2e.meltano import MELTANO, PROJECT_ROOT, MeltanoRunner

SCRIPT = PROJECT_ROOT / "scripts" / "plugin_definitions.py"


def _extractor() -> dict:
    doc = yaml.safe_load((PROJECT_ROOT / "meltano.yml").read_text())
    return next(p for p in doc["plugins"]["extractors"] if p["name"] == "tap-genesys-analytics")


def test_meltano_yml_hub_file_and_readme_table_match_the_taps_settings() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_extractor_setting_has_label_description_and_kind() -> None:
    settings = _extractor()["settings"]
    assert {s["name"] for s in settings} >= {
        "client_id", "client_secret", "region", "api_url", "login_url", "start_date",
        "end_date", "page_size", "window_size", "lookback", "media_types", "segment_filters",
        "conversation_filters",
    }  # fmt: skip
    for setting in settings:
        assert setting.get("label") and setting.get("description") and setting.get("kind"), setting
    sensitive = {s["name"] for s in settings if s.get("sensitive")}
    assert sensitive == {"client_secret"}


def test_meltano_4_conventions() -> None:
    doc = yaml.safe_load((PROJECT_ROOT / "meltano.yml").read_text())
    assert "version" not in doc
    assert doc["default_environment"] == "dev"
    assert {e["name"] for e in doc["environments"]} == {"dev", "demo"}
    extractor = _extractor()
    assert extractor["namespace"] == "tap_genesys_analytics"
    assert extractor["pip_url"] == "-e ."
    assert set(extractor["capabilities"]) == {
        "about", "catalog", "discover", "state", "stream-maps", "schema-flattening"
    }  # fmt: skip
    loaders = {p["name"]: p for p in doc["plugins"]["loaders"]}
    assert loaders["target-postgres"]["variant"] == "meltanolabs"
    pg_settings = {s["name"]: s for s in loaders["target-postgres"]["settings"]}
    assert pg_settings["load_method"]["value"] == "upsert"
    assert "duckdb==1.2.2" in loaders["target-duckdb"]["pip_url"].split()


def test_settings_come_from_tap_genesys_analytics_env_vars(tmp_path: Path) -> None:
    runner = MeltanoRunner(workdir=tmp_path)
    proc = runner.run(
        "config", "--unsafe", "print", "tap-genesys-analytics",
        extra_env={
            "TAP_GENESYS_ANALYTICS_CLIENT_ID": "env-client",
            "TAP_GENESYS_ANALYTICS_CLIENT_SECRET": "env-secret",
            "TAP_GENESYS_ANALYTICS_START_DATE": "2024-05-01",
            "TAP_GENESYS_ANALYTICS_MEDIA_TYPES": '["voice","chat"]',
            "TAP_GENESYS_ANALYTICS_PAGE_SIZE": "50",
            "TAP_GENESYS_ANALYTICS_REQUEST_TIMEOUT": "7.5",  # a decimal from an env var
            "TAP_GENESYS_ANALYTICS_SEGMENT_FILTERS":
                '[{"type":"or","predicates":[{"dimension":"queueId","value":"q1"}]}]',
        },
    )  # fmt: skip
    config = json.loads(proc.stdout[proc.stdout.find("{") :])
    assert config["client_id"] == "env-client"
    assert config["client_secret"] == "env-secret"
    assert config["media_types"] == ["voice", "chat"]
    assert config["page_size"] == 50
    assert config["request_timeout"] == "7.5"  # kind string: passed as typed, no Decimal
    assert config["segment_filters"][0]["predicates"][0]["dimension"] == "queueId"
    assert config["region"] == "us-east-1"  # default from the plugin definition


def test_readme_filter_examples_are_valid_settings() -> None:
    from tap_genesys_analytics.settings import validate_settings

    readme = (PROJECT_ROOT / "README.md").read_text()
    yaml_block = readme.split("# meltano.yml, under the extractor's config:\n", 1)[1]
    segment_filters = yaml.safe_load(yaml_block.split("```", 1)[0])["segment_filters"]
    conversation_filters = re.search(
        r"TAP_GENESYS_ANALYTICS_CONVERSATION_FILTERS='([^']+)'", readme
    )
    media_types = re.search(r"TAP_GENESYS_ANALYTICS_MEDIA_TYPES='([^']+)'", readme)
    assert conversation_filters and media_types
    settings = validate_settings({
        "client_id": "id", "client_secret": "secret", "start_date": "2024-05-01",
        "segment_filters": segment_filters,
        "conversation_filters": conversation_filters.group(1),
        "media_types": media_types.group(1),
    })  # fmt: skip
    assert settings.media_types == ("voice", "callback")
    assert len(settings.query_segment_filters()) == 2  # queue filter + media-type shortcut
    assert settings.query_conversation_filters()[0]["predicates"][0]["value"] == "inbound"


def test_meltano_yml_validates_against_meltanos_own_schema() -> None:
    import jsonschema
    import meltano

    schema_file = Path(next(iter(meltano.__path__))) / "schemas" / "meltano.schema.json"
    schema = json.loads(schema_file.read_text())
    doc = yaml.safe_load((PROJECT_ROOT / "meltano.yml").read_text())
    errors = [
        f"{list(e.absolute_path)}: {e.message[:200]}"
        for e in jsonschema.Draft202012Validator(schema).iter_errors(doc)
    ]
    assert not errors, errors


def test_request_timeout_decimal_via_meltano_config_set_and_env_var_reaches_the_tap(
    tmp_path: Path,
) -> None:
    """`meltano config set ... request_timeout 30.5` and an env var 7.5 both work end to end."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(PROJECT_ROOT / "meltano.yml", project / "meltano.yml")
    runner = MeltanoRunner(workdir=tmp_path)
    env = runner.full_env({
        "TAP_GENESYS_ANALYTICS_CLIENT_ID": "id",
        "TAP_GENESYS_ANALYTICS_CLIENT_SECRET": "long-secret-x9",
        "TAP_GENESYS_ANALYTICS_START_DATE": "2024-05-01",
    })  # fmt: skip

    def meltano(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(MELTANO), *args],
            cwd=project,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    set_result = meltano("config", "set", "tap-genesys-analytics", "request_timeout", "30.5")
    assert set_result.returncode == 0, set_result.stdout + set_result.stderr
    assert "Traceback" not in set_result.stderr
    printed = meltano("config", "--unsafe", "print", "tap-genesys-analytics")
    assert json.loads(printed.stdout[printed.stdout.find("{") :])["request_timeout"] == "30.5"
    for extra in ({}, {"TAP_GENESYS_ANALYTICS_REQUEST_TIMEOUT": "7.5"}):
        ok = meltano("invoke", "tap-genesys-analytics", "--test=schema", **extra)
        assert ok.returncode == 0, ok.stderr[-2000:]
        assert '"type":"SCHEMA"' in ok.stdout.replace(" ", "")
    bad = meltano(
        "invoke",
        "tap-genesys-analytics",
        "--test=schema",
        TAP_GENESYS_ANALYTICS_REQUEST_TIMEOUT="0.0",
    )
    assert bad.returncode == 2, bad.stderr[-2000:]
    assert "config error: request_timeout: must be more than 0 and at most 600, got 0.0" in (
        bad.stderr
    )
