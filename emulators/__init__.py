"""Protocol-faithful clouds on 127.0.0.1, one package per cloud, laid out as moto is.

An emulator shares no code with the driver it is used to test (tests/test_layers.py checks that
it imports nothing of nubes outside `emulators`): the clients nobody here wrote (the cloud's own
SDK, Libcloud) judge it, and only then does a driver passing against it mean anything.
`nubes emulate CLOUD` starts one; `EMULATORS` names them.
"""

from __future__ import annotations

EMULATORS = {
    "openstack": "nubes.emulators.openstack.server",
    "rackspace": "nubes.emulators.openstack.server",  # the same, with Rackspace's catalog
}
