"""Declarative JSON endpoints: one definition drives routing, auth, validation and OpenAPI.

Each :class:`Endpoint` names its permission, its body/query models (pydantic) and its
response model. :func:`mount` turns them into aiohttp routes that authenticate, check the
role, bound and parse the body, validate it, and map every failure to the JSON error shape
``{"error": {"code", "message", "field"?}}``. :func:`openapi` builds the OpenAPI 3 document
from the very same objects, so the spec cannot drift from what the server enforces.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError
from tortoise.exceptions import IntegrityError
from tortoise.exceptions import ValidationError as OrmInvalid

from bot.core.auth import Perm, authenticate_api, has_perm
from bot.core.bodies import Instant as Instant
from bot.core.bodies import exactly_one as exactly_one
from bot.core.bodies import omissible as omissible
from bot.core.clean import MAX_ID, db_id, without_nul
from bot.core.errors import InboxError
from bot.models import User

# JSON escapes of NUL and of surrogates (pydantic's parser refuses a lone one, the json
# module keeps it: :func:`bot.core.clean.without_nul` replaces it)
log = logging.getLogger("switchboard.http")
_NEEDS_CLEANING = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
MAX_PAGE = 10**9  # page x per_page stays an offset the database takes


class Strict(BaseModel):
    """A request body that refuses fields it does not know, and values of another JSON type
    than the document says (pydantic's lax mode took false for 0, 0 for false and a number
    for a time: requests the document calls invalid)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def error_response(status: int, code: str, message: str,
                   field: str | None = None, headers: dict[str, str] | None = None
                   ) -> web.Response:
    err: dict[str, Any] = {"code": code, "message": message}
    if field:
        err["field"] = field
    return web.json_response({"error": err}, status=status, headers=headers)


def dumps(obj: Any) -> str:
    return json.dumps(obj, default=_default, ensure_ascii=False)


def _default(o: Any) -> Any:
    if hasattr(o, "isoformat"):
        return o.isoformat()
    if isinstance(o, BaseModel):
        return o.model_dump(mode="json", by_alias=True)
    if hasattr(o, "value"):
        return o.value
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def json_out(data: Any, status: int = 200) -> web.Response:
    try:
        body = (data.model_dump_json(by_alias=True) if isinstance(data, BaseModel)
                else dumps(data)).encode()
    except (UnicodeEncodeError, ValueError):
        # a lone surrogate stored before the way in cleaned it: written as the JSON escape
        # it came as, instead of a 500 on every later read of the row
        body = json.dumps(data.model_dump(mode="python", by_alias=True) if isinstance(
            data, BaseModel) else data, default=_default).encode()
    return web.Response(body=body, status=status, content_type="application/json",
                        charset="utf-8")


@dataclass
class Call:
    """What a handler receives: the request, the user (if any), validated inputs."""

    request: web.Request
    user: User | None
    body: Any = None
    query: Any = None
    raw: bytes = b""

    def param(self, name: str) -> int:
        value = db_id(self.request.match_info[name])
        if value is None:
            raise ApiError(404, "not_found", f"no such {name.replace('_', ' ')}", name)
        return value


Handler = Callable[[Call], Awaitable[web.StreamResponse]]
RawCheck = Callable[[web.Request, bytes], Awaitable[None]]


@dataclass
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    # None: no staff auth (the route authenticates some other way); a tuple: any one of
    # them (the reports: each report then checks its own)
    perm: Perm | tuple[Perm, ...] | None
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    raw_check: RawCheck | None = None  # runs on the raw body before parsing (signatures)
    security: str = "bearer"  # "bearer", "signature" or "none" (for the document)
    responses: dict[int, str] = field(default_factory=dict)
    many: bool = False  # the answer is a JSON list of ``response``
    # A signed webhook's header (the document's; ours when None). When named, a request
    # without it is refused with 401 before anything else (unless the check lets some
    # unsigned request through: ``signature_optional``, a store's ping).
    signature_header: str | None = None
    signature_help: str = ("sha256=<hex HMAC-SHA256 of the raw body, keyed with the "
                           "channel account's secret>")
    signature_optional: bool = False
    # The document's schema of a path parameter, e.g. an enum (a string, or an integer for
    # ``…id``, when not named)
    path_schemas: dict[str, dict[str, Any]] = field(default_factory=dict)


_LOC_PART = re.compile(r"^\w+$")


