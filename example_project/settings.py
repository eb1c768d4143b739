"""Settings of the example project, also used by the test suite.

`DATABASE_URL` selects the database (e.g. postgres://postgres@127.0.0.1:5432/test or
mysql://root@127.0.0.1:3306/test);
without it everything runs on a local SQLite file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = os.environ.get("SECRET_KEY", "example-project-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "example_project.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # The admin's stylesheets and scripts (served by `runserver` and the tests' live server).
    "django.contrib.staticfiles",
    "django_q",
    "ash_oban_django",
    "example_project.shop",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

SQLITE_PATH = os.environ.get("SQLITE_PATH", str(BASE_DIR.parent / "example.sqlite3"))
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{SQLITE_PATH}", conn_max_age=60, conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, qcluster workers) write to one file: wait for the lock rather
    # than fail, and take it at BEGIN so two writers never deadlock upgrading a read lock.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # The tests' database is a file, as the demo's is: writers then wait for each other as
    # they do in production (an in-memory database fails a locked write at once).
    DATABASES["default"]["TEST"] = {
        "NAME": os.environ.get("SQLITE_TEST_PATH")
        or str(Path(tempfile.gettempdir()) / f"ash_oban_django_test_{os.getpid()}.sqlite3")
    }

if DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    # MariaDB / MySQL: full UTF-8, and a test database that compares text byte for byte
    # (case- and accent-sensitive, as PostgreSQL does), so `where` filters and job lookups
    # by key behave alike on every database (docs/databases.md).
    DATABASES["default"]["OPTIONS"] = {"charset": "utf8mb4"}
    DATABASES["default"]["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_bin"}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "ash_oban_cache",
    }
}

# The recommended django-q2 setup (see docs/operations.md): the ORM broker on the ledger's
# database, so the jobs, their dispatch tasks and the cron rows live in one database.
Q_CLUSTER = {
    # The cluster's name is also its Redis key prefix (`django_q:<name>:q`): test runs that
    # share one Redis give their clusters names of their own.
    "name": os.environ.get("Q_CLUSTER_NAME", "default"),
    "orm": "default",
    # The ORM broker, waiting out a database restart instead of stalling 10 s after it.
    "broker_class": "ash_oban_django.dispatch.broker.ReconnectingORM",
    "workers": int(os.environ.get("Q_WORKERS", "2")),
    "timeout": 300,
    "retry": 360,
    "max_attempts": 2,
    "ack_failures": True,
    "save_limit": -1,
    "catch_up": False,
    "queue_limit": 4,
    "bulk": 1,
    "poll": 0.2,
    "guard_cycle": 0.5,
    "cache": "default",
    "label": "Django Q2",
}
if os.environ.get("Q_RECYCLE"):
    # Tasks a worker process runs before django-q2 replaces it (500 by default).
    Q_CLUSTER["recycle"] = int(os.environ["Q_RECYCLE"])
if os.environ.get("Q_BROKER") == "redis":
    # The Redis broker instead: tasks are handed over after commit (see docs/operations.md).
    del Q_CLUSTER["orm"], Q_CLUSTER["broker_class"]
    Q_CLUSTER["redis"] = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

ASH_OBAN = {
    "ACTOR_PERSISTER": "ash_oban_django.actors.UserPersister",
    "RESCUE_AFTER": float(os.environ.get("ASH_OBAN_RESCUE_AFTER", "60")),
}

# Django Tasks (`@task`) on the ledger. Django 6 has `django.tasks`; on Django 5.2 the
# `django-tasks` backport provides it (the `tasks` extra), and its app runs the task checks.
TASKS = {
    "default": {
        "BACKEND": "ash_oban_django.tasks.LedgerBackend",
        "QUEUES": ["default", "emails"],
        "OPTIONS": {"max_attempts": 3},
    }
}
try:
    import django.tasks  # noqa: F401
except ImportError:
    INSTALLED_APPS.append("django_tasks")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "ash_oban_django": {
            "handlers": ["console"],
            "level": os.environ.get("ASH_OBAN_LOG", "WARNING"),
        },
        # django-q2 logs every task it queues and runs at INFO; its logger is "django-q".
        "django-q": {"handlers": ["console"], "level": "WARNING"},
    },
}
STATIC_URL = "/static/"
