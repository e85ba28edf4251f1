"""The shop's posts as an iCalendar feed (RFC 5545) that Google Calendar and Outlook can
subscribe to: one event per post with a time, in UTC, 15 minutes long."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

SLOT = timedelta(minutes=15)


def _escape(text: str) -> str:
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n"))


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space."""
    out, chunk = [], ""
    for ch in line:
        if len((chunk + ch).encode()) > 75:
            out.append(chunk)
            chunk = " " + ch
        else:
            chunk += ch
    out.append(chunk)
    return "\r\n".join(out)


def _stamp(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def feed(posts: Iterable[dict[str, Any]], name: str, host: str) -> str:
    """``posts``: dicts with id, text, status, due_at, networks, error, updated_at."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Switchboard//Posts//EN",
             "CALSCALE:GREGORIAN", "METHOD:PUBLISH", f"X-WR-CALNAME:{_escape(name)}",
             "X-PUBLISHED-TTL:PT15M", "REFRESH-INTERVAL;VALUE=DURATION:PT15M"]
    now = _stamp(datetime.now(UTC))
    for p in posts:
        due = p["due_at"]
        if due is None:
            continue
        first_line = (p["text"].strip().splitlines() or ["(image)"])[0][:60]
        summary = f"[{p['status']}] {first_line} ({', '.join(p['networks']) or '—'})"
        description = p["text"] + (f"\n\n{p['error']}" if p.get("error") else "")
        lines += ["BEGIN:VEVENT", f"UID:post-{p['id']}@{host}", f"DTSTAMP:{now}",
                  f"DTSTART:{_stamp(due)}", f"DTEND:{_stamp(due + SLOT)}",
                  f"SUMMARY:{_escape(summary)}", f"DESCRIPTION:{_escape(description)}",
                  f"STATUS:{'CANCELLED' if p['status'] == 'cancelled' else 'CONFIRMED'}",
                  f"LAST-MODIFIED:{_stamp(p['updated_at'])}", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
