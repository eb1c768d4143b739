"""The ledger's five migrations as they were before they were squashed into `0001_initial`,
kept so that `test_migrations` can show both build the same schema. Only a test that points
`MIGRATION_MODULES` here runs them; 0002's data step is left out (it changes no schema, and
a fresh database has no rows to fill)."""
