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
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.json_schema import models_json_schema

from bot.core.auth import Perm, authenticate_api, has_perm
from bot.core.clean import MAX_ID, db_id, without_nul
from bot.core.errors import InboxError
from bot.models import User

_PATH_PARAM = re.compile(r"\{(\w+)\}")
MAX_PAGE = 10**9  # page x per_page stays an offset the database takes


class Strict(BaseModel):
    """A request body that refuses fields it does not know."""

    model_config = ConfigDict(extra="forbid")


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
        return o.model_dump(mode="json")
    if hasattr(o, "value"):
        return o.value
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def json_out(data: Any, status: int = 200) -> web.Response:
    body = data.model_dump_json() if isinstance(data, BaseModel) else dumps(data)
    return web.Response(text=body, status=status, content_type="application/json")


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
    perm: Perm | None  # None: no staff auth (the route authenticates some other way)
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    raw_check: RawCheck | None = None  # runs on the raw body before parsing (signatures)
    security: str = "bearer"  # "bearer", "signature" or "none" (for the document)
    responses: dict[int, str] = field(default_factory=dict)


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


def parse_body(model: type[BaseModel], raw: bytes) -> Any:
    """Validate a JSON body (pydantic parses the bytes itself): 400 if it is not JSON at
    all, 422 naming the first bad field otherwise."""
    try:
        if b"\\u0000" in raw:  # a NUL in some string: parsed here, to drop it
            try:
                data = json.loads(raw)
            except ValueError as exc:
                raise ApiError(400, "malformed_json", f"body is not valid JSON: {exc}"
                               ) from None
            body = model.model_validate(without_nul(data))
        else:
            body = model.model_validate_json(raw or b"null")
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
            loc = _oversized(getattr(value, name), name)
            if loc is not None:
                raise ApiError(422, "invalid", f"{loc}: out of range", loc)
    return value


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


def _wrap(ep: Endpoint, limit: int) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            user = None
            if ep.perm is not None:
                user = await authenticate_api(request)
                if user is None:
                    raise ApiError(401, "unauthenticated",
                                   "send 'Authorization: Bearer <token>' or log in")
                if not has_perm(user, ep.perm):
                    raise ApiError(403, "forbidden",
                                   f"role {user.role.value!r} may not {ep.perm.value}")
            call = Call(request, user)
            if ep.query is not None:
                try:
                    call.query = ep.query.model_validate(without_nul(dict(request.query)))
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
            return error_response(exc.status, exc.code, str(exc), exc.field)

    handle.__name__ = ep.handler.__name__
    return handle


def mount(app: web.Application, endpoints: list[Endpoint], limit: int) -> None:
    for ep in endpoints:
        app.router.add_route(ep.method, ep.path, _wrap(ep, limit), name=ep.handler.__name__)


def openapi(endpoints: list[Endpoint], version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document for these endpoints.

    Pydantic names every model of every endpoint in one pass, so two models with one class
    name (the inbox's and listening's ``RuleIn``) get distinct, module-qualified names instead
    of one overwriting the other.
    """
    models = sorted({m for ep in endpoints for m in (ep.body, ep.response, ep.query) if m},
                    key=lambda m: (m.__module__, m.__qualname__))
    refs, defs = models_json_schema([(m, "validation") for m in models],
                                    ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))

    def ref(model: type[BaseModel]) -> dict[str, str]:
        return {"$ref": refs[(model, "validation")]["$ref"]}

    error_schema = {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"], "properties": {
            "code": {"type": "string"}, "message": {"type": "string"},
            "field": {"type": "string"}}}}}
    schemas["Error"] = error_schema
    err = {"description": "error", "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}}
    paths: dict[str, Any] = {}
    for ep in endpoints:
        op: dict[str, Any] = {"summary": ep.summary, "tags": [ep.tag],
                              "operationId": ep.handler.__name__}
        params = [{"name": n, "in": "path", "required": True,
                   "schema": {"type": "integer" if n.endswith("id") else "string"}}
                  for n in _PATH_PARAM.findall(ep.path)]
        if ep.query is not None:
            qs = schemas[ref(ep.query)["$ref"].rsplit("/", 1)[1]]
            for name, prop in qs.get("properties", {}).items():
                params.append({"name": name, "in": "query",
                               "required": name in qs.get("required", []), "schema": prop})
        if params:
            op["parameters"] = params
        if ep.body is not None:
            op["requestBody"] = {"required": True,
                                 "content": {"application/json": {"schema": ref(ep.body)}}}
        ok: dict[str, Any] = {"description": ep.responses.get(ep.status, "success")}
        if ep.response is not None:
            ok["content"] = {"application/json": {"schema": ref(ep.response)}}
        responses: dict[str, Any] = {str(ep.status): ok}
        for code, text in ep.responses.items():
            if code != ep.status:
                responses[str(code)] = ({"description": text, "content": ok.get("content", {})}
                                        if code < 300 else {**err, "description": text})
        if ep.perm is not None:
            responses.setdefault("401", {**err, "description": "not authenticated"})
            responses.setdefault("403", {**err, "description": "role not allowed"})
            op["security"] = [{"bearer": []}]
        elif ep.security == "signature":
            op["security"] = [{"signature": []}]
        else:
            op["security"] = []
        if ep.body is not None:
            responses.setdefault("400", {**err, "description": "malformed JSON"})
            responses.setdefault("413", {**err, "description": "body too large"})
        if ep.body is not None or ep.query is not None:
            responses.setdefault("422", {**err, "description": "invalid field"})
        op["responses"] = responses
        paths.setdefault(ep.path, {})[ep.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Switchboard API", "version": version,
                 "description": "The unified inbox of a shop: conversations, contacts, "
                                "channel accounts, and the API channel."},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "signature": {"type": "apiKey", "in": "header", "name": "X-Switchboard-Signature",
                          "description": "sha256=<hex HMAC-SHA256 of the raw body, keyed "
                                         "with the channel account's secret>"}}},
    }