def field_of(err: ValidationError) -> tuple[str, str]:
    """The dotted path of the first invalid field (union-branch tags left out)."""
    first = err.errors()[0]
    parts = [str(p) for p in first["loc"] if isinstance(p, int) or _LOC_PART.match(str(p))]
    loc = ".".join(parts) or "body"
    return loc, f"{loc}: {first['msg']}"


async def read_body(request: web.Request, limit: int) -> bytes:
    """Read at most ``limit`` bytes; answer 413 beyond (checked before and while reading)."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "too_large", f"request body is larger than {limit} bytes")
    # StreamReader.read(n) returns whatever has arrived, so a body sent in slow chunks
    # must be read in a loop until EOF (or until it proves too large).
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(limit + 1 - size)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "too_large", f"request body is larger than {limit} bytes")


@functools.cache
def _list_fields(model: type[BaseModel]) -> frozenset[str]:
    """The query fields of ``model`` that take a list (``?rule_id=1&rule_id=2``)."""
    props = model.model_json_schema().get("properties", {})
    return frozenset(name for name, p in props.items() if "array" in json.dumps(
        [p.get("type"), [a.get("type") for a in p.get("anyOf", [])]]))


def query_values(model: type[BaseModel], query: Any) -> dict[str, Any]:
    """The query string as ``model`` takes it: a list field gets every value given, any
    other the last one."""
    lists = _list_fields(model)
    return {k: query.getall(k) if k in lists else query.getall(k)[-1] for k in set(query)}


# A number such as 15.0 is an integer to JSON Schema (and so to the document), but not to
# pydantic's strict mode; such numbers are read as the integers they are.
_INTEGRAL = re.compile(rb"\d\.0*[eE,}\]\s]|\d[eE]")


def _integral(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() else value


def parse_body(model: type[BaseModel], raw: bytes) -> Any:
    """Validate a JSON body (pydantic parses the bytes itself): 400 if it is not JSON at
    all, 422 naming the first bad field otherwise."""
    # our own bodies (they refuse unknown fields) strictly, through nested models too;
    # another system's webhook as pydantic reads it by default
    strict = model.model_config.get("extra") == "forbid" or None
    try:
        if _NEEDS_CLEANING.search(raw) or (strict and _INTEGRAL.search(raw)):
            # a NUL or a lone surrogate (parsed here, to clean), or an integral float
            try:
                data = json.loads(raw, parse_float=_integral)
            except (ValueError, RecursionError) as exc:  # (nested deeper than Python goes)
                raise ApiError(400, "malformed_json", f"body is not valid JSON: {exc}"
                               ) from None
            body = model.model_validate_json(json.dumps(without_nul(data)), strict=strict)
        else:
            body = model.model_validate_json(raw or b"null", strict=strict)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            raise ApiError(400, "malformed_json",
                           f"body is not valid JSON: {first['msg']}") from None
        loc, msg = field_of(exc)
        raise ApiError(422, "invalid", msg, loc) from None
    return fits_database(body)


@functools.cache
def _risky_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of ``model`` that hold (or nest) an integer or a date-time: the only
    ones :func:`fits_database` looks at (the inbound webhook's body has one)."""
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})

    def risky(node: Any, seen: frozenset[str]) -> bool:
        if isinstance(node, list):
            return any(risky(v, seen) for v in node)
        if not isinstance(node, dict):
            return False
        if node.get("type") == "integer" or node.get("format") == "date-time":
            return True
        ref = str(node.get("$ref", "")).rsplit("/", 1)[-1]
        if ref and ref not in seen and risky(defs.get(ref), seen | {ref}):
            return True
        return any(risky(v, seen) for k, v in node.items() if k != "$ref")

    props = schema.get("properties", {})
    return tuple(name for name, f in model.model_fields.items()
                 if risky(props.get(f.alias or name), frozenset()))


def fits_database(value: Any) -> Any:
    """``value`` (a validated model) if every integer and time in it fits the database,
    else a 422 naming the first that does not. Pydantic takes integers of any size and
    times such as 9999-12-31T23:59-10:00; one past 2**63 (an id, a position) made the
    database driver raise OverflowError, and such a time overflowed when turned into
    UTC: a 500 either way."""
    if isinstance(value, BaseModel):
        for name in _risky_fields(type(value)):
            if _own_bound(type(value), name):
                continue
            loc = _oversized(getattr(value, name), name)
            if loc is not None:
                raise ApiError(422, "invalid", f"{loc}: out of range", loc)
    return value


