"""One code location name whichever way Dagster is started: the followed-feeds sensor's cursor
set under `essays ui` is still there after a restart with `dagster dev -w workspace.yaml` on the
same DAGSTER_HOME (state is stored per location name; two names used to drop it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from essay_assets.defs.sensors import FeedState, serialize_cursor
from essay_assets.instance import CODE_LOCATION_NAME, DEFINITIONS_MODULE, workspace_yaml
from testkit.dagster_dev import REPO_WORKSPACE, DagsterDev

SENSOR = "followed_feeds_sensor"
SENSOR_STATE = """
    query Sensor($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) { __typename
      ... on Sensor { sensorState { status typeSpecificData { ... on SensorData { lastCursor } } } }
      ... on PythonError { message } } }"""


def test_the_repo_workspace_names_the_location_as_essays_ui_does():
    assert yaml.safe_load(REPO_WORKSPACE.read_text()) == yaml.safe_load(workspace_yaml())
    assert yaml.safe_load(workspace_yaml())["load_from"][0]["python_module"] == {
        "module_name": DEFINITIONS_MODULE, "location_name": CODE_LOCATION_NAME}


def _sensor_state(dev: DagsterDev) -> dict:
    data = dev.graphql(SENSOR_STATE, {"selector": {**dev.repository_selector(), "sensorName": SENSOR}})
    assert data["sensorOrError"]["__typename"] == "Sensor", data
    return data["sensorOrError"]["sensorState"]


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_a_sensor_cursor_survives_a_restart_through_the_other_launcher(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ESSAYS_", "DAGSTER_"))}
    env["ESSAYS_DATA_DIR"] = str(tmp_path / "data")  # no follow.yaml: no tick touches the cursor
    cursor = serialize_cursor({"channel:UCabcdefghijklmnopqrstuv": FeedState(requested=["abcdefghijk"])})
    launchers = ["essays_ui", "workspace"]
    for number, launcher in enumerate(launchers):
        dev = DagsterDev(home=tmp_path / "dagster_home", cwd=tmp_path / f"cwd-{launcher}", env=env,
                         log_path=tmp_path / f"{launcher}.log", launcher=launcher)
        try:
            dev.start(timeout_s=180)
            assert dev.location_name() == CODE_LOCATION_NAME
            if number == 0:
                result = dev.graphql("""
                    mutation Set($selector: SensorSelector!, $cursor: String) {
                      setSensorCursor(sensorSelector: $selector, cursor: $cursor) { __typename } }""",
                                     {"selector": {**dev.repository_selector(), "sensorName": SENSOR},
                                      "cursor": cursor})
                assert result["setSensorCursor"]["__typename"] == "Sensor", result
            state = _sensor_state(dev)
            assert state["typeSpecificData"]["lastCursor"] == cursor, (launcher, state)
            assert state["status"] == "RUNNING"
        except BaseException:
            print(f"--- {launcher} log (tail) ---\n{dev.log_tail()}")
            raise
        finally:
            dev.stop()
