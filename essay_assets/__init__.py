"""essay-assets: Dagster assets that turn long-form video conversations into written essays."""

import os

# litellm fetches a price map from the internet at import unless told not to; offline that
# stalls for seconds. Set it before anything can import litellm (setdefault lets a user opt in).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
