"""Test settings: the example project plus the models the tests declare triggers on."""

from example_project.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "tests.testapp.backends.WidgetObjectBackend",
]

INSTALLED_APPS += ["tests.e2eapp"]

# The test tasks' queues (tests/testapp/tasks.py).
TASKS = {
    "default": {
        "BACKEND": "ash_oban_django.tasks.LedgerBackend",
        "QUEUES": ["default", "emails", "tasks_ordered", "tasks_retry"],
    }
}
