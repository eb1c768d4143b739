"""Create the example project's database when it does not exist yet.

`make demo` (and anything else run on `DATABASE_URL=postgres://.../name`) should not stop at a
traceback because `name` was never created: on PostgreSQL this connects to the `postgres`
maintenance database and creates it. A SQLite file is created by its first connection.
"""

from __future__ import annotations

from typing import Any

POSTGRES = "django.db.backends.postgresql"


class DatabaseUnavailable(Exception):
    """The database is missing and could not be created; the message is one line that says
    what to do."""


def ensure_database(settings_dict: dict[str, Any]) -> bool:
    """Create the PostgreSQL database that `settings_dict` (one entry of `DATABASES`) names,
    if it is missing. Returns whether it created it."""
    if settings_dict["ENGINE"] != POSTGRES:
        return False
    import psycopg
    from psycopg import sql

    name = settings_dict["NAME"]
    params = {
        "host": settings_dict.get("HOST"),
        "port": settings_dict.get("PORT"),
        "user": settings_dict.get("USER"),
        "password": settings_dict.get("PASSWORD"),
    }
    params = {key: value for key, value in params.items() if value}
    try:
        with psycopg.connect(
            dbname="postgres", autocommit=True, connect_timeout=10, **params
        ) as db:
            if db.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                return False
            try:
                db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except psycopg.errors.DuplicateDatabase:  # created meanwhile by another process
                return False
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split())
        flags = [f"-{flag} {params[key]}" for flag, key in _CREATEDB_FLAGS if key in params]
        createdb = " ".join(["createdb", *flags, name])
        raise DatabaseUnavailable(
            f"Database {name!r} is missing and could not be created ({reason}); "
            f"create it with `{createdb}` or fix DATABASE_URL."
        ) from exc
    return True


_CREATEDB_FLAGS = (("h", "host"), ("p", "port"), ("U", "user"))
