"""Settings for `tests.integration.migration_schema`, run in a subprocess: the test settings
on the scratch database given in `SCRATCH_DATABASE` (JSON), with the ledger's migrations read
from the package named in `LEDGER_MIGRATIONS` when it is set."""

import json
import os

from tests.settings import *  # noqa: F403

DATABASES = {"default": json.loads(os.environ["SCRATCH_DATABASE"])}
if os.environ.get("LEDGER_MIGRATIONS"):
    MIGRATION_MODULES = {"ash_oban_django": os.environ["LEDGER_MIGRATIONS"]}
