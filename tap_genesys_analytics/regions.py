"""Genesys Cloud regions: the 18 hosts of the official SDKs.

Accepted as the SDK key (``eu_west_1``), the AWS-style name (``eu-west-1``) or the domain
(``mypurecloud.ie``); ``api.``/``login.`` hosts and URLs resolve too. Login host = ``login.`` +
domain, API host = ``api.`` + domain (the SDKs' rule), see docs/genesys-api.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from tap_genesys_analytics.errors import ConfigError


@dataclass(frozen=True)
class Region:
    """One Genesys Cloud region: SDK key, domain, hosts and AWS-style name."""

    key: str
    domain: str
    api_url: str
    login_url: str
    name: str


_REGION_DOMAINS: dict[str, str] = {
    "us_east_1": "mypurecloud.com",
    "us_east_2": "use2.us-gov-pure.cloud",
    "us_west_2": "usw2.pure.cloud",
    "ca_central_1": "cac1.pure.cloud",
    "sa_east_1": "sae1.pure.cloud",
    "mx_central_1": "mxc1.pure.cloud",
    "eu_west_1": "mypurecloud.ie",
    "eu_west_2": "euw2.pure.cloud",
    "eu_central_1": "mypurecloud.de",
    "eu_central_2": "euc2.pure.cloud",
    "eusc_de_east_1": "edee1.eusc-pure.cloud",
    "me_central_1": "mec1.pure.cloud",
    "ap_south_1": "aps1.pure.cloud",
    "ap_southeast_1": "apse1.pure.cloud",
    "ap_southeast_2": "mypurecloud.com.au",
    "ap_northeast_1": "mypurecloud.jp",
    "ap_northeast_2": "apne2.pure.cloud",
    "ap_northeast_3": "apne3.pure.cloud",
}

REGIONS: dict[str, Region] = {
    key: Region(
        key=key,
        domain=domain,
        api_url=f"https://api.{domain}",
        login_url=f"https://login.{domain}",
        name=key.replace("_", "-"),
    )
    for key, domain in _REGION_DOMAINS.items()
}

_LOOKUP: dict[str, Region] = {}
for _region in REGIONS.values():
    for _alias in (_region.key, _region.name, _region.domain):
        _LOOKUP[_alias] = _region


def resolve_region(value: str) -> Region:
    """Find a region by SDK key, AWS-style name or domain (``api.``/``login.`` hosts too)."""
    text = str(value).strip().lower()
    for scheme in ("https://", "http://"):
        text = text.removeprefix(scheme)
    text = text.rstrip("/")
    for host_prefix in ("api.", "login."):
        if text.removeprefix(host_prefix) in _LOOKUP:
            text = text.removeprefix(host_prefix)
    region = _LOOKUP.get(text)
    if region is None:
        known = ", ".join(r.name for r in REGIONS.values())
        raise ConfigError(
            "region",
            f"unknown region {str(value).strip()!r}; use one of {known} "
            "(or the SDK key / domain), or set api_url and login_url",
        )
    return region
