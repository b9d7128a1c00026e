"""Backward compatibility, for good: nothing in the stored OpenAPI document or XML names may
disappear or become stricter.

After an intended addition: python -m nubes.server.compat --write."""

from __future__ import annotations

import json

from nubes.server.compat import DOCS, current_openapi, openapi_problems, xml_names


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
