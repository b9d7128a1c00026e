"""The PostgreSQL backend's tables, created in its schema on first use (each `IF NOT EXISTS`, so a
database made by an older nubes gains the new ones).

A stack's state: states, journal, history, stack_files, locks (nubes.engine.state.postgres).
What every front end shares: activity (the activity log). What `nubes serve` processes share
(nubes.server.shared): servers (each one's heartbeat), jobs and job_events, sessions (the
console's, by the SHA-256 of their cookie), reviews (reviewed plans, as plan files).
"""

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.states (
    stack text NOT NULL, workspace text NOT NULL, serial bigint NOT NULL,
    lineage text NOT NULL, data bytea NOT NULL, written_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stack, workspace, serial));
CREATE TABLE IF NOT EXISTS {s}.journal (
    stack text NOT NULL, workspace text NOT NULL, seq bigserial, records text NOT NULL,
    PRIMARY KEY (stack, workspace, seq));
CREATE TABLE IF NOT EXISTS {s}.history (
    seq bigserial PRIMARY KEY, stack text NOT NULL, workspace text NOT NULL,
    serial bigint NOT NULL, applied_at text NOT NULL, digest text NOT NULL, file text NOT NULL,
    who text NOT NULL, summary text NOT NULL);
CREATE INDEX IF NOT EXISTS history_stack ON {s}.history (stack, workspace, seq);
CREATE TABLE IF NOT EXISTS {s}.stack_files (
    stack text NOT NULL, digest text NOT NULL, text text NOT NULL, PRIMARY KEY (stack, digest));
CREATE TABLE IF NOT EXISTS {s}.locks (
    stack text NOT NULL, workspace text NOT NULL, info text NOT NULL, holder_pid int NOT NULL,
    PRIMARY KEY (stack, workspace));
CREATE TABLE IF NOT EXISTS {s}.activity (
    seq bigserial PRIMARY KEY, at double precision NOT NULL, who text NOT NULL,
    via text NOT NULL, action text NOT NULL, target text NOT NULL, result text NOT NULL,
    detail text NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.servers (
    id text PRIMARY KEY, address text NOT NULL, lease double precision NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(), seen_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS {s}.jobs (
    id text PRIMARY KEY, stack text NOT NULL, kind text NOT NULL, who text NOT NULL,
    via text NOT NULL, state text NOT NULL, summary text NOT NULL, diagnostics text NOT NULL,
    server text NOT NULL, cancel boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX IF NOT EXISTS jobs_live ON {s}.jobs (server) WHERE state IN ('queued', 'running');
CREATE TABLE IF NOT EXISTS {s}.job_events (
    job text NOT NULL, seq int NOT NULL, event text NOT NULL, PRIMARY KEY (job, seq));
CREATE TABLE IF NOT EXISTS {s}.reviews (
    id text PRIMARY KEY, stack text NOT NULL, who text NOT NULL,
    made_at double precision NOT NULL, doc text NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.sessions (
    id_hash text PRIMARY KEY, username text NOT NULL, csrf text NOT NULL,
    created double precision NOT NULL, seen double precision NOT NULL);
"""
