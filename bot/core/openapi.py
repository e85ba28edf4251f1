"""The OpenAPI 3.1 document, built from the very :class:`~bot.core.http.Endpoint` objects
:func:`~bot.core.http.mount` serves, so the document cannot drift from what the server does.

Every operation documents, besides its own answers, the errors the mount (and the server
under it) can give any operation, all in the one ``Error`` shape: 400 (malformed JSON, or a
request line or header the HTTP parser refuses: that one is plain text), 401 and 403 (staff
auth, a browser session's missing CSRF token, a webhook's signature), 404 (no such id),
405 (a method the path does not have, with ``Allow``), 413 (body too large), 422 (a field
the schema or the service refuses) and 429 (a rate limit, with ``Retry-After``).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from bot.core.clean import MAX_ID
from bot.core.http import Endpoint

_ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"], "properties": {
            "code": {"type": "string"}, "message": {"type": "string"},
            "field": {"type": "string"}}}}}
# Answers the mount or the server gives any operation (401/403 only where auth applies).
STANDARD: dict[int, str] = {
    400: "malformed JSON, a request the service refuses (error.code and error.field say "
         "why), or a request line or header the HTTP parser refuses (plain text)",
    401: "not authenticated (no or wrong token, session or signature)",
    403: "role not allowed, or a browser session's unsafe call without X-CSRF-Token",
    404: "no such resource (an id in the path, or one the body names)",
    405: "the path has no such method (Allow lists the ones it has)",
    413: "body too large",
    422: "a field is invalid (error.field names it)",
    429: "rate limited: wait Retry-After seconds",
}
CONFLICT = "conflicts with what is stored (a name or key taken, a state that forbids it)"
_HEADERS: dict[int, dict[str, Any]] = {
    405: {"Allow": {"required": True, "schema": {"type": "string"}}},
    429: {"Retry-After": {"required": True, "schema": {"type": "integer"},
                          "description": "seconds to wait"}},
}


def _error(code: int, text: str) -> dict[str, Any]:
    content: dict[str, Any] = {"application/json": {"schema": _ERROR_REF}}
    if code == 400:  # the HTTP parser's own words (a request line or header too long)
        content["text/plain"] = {"schema": {"type": "string"}}
    out: dict[str, Any] = {"description": text, "content": content}
    if code in _HEADERS:
        out["headers"] = _HEADERS[code]
    return out


def openapi(endpoints: list[Endpoint], version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document for these endpoints.

    Pydantic names every model of every endpoint in one pass, so two models with one class
    name (the inbox's and listening's ``RuleIn``) get distinct, module-qualified names instead
    of one overwriting the other.
    """
    inputs = {m for ep in endpoints for m in (ep.body, ep.query) if m}
    outputs = {ep.response for ep in endpoints if ep.response}
    modes: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        *((m, "validation") for m in inputs), *((m, "serialization") for m in outputs)]
    pairs = sorted(modes, key=lambda p: (p[0].__module__, p[0].__qualname__, p[1]))
    refs, defs = models_json_schema(pairs, ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    _bound_integers(schemas)

    def ref(model: type[BaseModel], mode: JsonSchemaMode = "validation") -> dict[str, str]:
        return {"$ref": refs[(model, mode)]["$ref"]}

    schemas["Error"] = ERROR_SCHEMA
    signatures: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for ep in endpoints:
        op: dict[str, Any] = {"summary": ep.summary, "tags": [ep.tag],
                              "operationId": ep.handler.__name__}
        params = [{"name": n, "in": "path", "required": True,
                   "schema": ep.path_schemas.get(n) or (
                       {"type": "integer", "minimum": 0, "maximum": MAX_ID}
                       if n.endswith("id") or n == "index" else {"type": "string"})}
                  for n in _path_params(ep.path)]
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
            schema: dict[str, Any] = ref(ep.response, "serialization")
            ok["content"] = {"application/json": {"schema": (
                {"type": "array", "items": schema} if ep.many else schema)}}
        responses: dict[str, Any] = {str(ep.status): ok}
        for code, text in ep.responses.items():
            if code != ep.status:
                responses[str(code)] = ({"description": text, "content": ok.get("content", {})}
                                        if code < 300 else _error(code, text))
        if ep.body is not None:
            responses.setdefault("409", _error(409, CONFLICT))
        authed = ep.perm is not None or ep.security == "signature"
        for code, text in STANDARD.items():
            if authed or code not in (401, 403):
                responses.setdefault(str(code), _error(code, text))
        if ep.perm is not None:
            op["security"] = [{"bearer": []}, {"session": [], "csrf": []}]
        elif ep.security == "signature":
            header = ep.signature_header or "X-Switchboard-Signature"
            name = _signature_scheme(header)
            signatures[name] = {"type": "apiKey", "in": "header", "name": header,
                                "description": ep.signature_help}
            op["security"] = [{name: []}]
        else:
            op["security"] = []
        op["responses"] = responses
        paths.setdefault(ep.path, {})[ep.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Switchboard API", "version": version,
                 "description": "The unified inbox of a shop: conversations, contacts, "
                                "channel accounts, and the API channel. Text is cleaned on "
                                "the way in: a NUL character is dropped and a lone surrogate "
                                "becomes U+FFFD, before the lengths are checked (so a name "
                                "of NULs only is empty)."},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "session": {"type": "apiKey", "in": "cookie", "name": "sb_session",
                        "description": "A browser session (log in at /login)."},
            "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token",
                     "description": "The session's CSRF token; unsafe methods (POST, PUT, "
                                    "PATCH, DELETE) with a session need it."},
            **signatures}},
    }


def _bound_integers(node: Any) -> None:
    """Give every integer without bounds the database's (the mount refuses others, 422):
    PostgreSQL's ``integer``; a bigint field states its own."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            node.setdefault("minimum", -MAX_ID - 1)
            node.setdefault("maximum", MAX_ID)
        for value in node.values():
            _bound_integers(value)
    elif isinstance(node, list):
        for value in node:
            _bound_integers(value)


def _path_params(path: str) -> list[str]:
    """The names in ``{…}``, a part such as ``{table}.csv`` too."""
    return re.findall(r"\{(\w+)\}", path)


def _signature_scheme(header: str) -> str:
    """The security scheme's name for a signature header: ``signature`` for ours."""
    if header == "X-Switchboard-Signature":
        return "signature"
    return "signature_" + "".join(c for c in header.lower() if c.isalnum())
