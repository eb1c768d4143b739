"""The README's first command, run to completion on a database this test run created: the
test database on PostgreSQL, a file in a temporary directory on SQLite. The demo deletes
every order and job of its database, so it must never see the one `DATABASE_URL` names."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from django.db import connection

from tests.e2e.conftest import ROOT, SCHEMES, run_database_url
from tests.processes import environ_without, run_python

pytestmark = pytest.mark.slow


def run_demo(**env: str) -> subprocess.CompletedProcess[str]:
    """The demo with `env` set on top of ours (an empty value unsets the variable)."""
    base = environ_without("DJANGO_SETTINGS_MODULE", *env)
    env = {"COLUMNS": "200", **{key: value for key, value in env.items() if value}}
    return run_python("-m", "example_project.demo", cwd=ROOT, env={**base, **env}, timeout=240)


# What the interpreter and the tools write beside the sources, which the demo does not.
NOT_WRITTEN_BY_THE_DEMO = {".venv", ".git", "__pycache__", ".mypy_cache", ".ruff_cache", "site"}


def repository_files() -> dict[str, int]:
    """Every file of the repository (outside `NOT_WRITTEN_BY_THE_DEMO`) and its mtime."""
    found = {}
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [name for name in subfolders if name not in NOT_WRITTEN_BY_THE_DEMO]
        for name in files:
            path = Path(folder) / name
            found[str(path.relative_to(ROOT))] = path.stat().st_mtime_ns
    return found


def test_demo__processes_every_paid_order_on_a_database_of_the_test_run(
    transactional_db: None, tmp_path: Path
) -> None:
    before = repository_files()
    if connection.vendor in SCHEMES:
        expected = connection.settings_dict["NAME"]  # test_<name>, made by pytest-django
        done = run_demo(DATABASE_URL=run_database_url())
    else:
        expected = str(tmp_path / "demo.sqlite3")
        done = run_demo(DATABASE_URL="", SQLITE_PATH=expected)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert f"(database {expected})" in out
    assert "Every paid order was processed or marked errored by on_error." in out
    assert "Django task send_receipt: SUCCESSFUL -> 'Receipt for customer 1: 19.99'" in out
    assert "Cluster stopped cleanly." in out
    assert out.count("processed") >= 6
    assert "errored: PaymentDeclined: cannot charge -3.00" in out
    assert "untouched" in out
    assert "INFO" not in out + done.stderr  # django-q2's chatter is quieted by LOGGING
    after = repository_files()
    written = {path for path, mtime in after.items() if before.get(path) != mtime}
    assert written == set(), written  # its log went to a temporary folder


def test_demo__a_database_it_cannot_create_is_one_line_that_says_how() -> None:
    done = run_demo(DATABASE_URL="postgres://nobody@127.0.0.1:1/shop_demo")
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("Database 'shop_demo' is missing and could not be created (")
    assert line.endswith(
        "create it with `createdb -h 127.0.0.1 -p 1 -U nobody shop_demo` or fix DATABASE_URL."
    )
