"""Test-only helpers that the test modules import (fixtures stay in conftest.py). What the
benchmarks share with the tests lives in the top-level `testkit` package instead."""
