"""How nubes reaches PostgreSQL: the connection string wins over libpq's PG* variables (as in
libpq), the server is asked to watch each session with keepalives, and no secret of the
connection appears in an error."""

from __future__ import annotations

from nubes.engine.state.postgres import connect_kwargs, describe_pg_error


def test_the_connection_string_wins_over_the_variables() -> None:
    environ = {
        "NUBES_POSTGRES_DSN": "host=db.internal port=5433 password=from-dsn",
        "PGPORT": "1",
        "PGPASSWORD": "left-over",
        "PGUSER": "nubes",
    }
    dsn, kwargs = connect_kwargs(environ)
    assert dsn == environ["NUBES_POSTGRES_DSN"]
    assert "port" not in kwargs and "password" not in kwargs  # the string's own are used
    assert kwargs["user"] == "nubes"  # what the string leaves out still comes from PG*
    assert "tcp_keepalives_idle=10" in kwargs["options"]
    _, kwargs = connect_kwargs({"NUBES_POSTGRES_DSN": "postgresql://u:pw@h:6/db", "PGPORT": "1"})
    assert "port" not in kwargs


def test_errors_never_repeat_a_connection_secret() -> None:
    environ = {"NUBES_POSTGRES_DSN": "postgresql://alice:p%zzsecret@db/x", "PGPASSWORD": "hunter22"}
    text = describe_pg_error(
        ValueError('invalid percent-encoded token: "p%zzsecret" and hunter22'),
        "connect to",
        environ,
    )
    assert "p%zzsecret" not in text and "hunter22" not in text and "(hidden)" in text
