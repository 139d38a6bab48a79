"""Storage: files that are never half-written (files), the raw store of everything fetched or
paid for (raw_store), and the warehouse: its schema (schema), Parquet segments and DuckDB
views (warehouse), users' read-only SQL (sql, sql_examples) and which essays need writing
(staleness)."""
