"""The embedded simulated cloud (`driver: sim`): stateful, persistent, honest.

Like Deltacloud's mock driver, but it keeps its objects in SQLite under `<state dir>/sim/` (or
`data_dir:`), so separate processes see one cloud, and it models latency, boot time, transient
failures and quotas. It needs no credentials.
"""

from nubes.providers.sim.driver import SimDriver

__all__ = ["SimDriver"]
