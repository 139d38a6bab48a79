"""Warehouse tables described as Dagster metadata (column schema, shown in the UI)."""

from __future__ import annotations

import dagster as dg

from essay_assets.warehouse_schema import TABLES_BY_NAME


def column_schema(table_name: str) -> dg.TableSchema:
    table = TABLES_BY_NAME[table_name]
    return dg.TableSchema(columns=[dg.TableColumn(c.name, str(c.type), description=c.doc) for c in table.columns])
