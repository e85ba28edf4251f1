"""``create_app(settings)``: wires the ORM, channels, live hub, clock and routes.

Every long-lived resource is an async context in ``cleanup_ctx``, opened in order and closed
in reverse, so shutdown is orderly: websockets close with 1001, the clock stops, in-flight
deliveries finish, then the HTTP session and the database close.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from bot.api.endpoints import endpoints as api_endpoints
from bot.commands import staff as inbox_commands
from bot.core import bounded, csp, db, i18n, l10n, metrics, said
from bot.core.auth import same
from bot.core.channel import ChannelContext, RunsAccounts
from bot.core.commands import Desk
from bot.core.errors import InboxError
from bot.core.events import DemoRemoved, EventBus, MessageReceived, RelayResumed
from bot.core.http import ApiError, error_response, mount
from bot.core.ingest_orm import Ingestor, TortoiseDriver
from bot.core.ingest_sqlite import SqliteWriter
from bot.core.keys import ADAPTERS, BUS, DEMO, ENDPOINTS, HTTP, JINJA, SETTINGS
from bot.core.links import safe_href
from bot.core.outbound import client_session
from bot.core.pages import error_page
from bot.core.ratelimit import TRUSTED_PROXIES, address_allowed, client_address
from bot.core.relay import relay_for
from bot.core.serve import INFLIGHT, Inflight
from bot.services import account_cache, accounts, attachments, contacts, demo, inbox
from bot.services.automation import Automation
from bot.services.followups import FOLLOWUPS, Followups
from bot.services.inbox import INTAKE
from bot.services.live import HUB, StaffHub
from bot.services.replies import OUTBOX, Outbox
from bot.services.reports import inbox_facts, shop_facts
from bot.web import media, pages
from channels import registry
from channels.email.mailer import MAILER, Mailer
from config import Settings, ensure_secret_key
from listening import api as listening_api
from listening import web as web_listening
from listening.alerts import Alerter
from listening.reviews import SourceReplies
from listening.runtime import LISTENING, ListeningRuntime
from scheduler.clock import CLOCK, Clock
from scheduler.marketing import api as marketing_api
from scheduler.marketing import consent, drips, sequences
from scheduler.marketing import events as shop_events
from scheduler.marketing import web as web_marketing
from scheduler.marketing.broadcasts import BroadcastRunner
from scheduler.marketing.drips import DRIPS
from scheduler.posts import api as posts_api
from scheduler.posts import commands as post_commands  # noqa: F401  (registers /post …)
from scheduler.posts import flows, outcomes
from scheduler.posts import web as web_posts
from scheduler.posts.api import ics_feed
from scheduler.posts.links import LinkTracker
from scheduler.posts.publish import Publisher

log = logging.getLogger("switchboard.app")
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATIC = Path(__file__).resolve().parent / "web" / "static"  # the pages' scripts (CSP)
VERSION = "0.1.0"


def make_jinja() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "xml"], default_for_string=True),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["safe_href"] = safe_href  # an outside URL as an href, or None: text only
    i18n.install(env)  # _(), ngettext() and {% trans %} (bot.core.i18n)
    said.install(env)  # {{ said(row.error, row.error_i18n) }} (bot.core.said)
    l10n.install_filters(env)  # |dt, |date, |time, |number, |percent, |money, |duration
    return env


_SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


@web.middleware
async def middleware(
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """The one middleware (each layer costs on every request, so they are folded together):

    * counts requests in flight, so a graceful stop can wait for them (websockets excluded:
      they are closed explicitly);
    * turns every failure into a clear 4xx/5xx, JSON under /api and a short page elsewhere,
      never a traceback;
    * adds security headers, ``Server-Timing`` and request metrics.
    """
    counter = None
    if request.headers.get("Upgrade", "").lower() != "websocket":
        counter = request.app[INFLIGHT]
        counter.count += 1
    started = time.perf_counter()
    if not request.path.startswith(("/api/", "/static/")):  # a page: the browser's language
        i18n.current.set(i18n.choose(None, request.headers.get("Accept-Language")))
    else:  # the API's messages are English (a page before on this connection set another)
        i18n.current.set(i18n.DEFAULT)
    try:
        resp = await _handle(request, handler)
    finally:
        if counter is not None:
            counter.count -= 1
    elapsed = time.perf_counter() - started
    route = request.match_info.route.resource
    metrics.child(metrics.HTTP_REQUESTS, route.canonical if route else "unmatched",
                  f"{resp.status // 100}xx").inc()
    if not resp.prepared:  # websockets and streams have sent their headers already
        resp.headers.update(_SECURITY_HEADERS)
        if csp.HEADER not in resp.headers:  # a handler may set its own (the web chat's)
            resp.headers[csp.HEADER] = csp.for_path(request.path, request.app[SETTINGS])
        if request.path.startswith("/static/"):  # ?v= is the file's hash: a new file, a new URL
            resp.headers["Cache-Control"] = "public, max-age=31536000, immutable" \
                if "v" in request.query else "no-cache"
        if not request.path.startswith("/chat"):  # the widget page is embeddable
            resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Server-Timing"] = f"app;dur={elapsed * 1000:.2f}"
    if elapsed > 1.0:
        log.info("slow request", extra={"path": request.path, "ms": round(elapsed * 1000)})
    return resp


def _kept(exc: web.HTTPException) -> dict[str, str]:
    """The headers of a refusal its answer keeps (a 429's Retry-After, a 401's challenge)."""
    return {k: exc.headers[k] for k in ("Retry-After", "WWW-Authenticate") if k in exc.headers}


async def _handle(request: web.Request,
                  handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                  ) -> web.StreamResponse:
    api = request.path.startswith("/api/")
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if api:
            code = {404: "not_found", 405: "method_not_allowed",
                    413: "too_large"}.get(exc.status, "http_error")
            message = exc.text if exc.text and not exc.text.startswith(str(exc.status)) \
                else exc.reason
            return error_response(exc.status, code, message, headers=_kept(exc))
        page = error_page(request, exc.status, exc.text or exc.reason)
        page.headers.update(_kept(exc))
        return page
    except (InboxError, ApiError) as exc:  # (ApiError: from a helper pages share)
        if api:
            return error_response(exc.status, exc.code, str(exc), exc.field)
        return error_page(request, exc.status, str(exc))
    except UnicodeDecodeError:  # a form (login, pages, /subscribe) that is not UTF-8
        message = "the request's text is not valid UTF-8"
        if api:
            return error_response(400, "malformed", message)
        return error_page(request, 400, message)
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        if api:
            return error_response(500, "internal", "internal error; see the server log")
        return error_page(request, 500, "Something went wrong; see the server log.")


async def healthz(request: web.Request) -> web.Response:
    try:
        await db.ping()
    except Exception as exc:
        return web.json_response({"status": "error", "database": type(exc).__name__},
                                 status=503)
    return web.json_response({"status": "ok", "database": "ok"})


async def metrics_view(request: web.Request) -> web.Response:
    """Prometheus text: with ``metrics_token`` set, only for ``Authorization: Bearer
    <token>`` (else 401); without one, only to loopback and ``metrics_addresses`` (403)."""
    settings = request.app[SETTINGS]
    token = settings.metrics_token.get()
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not same(given.strip(), token):
            raise web.HTTPUnauthorized(text="metrics need the bearer token",
                                       headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    else:
        address = client_address(request)
        # A proxy on this host that trusted_proxies does not name makes everyone loopback;
        # the forwarding headers it adds give it away.
        unresolved = address == request.remote and any(
            h in request.headers for h in ("X-Forwarded-For", "Forwarded", "X-Real-IP"))
        if unresolved or not address_allowed(address, settings.metrics_addresses):
            raise web.HTTPForbidden(text="metrics are not served to this address")
    return web.Response(body=metrics.render(),
                        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


def create_app(settings: Settings, *, migrate: bool = True,
               on_seed: Callable[[dict[str, Any]], None] | None = None) -> web.Application:
    """Build the aiohttp application for these settings.

    Args:
        settings: Validated settings.
        migrate: Apply pending migrations at start-up.
        on_seed: Called with the demo shop's credentials the one time they are created.
    """
    settings = ensure_secret_key(settings)
    bounded.configure(settings)  # staff's templates and regexes: time and size limits
    l10n.configure(settings.shop_timezone)  # the pages' dates and times
    app = web.Application(client_max_size=settings.max_body_bytes,
                          middlewares=[middleware])
    app[INFLIGHT] = Inflight()
    app[SETTINGS] = settings
    app[TRUSTED_PROXIES] = settings.trusted_proxies
    app[JINJA] = make_jinja()
    app[DEMO] = {"present": False}
    app[BUS] = EventBus()
    app[HUB] = StaffHub(app[BUS])
    app[LISTENING] = ListeningRuntime(settings, Alerter(base_url=settings.public_url),
                                      bus=app[BUS])
    inbox_facts.configure(settings)  # the reports' timezone, office hours, SLA targets

    async def database(app: web.Application) -> AsyncIterator[None]:
        if migrate:
            await db.apply_migrations(settings)
        tortoise_ctx = await db.open_db(settings)
        app[INTAKE] = inbox.Intake(
            SqliteWriter(settings.resolved_database_url[len("sqlite://"):],
                         settings.sqlite_synchronous) if settings.is_sqlite
            else Ingestor(TortoiseDriver("postgres")),
            app[BUS], timedelta(hours=settings.reopen_window_hours))
        if settings.seed_demo:
            from bot.services.seed import seed_demo

            created = await seed_demo(settings)
            if created and on_seed:
                on_seed(created)
            if created and settings.demo_content:  # only into the shop just created
                await demo.seed_content()
        app[DEMO]["present"] = await demo.present()

        async def recheck_demo(_: DemoRemoved | RelayResumed) -> None:
            app[DEMO]["present"] = await demo.present()

        app[BUS].subscribe(DemoRemoved, recheck_demo, everywhere=True)
        app[BUS].subscribe(RelayResumed, recheck_demo)  # a removal may have been missed
        yield
        account_cache.forget_accounts()
        await app[INTAKE].close()
        await db.close_db(tortoise_ctx)

    async def http(app: web.Application) -> AsyncIterator[None]:
        # one session, under the outbound URL policy: feeds, callbacks and API base URLs
        # are typed by people (bot.core.outbound)
        async with client_session(
                settings, headers={"User-Agent": f"Switchboard/{VERSION}"}) as session:
            app[HTTP] = session
            yield

    async def channels(app: web.Application) -> AsyncIterator[None]:
        adapters = app[ADAPTERS]
        await accounts.seal_stored(adapters)  # rows from before secrets were sealed
        app[OUTBOX] = Outbox(adapters, app[BUS], settings.outbound_max_attempts,
                             settings.outbound_backoff_seconds,
                             lease_seconds=settings.outbound_timeout_seconds * 3,
                             settings=settings)
        desk.attach(app[OUTBOX], app[ADAPTERS])
        automation = Automation(app[BUS], app[OUTBOX], adapters, settings)
        publisher = Publisher(adapters, settings.post_max_attempts,
                              settings.post_backoff_seconds, settings.post_misfire_minutes,
                              lease_seconds=settings.post_lease_seconds,
                              bus=app[BUS], timezone=settings.shop_timezone,
                              links=LinkTracker.of(settings) if settings.track_post_links
                              else None)
        await sequences.install_builtin()
        app[MAILER] = Mailer(adapters, settings)
        listening = app[LISTENING]
        listening.alerter.chat = automation.notifier.announce
        listening.alerter.live = app[HUB].broadcast
        outcomes.subscribe(app[BUS], listening.alerter.raise_)  # failed and missed posts
        if settings.alert_email:
            mailer = app[MAILER]
            listening.alerter.mail = lambda subject, text: mailer.send_notice(
                settings.alert_email, subject, text)
        listening.replier = SourceReplies(app[HTTP], settings.outbound_timeout_seconds)
        listening.start()

        async def listen(event: MessageReceived) -> None:  # a new message's last step
            if listening.service.wants(event):
                await listening.service.on_message(event)

        automation.listen = listen
        # The transactional outbox: automation owed to a message (a resolve, a hand-off,
        # a score) runs from its durable row, started right after the commit that wrote
        # it; the clock's tick takes the rest (a dead holder's, a retry's).
        followups = app[FOLLOWUPS] = Followups(
            automation.handlers(), settings.followup_lease_seconds,
            settings.followup_max_attempts, settings.followup_backoff_seconds)
        app[INTAKE].kick = followups.kick
        app[DRIPS] = drips.DripRunner(app[MAILER], timezone=settings.shop_timezone,
                                      lease_seconds=settings.drip_lease_seconds)
        # The clock's jobs: each runner claims its due rows itself (the clock only ticks);
        # alone=True: one process at a time. Publishing is its own job (never delays replies).
        every = settings.clock_seconds
        clock = app[CLOCK] = Clock(every, settings.loop_lease_seconds)
        clock.every(every, "tick", app[OUTBOX].deliver_due, followups.sweep)
        clock.every(every, "snoozed", functools.partial(inbox.wake_snoozed, app[BUS]),
                    alone=True)
        clock.every(every, "publish", publisher.run_due)
        broadcaster = BroadcastRunner(app[MAILER], lease_seconds=settings.drip_lease_seconds)
        clock.every(every, "drips", app[DRIPS].run_due, broadcaster.run_due)
        # The inbox reports' roll-up follows the inbox (one process; idempotent).
        clock.every(every, "reports", inbox_facts.refresh, alone=True)
        clock.every(max(every, 30.0), "listening", lambda: listening.tick(app[HTTP]),
                    alone=True)
        # The report roll-ups: read from the raw rows since their watermarks (shop_facts).
        shop_facts.configure(settings.shop_timezone, settings.attribution_days)
        shop_events.set_window(settings.attribution_days)
        clock.every(max(every, 30.0), "shop-facts", shop_facts.refresh_all, alone=True)
        clock.every(attachments.SWEEP_SECONDS, "attachments",
                    functools.partial(attachments.sweep, settings), alone=True)
        running = [a for a in adapters.values() if isinstance(a, RunsAccounts)]
        for adapter in running:  # per-account loops (Telegram polling, webhooks)
            await adapter.start()
        async with clock.running():
            yield
        for adapter in running:
            await adapter.stop()
        app[INTAKE].kick = None
        await followups.drain()
        await app[OUTBOX].drain()
        await app[BUS].drain()
        await listening.close()

    desk = Desk(settings, app[BUS], reply=inbox_commands.reply_to_notification, flow=flows.answer)
    ctx = ChannelContext(
        ingest=lambda m: app[INTAKE].ingest(m),
        settings=settings, get_account=account_cache.channel_account,
        render=lambda name, data: app[JINJA].get_template(name).render(**data),
        contact_history=contacts.contact_history,
        update_contact=contacts.update_contact_fields,
        edit=lambda acct, ext, text, when: inbox.edit_inbound(acct, ext, text, when, app[BUS]),
        list_accounts=account_cache.enabled_accounts, staff_input=desk.handle,
        staff_commands=desk.names(), thread_known=contacts.thread_known, in_flow=flows.active,
        mark_bounced=consent.mark_bounced, bus=app[BUS],
        load_message=contacts.message_for_socket, message_files=attachments.of_message,
        contact_file=attachments.of_contact)

    async def bind_http(app: web.Application) -> AsyncIterator[None]:
        ctx.session = app[HTTP]
        yield

    async def events_relay(app: web.Application) -> AsyncIterator[None]:
        # other processes on the same PostgreSQL hear the crossing events (bot.core.relay)
        async with relay_for(settings, app[BUS]):
            yield

    app[ADAPTERS] = registry.build_all(ctx)
    app.cleanup_ctx.extend([database, events_relay, http, bind_http, channels])

    async def close_sockets(app: web.Application) -> None:
        await app[HUB].close_all()
        for adapter in app[ADAPTERS].values():
            closer = getattr(adapter, "close_all", None)
            if closer:
                await closer()

    app.on_shutdown.append(close_sockets)

    eps = [*api_endpoints(), *posts_api.endpoints(), *marketing_api.endpoints(),
           *listening_api.endpoints()]
    for adapter in app[ADAPTERS].values():
        eps.extend(adapter.endpoints())
        app.router.add_routes(adapter.routes())
    app[ENDPOINTS] = eps
    mount(app, eps, settings.max_body_bytes)
    app.router.add_get("/calendar/{token}.ics", ics_feed)
    media.setup(app)
    static = app.router.add_static("/static/", STATIC, append_version=True)

    @functools.lru_cache(maxsize=64)  # the files change with a deploy, which restarts
    def static_url(name: str) -> str:
        return str(static.url_for(filename=name))  # /static/name?v=<the file's hash>

    app[JINJA].globals["static"] = static_url
    web_marketing.setup(app)
    web_listening.setup(app)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_view)
    web_posts.setup(app)
    pages.setup(app)
    return app

