"""Warehouse tables described as Dagster metadata (column schema, shown in the UI)."""

from __future__ import annotations

import dagster as dg

from essay_assets.storage.schema import TABLES_BY_NAME


def column_schema(table_name: str) -> dg.TableSchema:
    table = TABLES_BY_NAME[table_name]
    return dg.TableSchema(columns=[dg.TableColumn(c.name, str(c.type), description=c.doc) for c in table.columns])


# Set per partition, to the rows that partition wrote: a table-wide count on every partition
# (the table's total, shown as if it were the video's) misled more than it told.
PARTITION_ROW_COUNT = "dagster/row_count"


def essays_column_lineage() -> dg.TableColumnLineage:
    """Where the essays table's numbers come from: sums over the llm_calls of the essay."""
    calls = dg.AssetKey("llm_response")
    transcript = dg.AssetKey("transcript")
    summed = ("input_tokens", "output_tokens", "total_tokens", "reasoning_tokens", "cached_input_tokens",
              "response_time_ms")
    deps = {name: [dg.TableColumnDep(asset_key=calls, column_name=name)] for name in summed}
    deps["estimated_cost_cents"] = [dg.TableColumnDep(asset_key=calls, column_name="cost_usd")]
    deps["cost_source"] = [dg.TableColumnDep(asset_key=calls, column_name="cost_source")]
    deps["transcript_word_count"] = [dg.TableColumnDep(asset_key=transcript, column_name="word_count")]
    return dg.TableColumnLineage(deps_by_column=deps)
