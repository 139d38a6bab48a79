"""Shared by the tests (essay_assets_tests/) and the benchmarks (bench/): a loopback
OpenAI-compatible model server, a `dagster dev` driver, synthetic transcripts and
synthetic warehouse rows. Not shipped with essay_assets; imports nothing from the tests."""
