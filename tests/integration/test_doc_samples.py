"""Every Python sample of `docs/`: run as written, or marked as a fragment with the reason.

A block marked `<!-- doc-sample: PATH -->` (an HTML comment, which the built site hides) goes
into a small project in a temporary directory, where pytest runs it in a subprocess, with the
package's pytest plugin as a user gets it, on an SQLite database of that directory:

- `shop/models.py`, or any `APP/MODULE.py`: appended to that module (a `models.py` makes
  its app installed; every other module is imported by a test);
- `settings.py`: appended to the project's settings, which start from the example project's;
- `tests`: appended to the tests;
- `shell`: the body of a test of its own, as typed in `manage.py shell` (with a database).

A block that cannot run on its own (a line of a larger file, code that needs a package or a
function of your project) is marked `<!-- doc-fragment: REASON -->` instead, the reason
saying why. A Python block with neither mark fails
`test_doc_samples__every_block_is_run_or_a_fragment`, so a new sample is run or explained,
never left unchecked.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from tests.processes import environ_without, run_python

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
# Every fenced Python block, with the line before its fence (where a mark goes).
BLOCK = re.compile(r"^([^\n]*)\n```python\n(.*?)^```$", re.M | re.S)
SAMPLE = re.compile(r"^<!-- doc-sample: (\S+) -->$")
FRAGMENT = re.compile(r"^<!-- doc-fragment: (.+?) -->$")
# Where a sample runs: besides a module `APP/MODULE.py`, these.
PATHS = ("settings.py", "tests", "shell")
MODULE = re.compile(r"^([a-z_]+)/([a-z_]+)\.py$")


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    mark: str
    code: str

    @property
    def where(self) -> str:
        return f"docs/{self.page}:{self.line}"


def pages() -> list[Path]:
    """The pages in the order of the site's navigation (a sample builds on those before
    it), then any page the navigation leaves out."""
    nav = re.findall(r"^\s+- [^:]+: (\S+\.md)$", (ROOT / "mkdocs.yml").read_text(), re.M)
    listed = [DOCS / name for name in nav]
    return listed + sorted(set(DOCS.glob("*.md")) - set(listed))


def blocks() -> list[Block]:
    """Every Python block of the documentation, in page order."""
    found = []
    for page in pages():
        text = page.read_text()
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start(2))
            found.append(Block(page.name, line, match.group(1).strip(), match.group(2)))
    return found


def samples() -> dict[str, list[str]]:
    """`{path: [code, ...]}` of the blocks marked to run, in page order."""
    found: dict[str, list[str]] = defaultdict(list)
    for block in blocks():
        sample = SAMPLE.match(block.mark)
        if sample:
            found[sample.group(1)].append(block.code)
    return dict(found)


def fragments() -> list[tuple[Block, str]]:
    """The blocks marked as fragments, with their reasons."""
    return [(b, m.group(1)) for b in blocks() if (m := FRAGMENT.match(b.mark))]


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


def test_doc_samples__every_block_is_run_or_a_fragment() -> None:
    unmarked = [
        b.where for b in blocks() if not SAMPLE.match(b.mark) and not FRAGMENT.match(b.mark)
    ]
    assert unmarked == [], (
        "Python blocks that are neither run nor explained: mark each with "
        "<!-- doc-sample: PATH --> (PATH one of APP/MODULE.py, " + ", ".join(PATHS) + ") or "
        f"<!-- doc-fragment: why it cannot run -->: {unmarked}"
    )
    unknown = [p for p in samples() if p not in PATHS and not MODULE.match(p)]
    assert unknown == [], f"doc-sample paths must be APP/MODULE.py or one of {PATHS}: {unknown}"
    vague = [b.where for b, reason in fragments() if len(reason.split()) < 3]
    assert vague == [], f"a fragment's reason says why it cannot run: {vague}"


def test_doc_samples__are_counted() -> None:
    run = sum(len(codes) for codes in samples().values())
    marked = len(fragments())
    total = sum(page.read_text().splitlines().count("```python") for page in DOCS.glob("*.md"))
    assert len(blocks()) == total  # every fence was read as a block
    assert run + marked == total, (run, marked, total)
    # The share of samples run as written never drops unnoticed: at least half run.
    assert run >= marked, f"{run} samples run, {marked} fragments"
    print(f"\ndocs/: {total} Python blocks, {run} run as written, {marked} fragments")


def shell_test(number: int, code: str) -> str:
    """A `shell` sample as the body of a test with the database."""
    body = "".join(f"    {line}" if line.strip() else line for line in code.splitlines(True))
    return f"@pytest.mark.django_db\ndef test_shell_sample_{number}():\n{body}"


def test_doc_samples__run_as_written(tmp_path: Path) -> None:
    files = samples()
    apps, modules = [], []
    for path, codes in files.items():
        module = MODULE.match(path)
        if module is None:
            continue
        app, name = module.groups()
        (tmp_path / app).mkdir(exist_ok=True)
        (tmp_path / app / "__init__.py").write_text("")
        (tmp_path / app / f"{name}.py").write_text("\n\n".join(codes))
        if name == "models":
            apps.append(app)
        else:
            modules.append(f"{app}.{name}")
    installed = "".join(f'INSTALLED_APPS.append("{app}")\n' for app in apps if app != "shop")
    (tmp_path / "settings.py").write_text(SETTINGS + installed + "\n\n".join(files["settings.py"]))
    shell = [shell_test(n, code) for n, code in enumerate(files.get("shell", []))]
    imports = "".join(f"    importlib.import_module({m!r})\n" for m in modules)
    import_test = f"def test_documented_modules_import():\n{imports}" if modules else ""
    tests = [*files["tests"], "import importlib\n\nimport pytest\n", *shell, import_test]
    (tmp_path / "test_documented.py").write_text("\n\n".join(tests))
    (tmp_path / "pytest.ini").write_text(PYTEST_INI)
    env = environ_without("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "SQLITE_TEST_PATH")
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT)])
    env["SQLITE_PATH"] = str(tmp_path / "db.sqlite3")
    done = run_python("-m", "pytest", "-q", "test_documented.py", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    # Every test function and TestCase method of the samples ran, and passed.
    expected = sum(len(re.findall(r"^\s*def test_", code, re.M)) for code in tests)
    assert f"{expected} passed" in done.stdout, done.stdout
