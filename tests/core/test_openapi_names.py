"""Each endpoint's body and response in the OpenAPI document is that endpoint's own model,
even where two features name their models alike (the inbox's and listening's ``RuleIn``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.app import create_app
from bot.core.keys import ENDPOINTS
from bot.core.openapi import openapi
from tests.conftest import make_settings


def _schema(doc: dict[str, Any], ref: dict[str, Any]) -> Any:
    ref = ref.get("items", ref)  # a list's items
    return doc["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]


def test_every_endpoint_documents_its_own_models(tmp_path: Path) -> None:
    endpoints = create_app(make_settings(tmp_path), migrate=False)[ENDPOINTS]
    doc = openapi(endpoints, "1")
    names = {model.__name__ for ep in endpoints for model in (ep.body, ep.response) if model}
    assert {"RuleIn", "ContactIn"} <= names
    for ep in endpoints:
        op = doc["paths"][ep.path][ep.method.lower()]
        for model, documented in (
                (ep.body, op.get("requestBody", {}).get("content", {})),
                (ep.response, op["responses"][str(ep.status)].get("content", {}))):
            if model is None:
                continue
            expected = model.model_json_schema()
            got = _schema(doc, documented["application/json"]["schema"])
            assert (got["title"], set(got.get("properties", {})), got.get("required")) == (
                expected["title"], set(expected.get("properties", {})),
                expected.get("required")), (ep.method, ep.path, model.__name__)
