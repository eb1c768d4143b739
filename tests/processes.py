"""Running this interpreter in a subprocess, as tests that start the demo or pytest do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def environ_without(*names: str) -> dict[str, str]:
    """This process's environment minus `names`, for a child that must choose its own."""
    return {key: value for key, value in os.environ.items() if key not in names}


def run_python(
    *args: str, cwd: Path, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`python *args` run to completion, with its output captured as text."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