@functools.cache
def _own_bound(model: type[BaseModel], name: str) -> bool:
    """The field states its own largest value (a bigint's, a Telegram user id)."""
    field = model.model_fields[name]
    prop = model.model_json_schema()["properties"].get(field.alias or name, {})
    return '"maximum"' in json.dumps(prop)


def _oversized(value: Any, loc: str) -> str | None:
    """The dotted path of the first integer or time in ``value`` a database cannot hold."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if -MAX_ID - 1 <= value <= MAX_ID else loc
    if isinstance(value, datetime):
        try:
            value.astimezone(UTC)
        except (OverflowError, ValueError):
            return loc
        return None
    if isinstance(value, BaseModel):
        items: Any = ((k, getattr(value, k)) for k in type(value).model_fields)
    elif isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _oversized(item, f"{loc}.{key}")
        if found is not None:
            return found
    return None


# A service's plain refusal (400) whose code says more: a name or key taken is a conflict
# with what is stored (409), a row it looked for is not there (404).
_STATUS_OF_CODE = {"exists": 409, "not_found": 404}


def api_status(exc: InboxError) -> int:
    """The HTTP status of a domain error in the API (the pages show the same message)."""
    return _STATUS_OF_CODE.get(exc.code, 400) if exc.status == 400 else exc.status


def _wrap(ep: Endpoint, limit: int) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            user = None
            if ep.perm is not None:
                user = await authenticate_api(request)
                if user is None:
                    raise ApiError(401, "unauthenticated",
                                   "send 'Authorization: Bearer <token>' or log in")
                perms = ep.perm if isinstance(ep.perm, tuple) else (ep.perm,)
                if not any(has_perm(user, p) for p in perms):
                    raise ApiError(403, "forbidden", f"role {user.role.value!r} may not "
                                   + " or ".join(p.value for p in perms))
            elif (ep.signature_header and not ep.signature_optional
                  and not request.headers.get(ep.signature_header)):
                raise ApiError(401, "unsigned", f"send the {ep.signature_header} header")
            call = Call(request, user)
            if ep.query is not None:
                try:
                    call.query = ep.query.model_validate(
                        without_nul(query_values(ep.query, request.query)))
                except ValidationError as exc:
                    loc, msg = field_of(exc)
                    raise ApiError(422, "invalid", msg, loc) from None
                fits_database(call.query)
            if ep.method in ("POST", "PUT", "PATCH"):
                call.raw = await read_body(request, limit)
                if ep.raw_check is not None:
                    await ep.raw_check(request, call.raw)
                if ep.body is not None:
                    call.body = parse_body(ep.body, call.raw)
            return await ep.handler(call)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.message, exc.field)
        except InboxError as exc:
            return error_response(api_status(exc), exc.code, str(exc), exc.field)
        except OrmInvalid as exc:  # the ORM's own check (a length the schema missed)
            log.warning("the ORM refused a value: %s %s: %.200s", request.method,
                        request.path, exc)
            return error_response(422, "invalid", str(exc)[:300])
        except IntegrityError as exc:  # a unique name or key another row took meanwhile
            log.warning("refused a write the database refused: %s %s: %.200s",
                        request.method, request.path, exc)
            return error_response(409, "conflict", "conflicts with a stored row (a name or "
                                  "key that must be unique?)")

    handle.__name__ = ep.handler.__name__
    return handle


def mount(app: web.Application, endpoints: list[Endpoint], limit: int) -> None:
    """Route every endpoint; then, for each path, every other method to a 405 that lists
    the path's methods in ``Allow`` (RFC 9110), as JSON like every other API error."""
    methods: dict[str, list[str]] = {}
    for ep in endpoints:
        app.router.add_route(ep.method, ep.path, _wrap(ep, limit), name=ep.handler.__name__)
        methods.setdefault(ep.path, []).append(ep.method)
    for path, allowed in methods.items():
        app.router.add_route("*", path, _not_allowed(", ".join(sorted(set(allowed)))))


def _not_allowed(allow: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def method_not_allowed(request: web.Request) -> web.StreamResponse:
        return error_response(405, "method_not_allowed",
                              f"{request.method} is not allowed here; use {allow}",
                              headers={"Allow": allow})
    return method_not_allowed
