"""essay-assets: Dagster assets that turn long-form video conversations into written essays.

The folders are the stages, lowest first (a stage imports only from those below it):
settings / redaction / essay_record -> storage -> intake -> model_calls -> writing -> defs | instance -> cli.
docs/architecture.md walks through them.
"""

from essay_assets.library_warnings import silence_library_warnings
from essay_assets.settings import keep_litellm_offline

keep_litellm_offline()  # before anything, ours or a test's, imports litellm
silence_library_warnings()  # before Dagster declares anything: libraries' warnings users cannot act on
