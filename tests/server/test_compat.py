"""Backward compatibility, for good: nothing in the stored OpenAPI document or XML names may
disappear or become stricter.

After an intended addition: python -m nubes.server.compat --write."""

from __future__ import annotations

import json

from nubes.server.compat import DOCS, current_openapi, json_fields, openapi_problems, xml_names


def test_the_openapi_document_only_grows() -> None:
    stored = json.loads((DOCS / "openapi.json").read_text())
    assert openapi_problems(stored, current_openapi()) == []


def test_xml_names_only_grow() -> None:
    stored = set(json.loads((DOCS / "xml-names.json").read_text()))
    assert stored - set(xml_names()) == set()


def test_the_checker_sees_removals() -> None:
    stored = current_openapi()
    shrunk = json.loads(json.dumps(stored))
    del shrunk["paths"]["/api/instances"]
    assert "route /api/instances was removed" in openapi_problems(stored, shrunk)


def test_the_checker_sees_removed_json_fields() -> None:
    stored = current_openapi()
    shrunk = json.loads(json.dumps(stored))
    del shrunk["components"]["schemas"]["Instance"]["properties"]["public_addresses"]
    problems = openapi_problems(stored, shrunk)
    assert "GET /api/instances 200: instances[].public_addresses was removed" in problems
    assert "GET /api/instances/{id} 200: instance.public_addresses was removed" in problems


def test_json_answers_are_described() -> None:
    fields = json_fields(current_openapi())
    assert "GET /api/instances 200: instances[].hardware_profile.href" in fields
    assert "POST /api/keys 201: key.pem" in fields
    assert "GET /api/realms/{id} 404: error.message" in fields
