from __future__ import annotations

from pathlib import Path

import pytest

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


# What `make test-fast` leaves out: modules that start servers or many processes (moto, the
# chaos kills, the hostile-input corpus run as processes, schemathesis), each well over a second.
SLOW = (
    "tests/providers/ec2/",
    "tests/providers/openstack/",
    "tests/emulators/",
    "tests/backends/",
    "tests/engine/test_chaos.py",
    "tests/engine/test_large_inputs.py",
    "tests/cli/test_e2e.py",
    "tests/cli/test_environment_failures.py",
    "tests/cli/test_lock_protection.py",
    "tests/providers/test_sim_store.py",
    "tests/server/test_schemathesis.py",
    "tests/server/test_serve.py",
    "tests/test_bad_input.py",
    "tests/test_packaging.py",
    "tests/clients/",
    "tests/console/test_console_browser.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(__file__).resolve().parents[1]
    for item in items:
        where = item.path.resolve().relative_to(root).as_posix()
        if where.startswith(SLOW):
            item.add_marker(pytest.mark.slow)
