"""Prometheus metrics. Module-level so every part of one process shares them."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

MESSAGES_INGESTED = Counter(
    "switchboard_messages_ingested_total", "Inbound messages stored, by channel kind.",
    ["channel"], registry=REGISTRY)
INGEST_SECONDS = Histogram(
    "switchboard_ingest_seconds", "Time to store one inbound message, by channel kind.",
    ["channel"], registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))
REPLIES = Counter(
    "switchboard_replies_total", "Outbound delivery outcomes, by channel kind and status.",
    ["channel", "status"], registry=REGISTRY)
HTTP_REQUESTS = Counter(
    "switchboard_http_requests_total", "HTTP requests by route and status class.",
    ["route", "status"], registry=REGISTRY)

STAFF_REFUSED = Counter(
    "switchboard_staff_commands_refused_total",
    "Staff commands or replies from chat users not linked to staff (or not allowed).",
    registry=REGISTRY)
RULES_FIRED = Counter(
    "switchboard_rules_fired_total", "Automation rules whose conditions held, by event.",
    ["event"], registry=REGISTRY)


_children: dict[tuple[int, tuple[str, ...]], Any] = {}


def child(metric: Counter | Histogram, *labels: str) -> Any:
    """``metric.labels(*labels)``, looked up once: prometheus_client validates and locks
    on every ``labels()`` call, and the ingest path asks for the same few on each message."""
    key = (id(metric), labels)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*labels)
    return found


def render() -> bytes:
    return generate_latest(REGISTRY)
