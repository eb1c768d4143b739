"""System checks (placeholder, filled in below)."""
