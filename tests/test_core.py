"""singer-sdk standard tap tests against a simulator (small range: two days)."""

from __future__ import annotations

import atexit

import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class

from genesys_sim import SimConfig, SimServer
from tap_genesys_analytics.tap import TapGenesysAnalytics
from tests.conftest import tap_config_for

pytestmark = pytest.mark.integration

# The standard suite needs its config when the test class is built, so the simulator starts
# at import time (loopback, free port) and stops when the test process exits.
_SIM = SimServer(
    SimConfig(
        seed=42, conversations_per_day=120, now="2024-05-08T00:00:00Z", rate_limit_per_minute=0
    )
).start()
atexit.register(_SIM.stop)

SAMPLE_CONFIG = tap_config_for(
    _SIM, start_date="2024-05-01T00:00:00Z", end_date="2024-05-03T00:00:00Z"
)

TestTapGenesysAnalytics = get_tap_test_class(
    tap_class=TapGenesysAnalytics,
    config=SAMPLE_CONFIG,
    suite_config=SuiteConfig(max_records_limit=None),
)
