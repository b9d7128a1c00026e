"""schemathesis against a live server with the sim cloud: the API must hold to its own OpenAPI
document (no server errors, documented status codes and content types).

(schemathesis' pytest plugin does not load under this pytest, so the operations are walked here
with its own strategies and checks.)"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from tests.server_harness import TOKEN

HEADERS = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"}


def test_the_api_keeps_its_promises(api: str) -> None:
    schema = schemathesis.openapi.from_url(f"{api}/api/openapi.json", headers=HEADERS)
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=12,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):  # type: ignore[no-untyped-def]
            # A schema-valid create can still name an image or profile the cloud does not have:
            # that is a 400, not a broken promise, so this one check is left out.
            case.call_and_validate(headers=HEADERS, excluded_checks=[positive_data_acceptance])

        check()
        checked += 1
    assert checked >= 30  # every route of docs/api.md, not a silently empty run
