"""What every driver shares, composed rather than inherited: a driver picks the parts it needs.

* `settings`  — a pydantic model per driver; problems as (setting, problem) pairs
* `http`      — an httpx transport: auth hook, retries with backoff and jitter honouring
                Retry-After, pagination, call counters, timeouts, an injectable client, cancelling
* `waits`     — waiting for a state, and polling a cloud's asynchronous task documents
* `errors`    — an error map from a cloud's codes and statuses to `providers.errors` types
* `states`    — a state map from a cloud's states to the portable ones, `unknown` by default
* `ownership` — ownership by tags, or encoded in a name where a cloud has no tags; adopting an
                object by its token after a duplicate-name conflict or a lost response
* `choose`    — the one "smallest profile that fits" and "newest matching image" rules
* `checks`    — the plan checks every driver makes (image, profile, realm exist; firewall rules)
* `handlers`  — one handler per resource type, dispatched once

A driver writes its converters, its error table, its handlers and its settings model; the
guide is docs/drivers.md, with the sim and EC2 drivers as its worked examples.
"""
