"""The OpenStack driver (`driver: openstack`) and Rackspace, the same driver with Rackspace's
identity, catalog names and regions (`driver: rackspace`), on httpx (providers/kit/http.py).

Guarantees: credentials come from the `OS_*` environment, a clouds.yaml entry or the nubes
credentials file, never from the stack; every create carries its owner in the creating call
(server and volume metadata, image properties, container headers, the description of security
groups and floating IPs); refresh is one paginated list per type.
"""

from nubes.providers.openstack.driver import OpenStackDriver, RackspaceDriver

__all__ = ["OpenStackDriver", "RackspaceDriver"]
