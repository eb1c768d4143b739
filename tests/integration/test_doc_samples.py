"""The Python samples of the getting-started and testing pages, run as written.

A block marked `<!-- doc-sample: PATH -->` (an HTML comment, which the built site hides) is
appended to the file PATH of a small project in a temporary directory: `shop/models.py` is the
shop app, `settings.py` is added to the example project's settings, `tests` are the tests.
pytest then runs those tests in a subprocess, with the package's pytest plugin as a user gets
it, on an SQLite database of the temporary directory.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from pathlib import Path

from tests.processes import environ_without, run_python

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["getting-started.md", "testing.md"]
SAMPLE = re.compile(r"^<!-- doc-sample: (\S+) -->\n```python\n(.*?)^```$", re.M | re.S)

SETTINGS = """\
from example_project.settings import *  # noqa: F403

# The documented shop app replaces the example project's, which has the same label.
INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "example_project.shop"] + ["shop"]

"""
PYTEST_INI = """\
[pytest]
DJANGO_SETTINGS_MODULE = settings
addopts = -p no:cacheprovider
filterwarnings =
    error
    ignore::DeprecationWarning:django_q
    ignore::DeprecationWarning:croniter
"""


def samples() -> dict[str, list[str]]:
    """`{path: [code, ...]}` of the marked blocks, in page order."""
    found: dict[str, list[str]] = defaultdict(list)
    for page in PAGES:
        for path, code in SAMPLE.findall((ROOT / "docs" / page).read_text()):
            found[path].append(code)
    return dict(found)


def test_doc_samples__are_marked() -> None:
    assert {path: len(codes) for path, codes in samples().items()} == {
        "shop/models.py": 1,
        "settings.py": 4,
        "tests": 2,
    }


def test_doc_samples__run_as_written(tmp_path: Path) -> None:
    files = samples()
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "__init__.py").write_text("")
    (tmp_path / "shop" / "models.py").write_text("\n\n".join(files["shop/models.py"]))
    (tmp_path / "settings.py").write_text(SETTINGS + "\n\n".join(files["settings.py"]))
    (tmp_path / "test_documented.py").write_text("\n\n".join(files["tests"]))
    (tmp_path / "pytest.ini").write_text(PYTEST_INI)
    env = environ_without("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "SQLITE_TEST_PATH")
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT)])
    env["SQLITE_PATH"] = str(tmp_path / "db.sqlite3")
    done = run_python("-m", "pytest", "-q", "test_documented.py", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout, done.stdout
