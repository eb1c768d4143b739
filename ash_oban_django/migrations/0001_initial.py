"""The ledger's tables: `Job`, `Peer` and `Queue`, and on MariaDB and MySQL what stands there
for the partial indexes of `Job`.

Neither MariaDB nor MySQL has partial indexes: Django leaves out the conditional unique
constraint there, and creates the conditional indexes without their condition (they stay,
unused; `Job.check` leaves out Django's warnings about them, models.W036/W037). On those
databases only, `OnMySQL` then adds:

- `unique_key_hash`, generated: a digest of the unique key (name, object_pk, tenant_key,
  args_key, each text prefixed by its length, so no two keys share a digest input) while the
  job is incomplete or a completed `once` job, NULL otherwise; under a unique index, as NULLs
  never collide. The digest also lets a key of TEXT columns be indexed whole.
- `runnable_queue`, generated: the queue while the job is runnable, NULL otherwise; indexed
  with the claim order (`ash_oban_job_runnable`), as the partial `ash_oban_job_claim` is
  elsewhere.
- `ash_oban_job_orphans` on `(state, attempted_at)`, for finding orphans.
- `ash_oban_django_lock`: one row per named lock (`Backend.hold_lock`).

On PostgreSQL and SQLite `OnMySQL` does nothing. These columns and the lock table are not in
the models' state: the ledger reads and writes them in SQL (`ledger/mysql.py`).
"""

from django.db import migrations, models

UNIQUE_WHILE = (
    "`state` IN ('available', 'scheduled', 'executing', 'retryable') "
    "OR (`state` = 'completed' AND `once`)"
)
KEY_TEXT = (
    "CONCAT(CHAR_LENGTH(`name`), ':', `name`, CHAR_LENGTH(`object_pk`), ':', `object_pk`, "
    "CHAR_LENGTH(`tenant_key`), ':', `tenant_key`, `args_key`)"
)
MYSQL_FORWARDS = [
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
MYSQL_BACKWARDS = [
    "DROP TABLE `ash_oban_django_lock`",
    "DROP INDEX `ash_oban_job_orphans` ON `ash_oban_django_job`",
    "DROP INDEX `ash_oban_job_runnable` ON `ash_oban_django_job`",
    "DROP INDEX `ash_oban_job_unique_incomplete` ON `ash_oban_django_job`",
    "ALTER TABLE `ash_oban_django_job` DROP COLUMN `runnable_queue`, DROP COLUMN `unique_key_hash`",
]


class OnMySQL(migrations.RunSQL):
    """`RunSQL` that runs only on MariaDB and MySQL (`sqlmigrate` shows it there only)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "mysql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "mysql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)

    def describe(self):
        return "MariaDB and MySQL only: generated key columns, their indexes, the lock table"


class Migration(migrations.Migration):

    initial = True

    dependencies = [
    ]

    operations = [
        migrations.CreateModel(
            name='Peer',
            fields=[
                ('name', models.CharField(max_length=100, primary_key=True, serialize=False)),
                ('node', models.CharField(max_length=255)),
                ('started_at', models.DateTimeField()),
                ('expires_at', models.DateTimeField()),
            ],
        ),
        migrations.CreateModel(
            name='Queue',
            fields=[
                ('name', models.CharField(max_length=100, primary_key=True, serialize=False)),
                ('paused', models.BooleanField(default=False, help_text="Claims skip the queue's jobs.")),
                ('limit', models.PositiveIntegerField(blank=True, db_column='concurrency_limit', help_text='Most jobs running at once; empty: ASH_OBAN["QUEUES"]\'s limit, if any.', null=True)),
                ('updated_at', models.DateTimeField()),
            ],
        ),
        migrations.CreateModel(
            name='Job',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('kind', models.CharField(choices=[('trigger', 'trigger worker'), ('scheduler', 'trigger scheduler'), ('action', 'scheduled action'), ('task', 'Django task')], max_length=16)),
                ('name', models.CharField(help_text='Stable name of the declaration.', max_length=255)),
                ('queue', models.CharField(max_length=100)),
                ('priority', models.PositiveSmallIntegerField(default=2)),
                ('state', models.CharField(choices=[('available', 'Available'), ('scheduled', 'Scheduled'), ('executing', 'Executing'), ('retryable', 'Retryable'), ('completed', 'Completed'), ('discarded', 'Discarded'), ('cancelled', 'Cancelled')], default='available', max_length=16)),
                ('object_pk', models.TextField(blank=True, default='', help_text='Primary key of the row.')),
                ('tenant', models.JSONField(blank=True, null=True)),
                ('tenant_key', models.TextField(blank=True, default='', editable=False)),
                ('args_key', models.CharField(blank=True, default='', editable=False, help_text='Digest of the arguments in the unique key.', max_length=64)),
                ('once', models.BooleanField(default=False, help_text='Blocks new jobs after completion.')),
                ('args', models.JSONField(blank=True, default=dict)),
                ('meta', models.JSONField(blank=True, default=dict)),
                ('tags', models.JSONField(blank=True, default=list)),
                ('attempt', models.PositiveIntegerField(default=0)),
                ('max_attempts', models.PositiveIntegerField(default=1)),
                ('errors', models.JSONField(blank=True, default=list)),
                ('inserted_at', models.DateTimeField()),
                ('scheduled_at', models.DateTimeField()),
                ('attempted_at', models.DateTimeField(blank=True, null=True)),
                ('completed_at', models.DateTimeField(blank=True, null=True)),
                ('cancelled_at', models.DateTimeField(blank=True, null=True)),
                ('discarded_at', models.DateTimeField(blank=True, null=True)),
                ('attempted_by', models.CharField(blank=True, default='', max_length=255)),
            ],
            options={
                'ordering': ['-id'],
                'indexes': [models.Index(condition=models.Q(('state__in', ('available', 'scheduled', 'retryable'))), fields=['queue', 'priority', 'scheduled_at', 'id'], name='ash_oban_job_claim'), models.Index(condition=models.Q(('state', 'executing')), fields=['attempted_at'], name='ash_oban_job_executing'), models.Index(fields=['name', 'state'], name='ash_oban_job_name'), models.Index(condition=models.Q(('state__in', ('scheduled', 'retryable'))), fields=['scheduled_at'], name='ash_oban_job_waiting'), models.Index(condition=models.Q(('state', 'completed')), fields=['completed_at'], name='ash_oban_job_completed'), models.Index(condition=models.Q(('state', 'cancelled')), fields=['cancelled_at'], name='ash_oban_job_cancelled'), models.Index(condition=models.Q(('state', 'discarded')), fields=['discarded_at'], name='ash_oban_job_discarded'), models.Index(condition=models.Q(('state__in', ('available', 'scheduled', 'executing', 'retryable'))), fields=['state', 'queue', 'scheduled_at'], name='ash_oban_job_incomplete')],
                'constraints': [models.UniqueConstraint(condition=models.Q(('state__in', ('available', 'scheduled', 'executing', 'retryable')), models.Q(('once', True), ('state', 'completed')), _connector='OR'), fields=('name', 'object_pk', 'tenant_key', 'args_key'), name='ash_oban_job_unique_incomplete')],
            },
        ),
        OnMySQL(MYSQL_FORWARDS, MYSQL_BACKWARDS),
    ]
