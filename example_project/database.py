"""Create the example project's database when it does not exist yet.

`make demo` (and anything else run on `DATABASE_URL=postgres://.../name` or
`mysql://.../name`) should not stop at a traceback because `name` was never created: on
PostgreSQL this connects to the `postgres` maintenance database and creates it, on MariaDB
and MySQL it connects without a database and creates it with the character set and
collation the project expects (utf8mb4, compared byte for byte). A SQLite file is created by
its first connection.
"""

from __future__ import annotations

from typing import Any

POSTGRES = "django.db.backends.postgresql"
MYSQL = "django.db.backends.mysql"


class DatabaseUnavailable(Exception):
    """The database is missing and could not be created; the message is one line that says
    what to do."""


def ensure_database(settings_dict: dict[str, Any]) -> bool:
    """Create the PostgreSQL, MariaDB or MySQL database that `settings_dict` (one entry of
    `DATABASES`) names, if it is missing. Returns whether it created it."""
    engine = settings_dict["ENGINE"]
    if engine not in (POSTGRES, MYSQL):
        return False
    params = {
        "host": settings_dict.get("HOST"),
        "port": settings_dict.get("PORT"),
        "user": settings_dict.get("USER"),
        "password": settings_dict.get("PASSWORD"),
    }
    params = {key: value for key, value in params.items() if value}
    create = _create_postgresql if engine == POSTGRES else _create_mysql
    try:
        return create(settings_dict["NAME"], params)
    except _Unavailable as exc:
        reason = " ".join(str(exc.__cause__).split())
        raise DatabaseUnavailable(
            f"Database {settings_dict['NAME']!r} is missing and could not be created "
            f"({reason}); create it with `{exc.how}` or fix DATABASE_URL."
        ) from exc.__cause__


class _Unavailable(Exception):
    def __init__(self, how: str) -> None:
        self.how = how


def _create_postgresql(name: str, params: dict[str, Any]) -> bool:
    import psycopg
    from psycopg import sql

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
        flags = [f"-{flag} {params[key]}" for flag, key in _CREATEDB_FLAGS if key in params]
        raise _Unavailable(" ".join(["createdb", *flags, name])) from exc
    return True


_CREATEDB_FLAGS = (("h", "host"), ("p", "port"), ("U", "user"))

# The demo's MariaDB/MySQL database: full UTF-8, text compared byte for byte.
MYSQL_CREATE = "CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"


def _create_mysql(name: str, params: dict[str, Any]) -> bool:
    import MySQLdb

    connect = {
        "host": params.get("host", "localhost"),
        "user": params.get("user", "root"),
        "connect_timeout": 10,
    }
    if "port" in params:
        connect["port"] = int(params["port"])
    if "password" in params:
        connect["password"] = params["password"]
    create = MYSQL_CREATE.format(name=name.replace("`", "``"))
    try:
        with MySQLdb.connect(**connect) as db, db.cursor() as cursor:
            cursor.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", [name])
            if cursor.fetchone():
                return False
            # IF NOT EXISTS: another process may create it meanwhile.
            return bool(cursor.execute(create))
    except MySQLdb.Error as exc:
        flags = [f"-{flag}{params[key]}" for flag, key in _MYSQL_FLAGS if key in params]
        how = f"'CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin'"
        raise _Unavailable(" ".join(["mariadb", *flags, "-e", how])) from exc


_MYSQL_FLAGS = (("h", "host"), ("P", "port"), ("u", "user"))
