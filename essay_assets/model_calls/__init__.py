"""Model calls: any model through litellm, or the embedded one, with what each call cost.

The litellm client with retries and error classes (client), the one litellm import
(litellm_import), prices and cents (costs), context windows and token counts (model_info),
spending ceilings (budgets), the embedded model's server (local_model), and the ledger that
stores every paid answer before anything else (ledger).
"""
