"""The README's first command, run to completion (on the database of this test run)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.slow


def test_demo__processes_every_paid_order_and_stops_the_cluster() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["COLUMNS"] = "200"
    done = subprocess.run(
        [sys.executable, "-m", "example_project.demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "Every paid order was processed or marked errored by on_error." in out
    assert "Cluster stopped cleanly." in out
    assert out.count("processed") >= 6
    assert "errored: PaymentDeclined: cannot charge -3.00" in out
    assert "untouched" in out
