"""Checks on loaded settings: each bad value is a :class:`ConfigError` naming its variable,
raised at load, so a typo stops start-up instead of failing every request that reads it."""

from __future__ import annotations

import ipaddress
from typing import Any

from limits import parse_many

ENV_PREFIX = "SWITCHBOARD_"


class ConfigError(Exception):
    """A setting is missing or malformed. ``str(err)`` is one line naming it."""


_CHOICES = {
    "log_level": {"DEBUG", "INFO", "WARNING", "ERROR"},
    "log_format": {"json", "text"},
    "sqlite_synchronous": {"FULL", "NORMAL", "EXTRA"},
    "sentiment_precision": {"auto", "float32", "bfloat16", "int8"},
}
_LOWER = {"log_format", "sentiment_precision"}  # the rest of _CHOICES are upper case
_POSITIVE = {"port", "max_body_bytes", "outbound_max_attempts", "session_hours",
             "outbound_backoff_seconds", "outbound_timeout_seconds", "clock_seconds",
             "channel_refresh_seconds", "post_misfire_minutes", "post_max_attempts",
             "post_backoff_seconds", "post_lease_seconds", "max_upload_bytes",
             "drip_lease_seconds", "sentiment_threads", "sentiment_batch", "spike_factor",
             "spike_min_count", "spike_baseline_days", "review_warn_hours",
             "password_hash_threads", "signed_link_days", "quarantine_tries",
             "template_timeout_seconds", "template_max_bytes", "regex_timeout_ms",
             "loop_lease_seconds", "followup_lease_seconds", "followup_max_attempts",
             "followup_backoff_seconds", "attribution_days"}
# followup_max_attempts: more and the doubling backoff overflows a timedelta
_AT_MOST = {"followup_max_attempts": 30, "attribution_days": 365}
# the grace covers a file written for a row not yet committed (a slow fetch, a retry)
_AT_LEAST = {"attachment_orphan_grace_seconds": 600}
_NETWORKS = ("trusted_proxies", "metrics_addresses")  # addresses or CIDR, comma-separated
_LIMITS = ("login_limit_address", "login_limit_account", "public_limit_address")


def _fail(name: str, problem: str) -> ConfigError:
    return ConfigError(f"{ENV_PREFIX}{name.upper()}: {problem}")


def check(values: dict[str, Any]) -> None:
    """Check (and normalise the choices in) ``values``; raise :class:`ConfigError`."""
    for name, allowed in _CHOICES.items():
        value = str(values[name]).lower() if name in _LOWER else str(values[name]).upper()
        if value not in allowed:
            raise _fail(name, f"must be one of {', '.join(sorted(allowed))} "
                              f"(got {values[name]!r})")
        values[name] = value
    for name in sorted(_POSITIVE):
        if values[name] <= 0:
            raise _fail(name, f"must be positive (got {values[name]!r})")
    for name, most in _AT_MOST.items():
        if values[name] > most:
            raise _fail(name, f"must be at most {most} (got {values[name]!r})")
    for name, least in _AT_LEAST.items():
        if values[name] < least:
            raise _fail(name, f"must be at least {least} (got {values[name]!r})")
    for name in _NETWORKS:
        for part in str(values[name]).split(","):
            try:
                if part.strip():
                    ipaddress.ip_network(part.strip(), strict=False)
            except ValueError:
                raise _fail(name, "must be addresses or networks (CIDR), comma-separated "
                                  f"(got {part.strip()!r})") from None
    for name in _LIMITS:
        spec = str(values[name])
        if not spec.strip():
            continue  # empty: the limit is off
        try:
            items = parse_many(spec)
        except ValueError:
            raise _fail(name, "must be limits like '5/minute;30/hour', or empty for none "
                              f"(got {spec!r})") from None
        if any(item.amount < 1 for item in items):
            raise _fail(name, f"each limit must allow at least one (got {spec!r})")
    from config.hours import HoursError, parse

    try:
        parse(values["office_hours"], values["shop_timezone"])
    except HoursError as exc:
        which = "OFFICE_HOURS" if "timezone" not in str(exc) else "SHOP_TIMEZONE"
        raise ConfigError(f"{ENV_PREFIX}{which}: {exc}") from None
    from config.sla import SlaError
    from config.sla import parse as parse_sla

    try:
        parse_sla(values["sla_targets"])
    except SlaError as exc:
        raise _fail("sla_targets", str(exc)) from None
    if not 0 < values["port"] < 65536:
        raise _fail("port", f"must be between 1 and 65535 (got {values['port']})")
    url = values["database_url"]
    if url and not url.startswith(("sqlite://", "postgres://", "postgresql://", "asyncpg://")):
        raise _fail("database_url", "must start with sqlite:// or postgres:// "
                                    f"(got a URL with scheme {url.split(':', 1)[0]!r})")
