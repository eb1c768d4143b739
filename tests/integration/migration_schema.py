"""The schema the ledger's migrations build, as JSON on stdout.

Run in a subprocess, `python -m tests.integration.migration_schema`, with
`DJANGO_SETTINGS_MODULE=tests.integration.migration_settings`: it applies the ledger's
migrations to the scratch database, describes what they built, unapplies them and lists the
tables left. Only the ledger's app is migrated (through the executor, so no `post_migrate`
receiver runs), so every table but `django_migrations` is the ledger's.

Column order is left out: a column added by a later migration comes last, and nothing reads
columns by position.
"""

from __future__ import annotations

import json
from typing import Any

APP = "ash_oban_django"


def definitions(create: str) -> dict[str, Any]:
    """A `CREATE TABLE` statement with its column and key definitions sorted."""
    start = create.index("(")
    parts, depth, quote, current = [], 0, "", ""
    for at, char in enumerate(create[start + 1 :], start + 1):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"`":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")" and depth == 0:
            parts.append(current.strip())
            return {
                "head": create[:start].strip(),
                "parts": sorted(parts),
                "tail": create[at + 1 :].strip(),
            }
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        current += char
    raise ValueError(f"unbalanced parentheses in {create!r}")


def postgresql(cursor: Any, table: str) -> dict[str, Any]:
    cursor.execute(
        "SELECT column_name, data_type, character_maximum_length, numeric_precision, "
        "is_nullable, column_default, is_identity, identity_generation, is_generated, "
        "generation_expression, collation_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s",
        [table],
    )
    columns = {row[0]: row[1:] for row in cursor.fetchall()}
    cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes "
        "WHERE schemaname = current_schema() AND tablename = %s",
        [table],
    )
    indexes = dict(cursor.fetchall())
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass",
        [table],
    )
    return {"columns_sql": columns, "indexdef": indexes, "constraintdef": dict(cursor.fetchall())}


def mysql(cursor: Any, table: str) -> dict[str, Any]:
    cursor.execute(f"SHOW CREATE TABLE `{table}`")
    ((_, create),) = cursor.fetchall()
    return {"create_table": definitions(create)}


def sqlite(cursor: Any, table: str) -> dict[str, Any]:
    cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = %s", [table])
    ((create,),) = cursor.fetchall()
    cursor.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s", [table]
    )
    return {"create_table": definitions(create), "indexes": dict(cursor.fetchall())}


VENDOR = {"postgresql": postgresql, "mysql": mysql, "sqlite": sqlite}


def tables(connection: Any) -> list[str]:
    with connection.cursor() as cursor:
        names = connection.introspection.table_names(cursor)
    return sorted(name for name in names if name != "django_migrations")


def schema(connection: Any) -> dict[str, Any]:
    """Every table's columns (types, nullability, defaults), constraints and indexes, as
    Django's introspection reports them, plus the database's own definitions (partial index
    conditions, generated columns)."""
    introspection = connection.introspection
    described = {}
    with connection.cursor() as cursor:
        for table in tables(connection):
            described[table] = {
                "columns": {
                    column.name: column._asdict()
                    for column in introspection.get_table_description(cursor, table)
                },
                "constraints": introspection.get_constraints(cursor, table),
                **VENDOR[connection.vendor](cursor, table),
            }
    return described


def main() -> None:
    import django

    django.setup()
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes(APP)
    applied = [name for app, name in executor.loader.graph.forwards_plan(leaves[0]) if app == APP]
    executor.migrate(leaves)
    built = schema(connection)
    executor.loader.build_graph()
    executor.migrate([(APP, None)])
    report = {"applied": applied, "schema": built, "left": tables(connection)}
    print(json.dumps(report, default=str, sort_keys=True))


if __name__ == "__main__":
    main()
