"""The `essays` command line (main.py) and what it drives: runs in the persistent Dagster
instance (runner.py) and the status table (status.py)."""
