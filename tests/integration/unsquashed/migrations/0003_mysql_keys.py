"""MariaDB and MySQL: what the partial indexes of `Job` do on PostgreSQL and SQLite.

Neither database has partial indexes: Django leaves out the conditional unique constraint
and the conditional indexes there (models.W036/W037, which `Job.check` leaves out since
these columns stand for them). On those databases only, this adds:

- `unique_key_hash`, generated: a digest of the unique key (name, object_pk, tenant_key,
  args_key, each text prefixed by its length, so no two keys share a digest input) while the
  job is incomplete or a completed `once` job, NULL otherwise; under a unique index, as NULLs
  never collide. The digest also lets a key of TEXT columns be indexed whole.
- `runnable_queue`, generated: the queue while the job is runnable, NULL otherwise; indexed
  with the claim order (`ash_oban_job_runnable`), as the partial `ash_oban_job_claim` is
  elsewhere.
- `ash_oban_job_orphans` on `(state, attempted_at)`, for finding orphans.

(Django creates the conditional indexes here without their condition; they stay, unused, so
that later migrations find them.)
- `ash_oban_django_lock`: one row per named lock (`Backend.serialize`).

On other databases it does nothing, so their schema is unchanged.
"""

from django.db import migrations

UNIQUE_WHILE = (
    "`state` IN ('available', 'scheduled', 'executing', 'retryable') "
    "OR (`state` = 'completed' AND `once`)"
)
KEY_TEXT = (
    "CONCAT(CHAR_LENGTH(`name`), ':', `name`, CHAR_LENGTH(`object_pk`), ':', `object_pk`, "
    "CHAR_LENGTH(`tenant_key`), ':', `tenant_key`, `args_key`)"
)
FORWARDS = [
    "ALTER TABLE `ash_oban_django_job` "
    f"ADD COLUMN `unique_key_hash` BINARY(32) AS (IF({UNIQUE_WHILE}, UNHEX(SHA2({KEY_TEXT}, 256)), NULL)) STORED, "
    "ADD COLUMN `runnable_queue` VARCHAR(100) AS "
    "(IF(`state` IN ('available', 'scheduled', 'retryable'), `queue`, NULL)) STORED",
    "CREATE UNIQUE INDEX `ash_oban_job_unique_incomplete` ON `ash_oban_django_job` (`unique_key_hash`)",
    "CREATE INDEX `ash_oban_job_runnable` ON `ash_oban_django_job` "
    "(`runnable_queue`, `priority`, `scheduled_at`, `id`)",
    "CREATE INDEX `ash_oban_job_orphans` ON `ash_oban_django_job` (`state`, `attempted_at`)",
    "CREATE TABLE `ash_oban_django_lock` (`name_hash` BINARY(32) NOT NULL PRIMARY KEY)",
]
BACKWARDS = [
    "DROP TABLE `ash_oban_django_lock`",
    "DROP INDEX `ash_oban_job_orphans` ON `ash_oban_django_job`",
    "DROP INDEX `ash_oban_job_runnable` ON `ash_oban_django_job`",
    "DROP INDEX `ash_oban_job_unique_incomplete` ON `ash_oban_django_job`",
    "ALTER TABLE `ash_oban_django_job` DROP COLUMN `runnable_queue`, DROP COLUMN `unique_key_hash`",
]


def run_on_mysql(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "mysql":
            for sql in statements:
                schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):

    dependencies = [
        ('ash_oban_django', '0002_job_args_key'),
    ]

    operations = [
        migrations.RunPython(run_on_mysql(FORWARDS), run_on_mysql(BACKWARDS), atomic=False),
    ]
