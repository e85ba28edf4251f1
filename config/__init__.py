"""Typed settings for Switchboard.

Values come from, in rising priority: the defaults below, an optional TOML file
(``SWITCHBOARD_CONFIG=path``), and ``SWITCHBOARD_<NAME>`` environment variables.
A missing or bad value raises :class:`ConfigError` whose message is one line naming
the variable, so ``run.py`` can stop start-up with exactly that line.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from config.checks import ENV_PREFIX, ConfigError, check

__all__ = ["ENV_PREFIX", "ConfigError", "Secret", "Settings", "describe_settings",
           "ensure_secret_key", "load_settings"]


class Secret:
    """A string that never shows itself in logs, reprs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        """Return the real value. Call this only where the secret is used."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and secrets.compare_digest(  # bytes: any text
            self._value.encode("utf-8", "surrogatepass"),
            other._value.encode("utf-8", "surrogatepass"))

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def _doc(text: str, **kw: Any) -> Any:
    return field(metadata={"doc": text}, **kw)


@dataclass(frozen=True)
class Settings:
    """Every setting Switchboard reads. README lists them from these docs."""

    host: str = _doc("Address the HTTP server binds to.", default="127.0.0.1")
    port: int = _doc("Port the HTTP server listens on.", default=8080)
    public_url: str = _doc(
        "Base URL customers and staff reach this server at (used in the widget snippet).",
        default="",
    )
    data_dir: Path = _doc("Folder for the embedded database and the generated secret key.",
                          default=Path("data"))
    database_url: str = _doc(
        "Database URL. Empty means SQLite at <data_dir>/switchboard.sqlite3. "
        "PostgreSQL: postgres://user:pass@host:5432/db",
        default="",
    )
    sqlite_synchronous: str = _doc(
        "SQLite PRAGMA synchronous: FULL survives power loss, NORMAL survives process crashes.",
        default="FULL",
    )
    secret_key: Secret = _doc(
        "Key that signs visitor and session cookies. Empty means generate once and keep it "
        "in <data_dir>/secret.key.",
        default=Secret(""),
    )
    max_body_bytes: int = _doc("Largest accepted request body, in bytes (413 above).",
                               default=256 * 1024)
    reopen_window_hours: float = _doc(
        "A resolved conversation reopens when the contact writes again within this many hours; "
        "after it a new conversation starts.",
        default=72.0,
    )
    session_hours: float = _doc("How long a staff login lasts.", default=12.0)
    cookie_secure: bool = _doc("Mark cookies Secure (set when served over HTTPS).",
                               default=False)
    outbound_max_attempts: int = _doc("Delivery attempts for an outbound reply before failed.",
                                      default=6)
    outbound_backoff_seconds: float = _doc(
        "First retry delay for a failed outbound reply; doubles each attempt.", default=2.0
    )
    outbound_timeout_seconds: float = _doc("HTTP timeout for one callback delivery.",
                                           default=10.0)
    followup_lease_seconds: float = _doc(
        "How long a process holds a followup (a message's rules, bot answer, staff "
        "notification, listening) before another may take it over (its holder died); longer "
        "than the slowest followup: a few channel calls of outbound_timeout_seconds.",
        default=120.0)
    followup_max_attempts: int = _doc(
        "Runs of a failing followup before it is kept with its error.", default=5)
    followup_backoff_seconds: float = _doc(
        "First retry delay of a failing followup; doubles each attempt.", default=2.0)
    clock_seconds: float = _doc("How often the clock looks for due work (retries, snoozes).",
                                default=1.0)
    channel_refresh_seconds: float = _doc(
        "How often a running server looks for added, changed or disabled channel accounts "
        "(Telegram bots start polling or set their webhook within this time).", default=2.0)
    telegram_poll_timeout: int = _doc(
        "Long-poll timeout of Telegram getUpdates, in seconds.", default=25)
    graph_api_url: str = _doc(
        "Meta Graph API base URL, with its version, for Facebook and Instagram accounts "
        "(an account's settings.api_base_url overrides it).",
        default="https://graph.facebook.com/v21.0")
    loop_lease_seconds: float = _doc(
        "How long a process holds a channel account's loop (Telegram polling, an IMAP "
        "mailbox) or a clock job that must run in one process at a time; renewed every "
        "third of it, and taken over by another process within this time and a second if "
        "the holder dies.", default=30.0)
    drip_lease_seconds: float = _doc(
        "How long a process holds a drip step or a broadcast it is sending without "
        "renewing it (each mail it records renews it); if it dies, another process (or the "
        "restarted one) takes the work over after this.", default=120.0)
    shopify_webhook_secret: Secret = _doc(
        "Shopify app's webhook secret: Shopify's customer, checkout and order webhooks to "
        "/api/v1/webhooks/shopify are checked with it. Empty: not connected.",
        default=Secret(""))
    woocommerce_webhook_secret: Secret = _doc(
        "WooCommerce webhook secret for /api/v1/webhooks/woocommerce. Empty: not connected.",
        default=Secret(""))
    sentiment_enabled: bool = _doc(
        "Score every inbound message, review and mention with the sentiment model.",
        default=True)
    sentiment_model_dir: str = _doc(
        "A local Hugging Face sentiment model folder (e.g. a downloaded "
        "cardiffnlp/twitter-xlm-roberta-base-sentiment-multilingual). Empty: the built-in "
        "multilingual model, assembled once under models_dir.", default="")
    models_dir: str = _doc(
        "Where the built-in model is converted and assembled. Empty: <data_dir>/models.",
        default="")
    sentiment_threads: int = _doc(
        "Torch threads for sentiment inference (in its one thread); the event loop "
        "keeps the rest of the cores.", default=1)
    sentiment_batch: int = _doc("Most texts scored in one batch.", default=32)
    sentiment_precision: str = _doc(
        "Number format the model runs in. auto: bfloat16 where the CPU has it natively "
        "(AVX512-BF16 or AMX; about 3x faster than float32, the same labels), else float32. "
        "int8 (dynamic quantization) is about 4x faster anywhere but loses some accuracy "
        "(the model card gives the scores of each).", default="auto")
    sentiment_wait_ms: float = _doc(
        "Longest a text waits for others to fill its batch, in milliseconds.", default=50.0)
    spike_factor: float = _doc(
        "A negative spike: this many times the usual negative mentions for the hour "
        "(the same hour on the previous spike_baseline_days days).", default=3.0)
    spike_min_count: int = _doc(
        "... and at least this many negative mentions in the hour.", default=5)
    spike_baseline_days: int = _doc("Days the same-hour baseline looks back.", default=7)
    review_warn_hours: float = _doc(
        "Alert this many hours before an unanswered review's 24-hour deadline.",
        default=4.0)
    alert_email: str = _doc(
        "Where spike and review alerts are mailed (through the e-mail channel account). "
        "Empty: alerts go to the web inbox and the staff Telegram chat only.", default="")
    shop_contact: str = _doc(
        "How a customer reaches the shop privately, named in replies to negative reviews "
        "(an e-mail address, a phone number or a link). Empty: the web chat page.",
        default="")
    shop_name: str = _doc("The shop's name, as the bot introduces it.", default="our shop")
    attribution_days: int = _doc(
        "An order this many days after a tracked click (a marketing mail's link, or a "
        "post's: track_post_links) is attributed to that mail's campaign or that post, in "
        "the mail stats and the attribution report.",
        default=7)
    track_post_links: bool = _doc(
        "Links in a published post go through this server's redirect, which counts the "
        "click and adds UTM parameters (utm_campaign=post-<id>), so the attribution report "
        "credits orders to posts. False: links go out as written.", default=True)
    shop_timezone: str = _doc(
        "The shop's IANA timezone (office hours, rule times, schedules), e.g. Asia/Bangkok.",
        default="UTC")
    office_hours: str = _doc(
        "When staff answer, e.g. 'mon-fri 09:00-18:00, sat 10:00-14:00' in shop_timezone. "
        "Outside them the bot says when a person will answer. Empty means always open.",
        default="")
    sla_targets: str = _doc(
        "First-response and resolution targets per channel kind, e.g. "
        "'*=1h/24h, webchat=15m/8h, email=4h/2d' (* is every other channel; m, h or d). "
        "Reports count breaches against them, in business hours when office_hours is set.",
        default="*=1h/24h")
    bot_channels: str = _doc(
        "Channel kinds the customer bot answers on (comma-separated); an account's "
        "settings.bot true/false overrides it.", default="webchat,telegram")
    max_upload_bytes: int = _doc(
        "Largest image a marketer may upload for a post, in bytes (413 above).",
        default=10 * 1024 * 1024)
    attachment_max_bytes: int = _doc(
        "Largest file a customer may send (a photo, an e-mail attachment, a web chat "
        "upload), in bytes. Files "
        "are kept under <data_dir>/attachments by their SHA-256; a larger one is refused "
        "with a note in the message, which is kept.", default=20 * 1024 * 1024)
    attachment_orphan_grace_seconds: float = _doc(
        "A kept file no message holds (its reply was refused, its message deleted) is "
        "removed by the hourly sweep once it is this old; at least 600.", default=3600.0)
    posts_require_approval: bool = _doc(
        "Marketers' posts need an admin's approval before they can be scheduled.",
        default=False)
    post_misfire_minutes: float = _doc(
        "A post that fell due while the server was down is still published up to this many "
        "minutes late; later, it is marked missed and staff are told.", default=60.0)
    post_max_attempts: int = _doc(
        "Publishing attempts for a post on 429/5xx/network errors before it is failed.",
        default=5)
    post_lease_seconds: float = _doc(
        "How long a process holds a post it is publishing; if it dies, another process "
        "takes the post over after this.", default=120.0)
    post_backoff_seconds: float = _doc(
        "First retry delay of a post that could not be published; doubles each attempt "
        "(a longer Retry-After wins).", default=30.0)
    log_level: str = _doc("Log level: DEBUG, INFO, WARNING, ERROR.", default="INFO")
    log_format: str = _doc("Log format: json (structured) or text.", default="json")
    shutdown_timeout: float = _doc("Seconds in-flight requests get to finish on shutdown.",
                                   default=10.0)
    seed_demo: bool = _doc("Seed a demo shop (accounts and an admin) into an empty database.",
                           default=True)
    demo_content: bool = _doc(
        "With seed_demo, also fill the new shop with demo content (conversations, posts, "
        "mail results, reviews, mentions; marked \"(demo)\", removable in one click). "
        "Off: the seeded shop starts empty.", default=True)
    # -- safety on the open internet (docs/security.md) --
    allowed_origins: str = _doc(
        "Origins (scheme://host[:port], comma-separated) of the shop's own sites, allowed to "
        "open the web chat and post to /subscribe besides public_url's origin; a web chat "
        "account's settings.origins adds its own.", default="")
    allow_private_urls: bool = _doc(
        "Let URLs someone typed (feeds, callback and API base URLs) reach loopback, private, "
        "link-local and cloud-metadata addresses. Off on the internet; on for a self-hosted "
        "setup whose services live on a private network.", default=False)
    login_limit_address: str = _doc(
        "Login tries allowed per client address ('limits' notation, ';' between windows); "
        "above it the login answers 429 with Retry-After.", default="20/minute;100/hour")
    login_limit_account: str = _doc(
        "Failed login tries allowed per account (e-mail) before 429.",
        default="5/minute;30/hour")
    password_hash_threads: int = _doc(
        "Password hashes computed at once, off the event loop (each takes ~64 MiB and "
        "~200 ms of a core); more tries wait their turn.", default=2)
    public_limit_address: str = _doc(
        "Requests per client address to the public endpoints (web chat visitors, messages, "
        "sockets; /subscribe) before 429.", default="60/minute;600/hour")
    trusted_proxies: str = _doc(
        "Addresses of reverse proxies whose X-Forwarded-For names the client (comma-"
        "separated). Empty: the socket's peer is the client.", default="")
    metrics_token: Secret = _doc(
        "Bearer token /metrics asks for. Empty: /metrics answers only loopback addresses "
        "(and metrics_addresses).", default=Secret(""))
    metrics_addresses: str = _doc(
        "Client addresses or networks (CIDR, comma-separated) /metrics answers without a "
        "token, besides loopback.", default="")
    signed_link_days: int = _doc(
        "Days a signed link in a mail (confirmation, click, open) stays valid; unsubscribe "
        "links never expire.", default=180)
    quarantine_tries: int = _doc(
        "Tries a channel loop gives an item it cannot store before it is quarantined "
        "(kept raw, listed for an admin as 'could not import') and the loop goes on.",
        default=3)
    template_timeout_seconds: float = _doc(
        "Longest a marketer's template (broadcast subject and body) may take to render.",
        default=2.0)
    template_max_bytes: int = _doc("Largest output of one rendered template, in bytes.",
                                   default=512 * 1024)
    regex_timeout_ms: float = _doc(
        "Longest a rule's regular expression may run on one text, in milliseconds.",
        default=50.0)

    def __repr__(self) -> str:
        inner = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self))
        return f"Settings({inner})"

    @property
    def resolved_database_url(self) -> str:
        """Database URL with the SQLite default filled in."""
        if self.database_url:
            return self.database_url
        return f"sqlite://{self.data_dir / 'switchboard.sqlite3'}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    def with_(self, **changes: Any) -> Settings:
        """Return a copy with some values replaced (tests and CLI use this)."""
        return dataclasses.replace(self, **changes)


def _convert(name: str, raw: Any, default: Any) -> Any:
    env = ENV_PREFIX + name.upper()
    kind = type(default)
    try:
        if isinstance(default, Secret):
            if not isinstance(raw, str):
                raise ValueError("expected a string")
            return Secret(raw)
        if isinstance(default, bool):
            if isinstance(raw, bool):
                return raw
            low = str(raw).strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
        if isinstance(default, Path):
            return Path(str(raw))
        if kind is int:
            if isinstance(raw, bool):
                raise ValueError("expected an integer")
            return int(raw)
        if kind is float:
            return float(raw)
        return str(raw)
    except (TypeError, ValueError) as exc:
        shown = "**********" if isinstance(default, Secret) else repr(raw)
        raise ConfigError(f"{env}: {exc} (got {shown})") from None


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build :class:`Settings` from defaults, an optional TOML file and the environment.

    Args:
        env: Environment to read (defaults to ``os.environ``).
        **overrides: Values that win over everything (used by tests).

    Raises:
        ConfigError: A value is missing or malformed; the message names it.
    """
    env = os.environ if env is None else env
    defaults = {f.name: f.default for f in fields(Settings)}
    raw: dict[str, Any] = {}
    toml_path = env.get(ENV_PREFIX + "CONFIG")
    if toml_path:
        try:
            with open(toml_path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"{ENV_PREFIX}CONFIG: file not found: {toml_path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                f"{ENV_PREFIX}CONFIG: {toml_path} is not valid TOML: {exc}") from None
        section = data.get("switchboard", data)
        for key, value in section.items():
            if key not in defaults:
                raise ConfigError(f"{ENV_PREFIX}CONFIG: unknown setting {key!r} in {toml_path}")
            raw[key] = value
    for name in defaults:
        var = ENV_PREFIX + name.upper()
        if var in env:
            raw[name] = env[var]
    values: dict[str, Any] = dict(defaults)
    for name, value in raw.items():
        values[name] = _convert(name, value, defaults[name])
    values.update(overrides)
    check(values)
    return Settings(**values)


def ensure_secret_key(settings: Settings) -> Settings:
    """Fill in the cookie-signing key, generating and keeping one under data_dir if unset."""
    if settings.secret_key:
        return settings
    path = settings.data_dir / "secret.key"
    if path.exists():
        key = path.read_text().strip()
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key + "\n")
    return settings.with_(secret_key=Secret(key))


def describe_settings() -> list[tuple[str, str, str]]:
    """(environment variable, default, description) for every setting; README uses it."""
    rows = []
    for f in fields(Settings):
        default = f.default
        shown = "(generated)" if isinstance(default, Secret) else str(default)
        rows.append((ENV_PREFIX + f.name.upper(), shown, f.metadata.get("doc", "")))
    return rows
