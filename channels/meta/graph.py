"""A small client for Meta's Graph API (Facebook Pages, Instagram business accounts).

Requests carry the access token as the ``access_token`` parameter, as Meta documents;
answers are JSON, errors ``{"error": {"message", "type", "code", "error_subcode"?}}``.
:func:`failure` turns an error into the channel error tree, so the outbox and the
publisher can tell "try later" (rate limits, 5xx, network) from "never" (bad token,
missing permission, rejected content) and from "nobody knows" (a timeout after the
request went out).
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from bot.core.channel import (
    ChannelError,
    DeliveryError,
    OutcomeUnknown,
    PermanentDeliveryError,
    RecipientUnreachable,
)
from bot.core.i18n import N_
from bot.core.outbound import TooLarge, read_capped, url_path
from bot.core.said import Said

DEFAULT_API = "https://graph.facebook.com/v21.0"
# Graph's throttling codes: app (4), user (17), page (32), action-specific (613), and the
# business-use-case range for Pages and Instagram (80001-80014).
RATE_LIMIT_CODES = {4, 17, 32, 613, *range(80001, 80015)}
TRANSIENT_CODES = {1, 2}  # "unknown error", "service temporarily unavailable"
TOKEN_CODES = {102, 190}  # the session or access token is invalid or expired
PERMISSION_CODES = {10, 200, 3, *range(200, 300)}
UNREACHABLE_CODES = {551}  # "this person isn't available right now"
UNREACHABLE_SUBCODES = {2018108, 2018278, 1545041}  # blocked, outside the 24 h window, gone
RATE_LIMIT_WAIT = 60.0  # seconds: Graph does not say how long; its windows are hourly-ish
ANSWER_BYTES = 4 * 1024 * 1024  # no Graph answer we read is near this: past it, an error


class GraphError(Exception):
    """An error answer from the Graph API."""

    def __init__(self, status: int, code: int, subcode: int, message: str) -> None:
        super().__init__(f"{message} (code {code}{f'/{subcode}' if subcode else ''})")
        self.status, self.code, self.subcode, self.message = status, code, subcode, message


class Graph:
    """One Graph API base URL and access token, over the server's shared HTTP session."""

    def __init__(self, http: aiohttp.ClientSession, base: str, token: str,
                 timeout: float = 20.0) -> None:
        self.http, self.base, self.token = http, base.rstrip("/"), token
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    async def get(self, node: str, **params: Any) -> dict[str, Any]:
        return await self._call("GET", node, params)

    async def post(self, node: str, **params: Any) -> dict[str, Any]:
        return await self._call("POST", node, params)

    async def upload(self, node: str, file: tuple[str, bytes, str, str],
                     **params: Any) -> dict[str, Any]:
        """A POST as multipart form data with one file: ``file`` is (field, bytes, file
        name, content type), e.g. the Send API's ``filedata``."""
        return await self._call("POST", node, params, file)

    async def _call(self, method: str, node: str, params: dict[str, Any],
                    file: tuple[str, bytes, str, str] | None = None) -> dict[str, Any]:
        """One call. Raises GraphError for an error answer; a connection that could not be
        made is a DeliveryError; one lost after the request went out is OutcomeUnknown."""
        data = {k: _wire(v) for k, v in params.items() if v is not None}
        data["access_token"] = self.token
        form: dict[str, str] | aiohttp.FormData = data
        if file is not None:
            form = aiohttp.FormData(data)
            form.add_field(file[0], file[1], filename=file[2], content_type=file[3])
        url = f"{self.base}/{graph_path(node)}"
        status = 0
        try:
            if method == "GET":
                resp_cm = self.http.get(url, params=data, timeout=self.timeout)
            else:
                resp_cm = self.http.post(url, data=form, timeout=self.timeout)
            async with resp_cm as resp:
                status = resp.status
                raw = await read_capped(resp, ANSWER_BYTES)
        except TooLarge as exc:
            if status >= 400:
                raise GraphError(status, 2 if status >= 500 else 0, 0,
                                 f"HTTP {status} with {exc}") from exc
            raise OutcomeUnknown(f"the Graph API answered HTTP {status} but {exc}; the "
                                 f"request may have been carried out") from exc
        except aiohttp.ClientConnectorError as exc:  # nothing was sent
            raise DeliveryError(Said(N_("cannot reach the Graph API at %(url)s: %(detail)s"),
                                     url=self.base, detail=str(exc))) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise OutcomeUnknown(Said(N_("the Graph API did not answer (%(detail)s); the "
                                         "request may have been carried out"),
                                      detail=type(exc).__name__)) from exc
        try:
            body = json.loads(raw)
        except ValueError:  # UnicodeDecodeError included
            body = None
        if not isinstance(body, dict):
            raise GraphError(status, 2 if status >= 500 else 0, 0,
                             f"HTTP {status} with no JSON answer")
        if status >= 400 or "error" in body:
            err = body.get("error") or {}
            raise GraphError(status, int(err.get("code") or 0),
                             int(err.get("error_subcode") or 0),
                             str(err.get("message") or f"HTTP {status}"))
        return body


def graph_path(node: str) -> str:
    """``node`` ("<id>/<edge>", ids from account settings and webhooks) as a path under
    the base URL: each segment percent-encoded, so an id holding "?", "#", "%" or "@"
    stays in its segment instead of adding a query or leaving the API's path."""
    try:
        return url_path(node)
    except ValueError:
        raise PermanentDeliveryError(f"not a Graph API node: {node[:100]!r}") from None


def _wire(value: Any) -> str:
    """Graph takes lists and objects as JSON strings in form parameters."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def failure(exc: GraphError, network: str) -> ChannelError:
    """What a Graph error means for a send or a publish that has not gone out (Meta's own
    words, ``exc``, are shown as they are inside our translated frame)."""
    said = {"network": network, "detail": str(exc)}
    if exc.status == 429 or exc.code in RATE_LIMIT_CODES:
        return DeliveryError(Said(N_("rate limited by %(network)s (%(detail)s)"), **said),
                             RATE_LIMIT_WAIT)
    if exc.status >= 500 or exc.code in TRANSIENT_CODES:
        return DeliveryError(Said(N_("%(network)s is unavailable: %(detail)s"), **said))
    if exc.code in TOKEN_CODES:
        return PermanentDeliveryError(Said(N_("the access token stopped working: "
                                              "%(network)s (%(detail)s)"), **said))
    if exc.code in UNREACHABLE_CODES or exc.subcode in UNREACHABLE_SUBCODES:
        return RecipientUnreachable(Said(N_("%(network)s cannot deliver to this person: "
                                            "%(detail)s"), **said))
    if exc.code in PERMISSION_CODES:
        return PermanentDeliveryError(Said(N_("missing permission on %(network)s "
                                              "(%(detail)s)"), **said))
    return PermanentDeliveryError(Said(N_("%(network)s rejected it: %(detail)s"), **said))
