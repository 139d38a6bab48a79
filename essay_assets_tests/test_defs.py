"""The Dagster wiring as Dagster loads it (essay_assets/defs/, through `definitions.defs`):
the asset graph, its partitions, backfill policy and pool, the checks, the job, the schedule
and the sensor. Fast: nothing runs, no instance is made. Only `defs` is read, never module
attributes, so it holds however the definitions are built."""

from __future__ import annotations

import dagster as dg
import pytest

from essay_assets.definitions import defs

CHAIN = ["transcript", "essay_prompt", "llm_response", "essay"]


@pytest.fixture(scope="module")
def asset_graph():
    return defs.resolve_asset_graph()


def test_defs_validate_as_dagster_loads_them():
    dg.Definitions.validate_loadable(defs)


def test_the_four_assets_form_one_chain(asset_graph):
    assert {key.to_user_string() for key in asset_graph.get_all_asset_keys()} == set(CHAIN)
    parents = {key.to_user_string(): {p.to_user_string() for p in asset_graph.get(key).parent_keys}
               for key in asset_graph.get_all_asset_keys()}
    assert parents == {"transcript": set(), "essay_prompt": {"transcript"},
                       "llm_response": {"essay_prompt"}, "essay": {"llm_response"}}
    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    assert {name: [dep.asset_key.to_user_string() for dep in spec.deps] for name, spec in specs.items()} == {
        "transcript": [], "essay_prompt": ["transcript"], "llm_response": ["essay_prompt"], "essay": ["llm_response"]}


@pytest.mark.parametrize("name", CHAIN)
def test_every_asset_is_partitioned_by_video_and_backfills_in_a_single_run(name):
    assets_def = defs.resolve_assets_def(name)
    assert isinstance(assets_def.partitions_def, dg.DynamicPartitionsDefinition)
    assert assets_def.partitions_def.name == "videos"
    assert assets_def.backfill_policy == dg.BackfillPolicy.single_run()


def test_only_the_model_call_waits_for_the_llm_pool():
    assert defs.resolve_assets_def("llm_response").op.pool == "llm"
    assert {name: defs.resolve_assets_def(name).op.pool for name in CHAIN if name != "llm_response"} == {
        "transcript": None, "essay_prompt": None, "essay": None}


def test_checks_and_which_one_blocks(asset_graph):
    checks = {(key.asset_key.to_user_string(), key.name): asset_graph.get_check_spec(key).blocking
              for key in asset_graph.asset_check_keys}
    assert checks == {
        ("transcript", "transcript_is_usable"): True,  # a bad transcript must not reach a paid model
        ("essay", "essay_front_matter_is_complete"): False,
        ("essay", "essay_has_structure"): False,
        ("essay", "essay_cost_is_known_and_within_ceiling"): False,
        ("essay", "essay_quotes_are_verbatim"): False,
    }


def test_job_schedule_and_sensor_are_there_and_run_by_default():
    job = defs.resolve_job_def("essays_job")
    assert job.name == "essays_job"
    schedule = defs.resolve_schedule_def("missing_or_stale_essays")
    assert schedule.job_name == "essays_job"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    sensor = defs.resolve_sensor_def("followed_feeds_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
