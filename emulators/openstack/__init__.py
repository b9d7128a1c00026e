"""An OpenStack cloud on one port: Keystone (v2.0 and v3), Nova (v2.1 with microversions),
Glance v2, Cinder v3, Neutron v2.0 and Swift, for what clients of a small public cloud use.

Laid out as moto is: `urls` (routing only), one `responses` module per service with one handler
per API action named after it, `models` (domain state only, per project and region), and
`exceptions` (each service's own fault documents, codes and messages). State that takes time
(BUILD, creating, attaching) is settled lazily from the clock, so there are no threads; knobs
(`Knobs`) set boot time, latency, faults, token lifetime and quotas.

Services live under one origin as devstack lays them out: `/identity`, `/compute/v2.1/{project}`,
`/image`, `/volume/v3/{project}`, `/network`, `/object-store/v1/AUTH_{project}`.
"""
