"""The one place litellm is imported.

Its import costs seconds of CPU, so it happens inside the functions that call a model, never
at the module level of anything Dagster loads for every run and step. Offline, litellm would
also try to fetch its price map from the internet at import: the settings module tells it
not to (`keep_litellm_offline`) before the first import.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from essay_assets.settings import keep_litellm_offline


def litellm_module() -> Any:
    """litellm, imported once per process, quiet and offline."""
    keep_litellm_offline()
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    return litellm


def prefetch_litellm() -> None:
    """Start importing litellm in the background (seconds of CPU) while the run does other
    work: loading the model, tokenizing, writing Dagster events. Importing it later joins
    this import instead of starting another."""
    if "litellm" not in sys.modules:
        threading.Thread(target=litellm_module, name="litellm-import", daemon=True).start()
