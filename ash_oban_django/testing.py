"""Test helpers: run jobs in-process, assert what was enqueued (see below)."""
