"""The GPU server deployment in packaging/server: schemas, facts and the app's profile.

Nothing here starts a server (no GPU, no Docker daemon, no cluster): the files are
checked against the schemas their tools validate with, and against the facts the app
relies on (shared/PROTOCOL.md, "Serving"). Each schema check is also shown to fail on
a broken copy, so a validator that accepts everything cannot pass.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml

from desktop_app.core.settings import load_settings

SERVER = Path(__file__).resolve().parents[2] / "packaging" / "server"
K8S = SERVER / "k8s"
HELM = SERVER / "helm"

MODEL = "Qwen/Qwen3-VL-8B-Instruct"
MODEL_FP8 = "Qwen/Qwen3-VL-8B-Instruct-FP8"
MM_LIMIT = {"image": 2, "video": 0}
SECRET_NAME = "screenscribe-vllm-api-key"
SECRET_KEY = "api-key"
SESSION_HEADER = "x-session-id"
# Kubernetes releases to validate the manifests for: an older one still in wide use
# and the newest whose schemas kubernetes-validate ships.
K8S_VERSIONS = ("1.30", kubernetes_validate.utils.latest_version())


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _yaml_all(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _flag(args: list[str], name: str) -> str:
    """The value after ``name`` in an argument list (exactly once)."""
    assert args.count(name) == 1, f"{name} should appear once in {args}"
    return args[args.index(name) + 1]


def _vllm_image_version(image: str) -> tuple[int, int, int]:
    match = re.fullmatch(r"vllm/vllm-openai:v(\d+)\.(\d+)\.(\d+)", image)
    assert match, f"{image!r} is not a pinned vllm/vllm-openai:vX.Y.Z image"
    return int(match[1]), int(match[2]), int(match[3])


# --- Docker Compose ------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose_validator() -> jsonschema.Draft202012Validator:
    schema = _json(SERVER / "compose-spec.json")
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture
def compose() -> dict[str, Any]:
    return _yaml(SERVER / "compose.yaml")


@pytest.fixture
def vllm_service(compose: dict[str, Any]) -> dict[str, Any]:
    service: dict[str, Any] = compose["services"]["vllm"]
    return service


def _serve_args(service: dict[str, Any]) -> list[str]:
    """The arguments of ``vllm serve`` in the service's shell script, with the
    container variables the script uses replaced by the service's environment."""
    assert service["entrypoint"] == ["/bin/sh", "-c"]
    (script,) = service["command"]
    # Compose turns $$ into $ before the shell sees the script.
    script = script.replace("$$", "$")
    env = {k: ("" if v is None else str(v)) for k, v in service["environment"].items()}
    # Join continued lines, keep the exec line.
    lines = script.replace("\\\n", " ").splitlines()
    (exec_line,) = [line for line in lines if line.strip().startswith("exec vllm serve")]
    words = shlex.split(exec_line)
    assert words[:3] == ["exec", "vllm", "serve"]
    out = []
    for word in words[3:]:
        if word == "${EXTRA_ARGS:-}":
            continue  # optional extras, empty by default
        out.append(re.sub(r"\$(\w+)", lambda m: env[m[1]], word))
    return out


@pytest.mark.parametrize("name", ["compose.yaml", "compose.fp8.yaml"])
def test_compose_files_follow_the_compose_specification(
    compose_validator: jsonschema.Draft202012Validator, name: str
) -> None:
    errors = [e.message for e in compose_validator.iter_errors(_yaml(SERVER / name))]
    assert errors == []


def test_compose_schema_rejects_a_misspelled_key(
    compose_validator: jsonschema.Draft202012Validator, compose: dict[str, Any]
) -> None:
    broken = copy.deepcopy(compose)
    devices = broken["services"]["vllm"]["deploy"]["resources"]["reservations"]["devices"]
    devices[0]["capabilites"] = devices[0].pop("capabilities")
    assert list(compose_validator.iter_errors(broken))


def test_compose_runs_the_pinned_vllm_openai_image(vllm_service: dict[str, Any]) -> None:
    # Qwen3-VL is served from vLLM 0.11 on.
    assert _vllm_image_version(vllm_service["image"]) >= (0, 11, 0)


def test_compose_serves_the_model_with_the_protocol_flags(vllm_service: dict[str, Any]) -> None:
    args = _serve_args(vllm_service)
    assert args[0] == MODEL
    assert _flag(args, "--served-model-name") == MODEL
    assert _flag(args, "--max-model-len") == "32768"
    assert json.loads(_flag(args, "--limit-mm-per-prompt")) == MM_LIMIT
    assert _flag(args, "--port") == "8000"
    assert _flag(args, "--host") == "0.0.0.0"
    assert 0 < float(_flag(args, "--gpu-memory-utilization")) <= 1
    # The key comes from the secret through the environment, never as a flag.
    assert "--api-key" not in args


def test_compose_reads_the_api_key_from_the_secret_file(
    compose: dict[str, Any], vllm_service: dict[str, Any]
) -> None:
    assert vllm_service["secrets"] == ["vllm_api_key"]
    assert compose["secrets"]["vllm_api_key"] == {"file": "./secrets/vllm_api_key.txt"}
    script = vllm_service["command"][0].replace("$$", "$")
    assert 'VLLM_API_KEY="$(cat /run/secrets/vllm_api_key)"' in script
    assert "export VLLM_API_KEY" in script
    # An empty key would start vLLM without authentication: the script stops.
    assert 'if [ -z "$VLLM_API_KEY" ]; then' in script
    assert script.index("export VLLM_API_KEY") < script.index("exec vllm serve")
    # The secret directory is kept out of git.
    assert "secrets/" in (SERVER / ".gitignore").read_text(encoding="utf-8").splitlines()


def test_compose_health_check_probes_health(vllm_service: dict[str, Any]) -> None:
    check = vllm_service["healthcheck"]
    assert check["test"][0] == "CMD"
    assert "http://127.0.0.1:8000/health" in " ".join(check["test"])
    # The first start downloads the weights: several minutes of grace.
    assert re.fullmatch(r"\d+m", check["start_period"])
    assert int(check["start_period"][:-1]) >= 10


def test_compose_reserves_one_nvidia_gpu(vllm_service: dict[str, Any]) -> None:
    devices = vllm_service["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]


def test_compose_keeps_the_hugging_face_cache_in_a_named_volume(
    compose: dict[str, Any], vllm_service: dict[str, Any]
) -> None:
    assert "hf-cache:/root/.cache/huggingface" in vllm_service["volumes"]
    assert "hf-cache" in compose["volumes"]


def test_compose_runtime_settings(vllm_service: dict[str, Any]) -> None:
    assert vllm_service["ipc"] == "host"
    assert vllm_service["ports"] == ["8000:8000"]
    assert vllm_service["restart"] == "unless-stopped"
    # HF_TOKEN is passed on from the host only when set there (a null value).
    assert "HF_TOKEN" in vllm_service["environment"]
    assert vllm_service["environment"]["HF_TOKEN"] is None


def test_compose_fp8_override_only_swaps_the_model() -> None:
    override = _yaml(SERVER / "compose.fp8.yaml")
    assert override["services"]["vllm"] == {
        "environment": {"MODEL_ID": MODEL_FP8, "SERVED_MODEL_NAME": MODEL_FP8}
    }


# --- The ScreenScribe profile ---------------------------------------------------------


def test_profile_snippet_loads_with_the_settings_loader(
    tmp_path: Path, vllm_service: dict[str, Any]
) -> None:
    settings_file = tmp_path / "settings.toml"
    settings_file.write_bytes((SERVER / "screenscribe-profile.toml").read_bytes())
    result = load_settings(settings_file)
    assert result.warnings == ()
    settings = result.settings
    assert settings.default_profile == "gpu"
    profile = settings.profiles["gpu"]
    assert profile.model == MODEL == _serve_args(vllm_service)[0]
    url = urlsplit(profile.base_url)
    assert url.scheme == "http"
    assert url.path == "/v1"
    published = {int(p.split(":")[0]): int(p.split(":")[1]) for p in vllm_service["ports"]}
    assert published[url.port] == int(_flag(_serve_args(vllm_service), "--port"))


def test_profile_snippet_holds_no_key() -> None:
    text = (SERVER / "screenscribe-profile.toml").read_text(encoding="utf-8")
    assert not re.search(r"^\s*(api_key|key|token)\s*=", text, re.MULTILINE)


# --- Kubernetes: plain manifests ------------------------------------------------------


def _manifests() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in _yaml_all(path):
            if doc.get("kind") != "Kustomization":
                docs.append((path.name, doc))
    return docs


def _resource(kind: str) -> dict[str, Any]:
    (doc,) = [d for _, d in _manifests() if d["kind"] == kind]
    return doc


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize(
    ("name", "doc"), _manifests(), ids=[f"{name}:{doc['kind']}" for name, doc in _manifests()]
)
def test_manifests_follow_the_kubernetes_schemas(
    name: str, doc: dict[str, Any], version: str
) -> None:
    assert kubernetes_validate.validate(doc, version, strict=True) == version[:4]


def test_kubernetes_schemas_reject_a_misspelled_field() -> None:
    broken = copy.deepcopy(_resource("Deployment"))
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[-1], strict=True)


def test_kustomization_applies_every_manifest_but_the_secret_example() -> None:
    kustomization = _yaml(K8S / "kustomization.yaml")
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk - {"secret.example.yaml"}


def test_all_manifests_share_one_namespace() -> None:
    namespace = _resource("Namespace")["metadata"]["name"]
    assert namespace == "screenscribe"
    for _, doc in _manifests():
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == namespace


def test_deployment_serves_the_model_with_the_protocol_flags() -> None:
    deployment = _resource("Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert _vllm_image_version(container["image"]) >= (0, 11, 0)
    assert container["command"] == ["vllm", "serve"]
    args = container["args"]
    assert args[0] == MODEL
    assert _flag(args, "--served-model-name") == MODEL
    assert _flag(args, "--max-model-len") == "32768"
    assert json.loads(_flag(args, "--limit-mm-per-prompt")) == MM_LIMIT
    assert _flag(args, "--port") == "8000"
    assert "--api-key" not in args


def test_deployment_takes_the_key_from_the_secret() -> None:
    deployment = _resource("Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    ref = env["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"]
    assert (ref["name"], ref["key"]) == (SECRET_NAME, SECRET_KEY)
    assert "optional" not in ref  # no key, no start
    assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"]["optional"] is True
    secret = _resource("Secret")
    assert secret["metadata"]["name"] == SECRET_NAME
    assert set(secret["stringData"]) == {SECRET_KEY}


def test_deployment_gpu_probes_and_volumes() -> None:
    deployment = _resource("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    port_name = container["ports"][0]["name"]
    assert container["ports"][0]["containerPort"] == 8000
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": port_name}
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert volumes[mounts["/dev/shm"]]["emptyDir"]["medium"] == "Memory"
    claim = volumes[mounts["/root/.cache/huggingface"]]["persistentVolumeClaim"]["claimName"]
    assert claim == _resource("PersistentVolumeClaim")["metadata"]["name"]


def test_service_reaches_the_deployment() -> None:
    service = _resource("Service")
    deployment = _resource("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    (port,) = service["spec"]["ports"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert port["targetPort"] == container["ports"][0]["name"]
    assert port["port"] == 8000


# --- Kubernetes: production-stack Helm values -----------------------------------------


@pytest.fixture(scope="module")
def helm_schema() -> dict[str, Any]:
    schema: dict[str, Any] = _json(HELM / "values.schema.excerpt.json")
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


@pytest.fixture
def values() -> dict[str, Any]:
    data: dict[str, Any] = _yaml(HELM / "values.yaml")
    return data


def _undeclared_keys(value: Any, schema: dict[str, Any], where: str = "") -> list[str]:
    """Keys of ``value`` that ``schema`` does not declare, descending through
    ``properties`` and array ``items`` (free-form objects are not descended)."""
    found = []
    if isinstance(value, dict) and "properties" in schema:
        for key, item in value.items():
            if key not in schema["properties"]:
                found.append(f"{where}.{key}")
            else:
                found += _undeclared_keys(item, schema["properties"][key], f"{where}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            found += _undeclared_keys(item, schema["items"], f"{where}[{i}]")
    return found


def test_helm_values_follow_the_chart_schema(
    helm_schema: dict[str, Any], values: dict[str, Any]
) -> None:
    jsonschema.Draft202012Validator(helm_schema).validate(values)
    assert _undeclared_keys(values, helm_schema) == []


def test_helm_schema_checks_reject_wrong_values(
    helm_schema: dict[str, Any], values: dict[str, Any]
) -> None:
    validator = jsonschema.Draft202012Validator(helm_schema)
    wrong_logic = copy.deepcopy(values)
    wrong_logic["routerSpec"]["routingLogic"] = "sessions"
    assert list(validator.iter_errors(wrong_logic))
    misspelled = copy.deepcopy(values)
    misspelled["servingEngineSpec"]["modelSpec"][0]["replicas"] = 2
    assert _undeclared_keys(misspelled, helm_schema) == [".servingEngineSpec.modelSpec[0].replicas"]


def test_helm_values_router_uses_session_routing(values: dict[str, Any]) -> None:
    router = values["routerSpec"]
    assert router["enableRouter"] is True
    assert router["routingLogic"] == "session"
    assert router["sessionKey"] == SESSION_HEADER


def test_helm_values_serve_the_model_with_the_protocol_flags(values: dict[str, Any]) -> None:
    engine = values["servingEngineSpec"]
    (spec,) = engine["modelSpec"]
    assert spec["modelURL"] == MODEL
    assert spec["repository"] == "vllm/vllm-openai"
    assert _vllm_image_version(f"{spec['repository']}:{spec['tag']}") >= (0, 11, 0)
    assert spec["replicaCount"] == 2
    assert spec["requestGPU"] == 1
    assert spec["pvcStorage"]
    config = spec["vllmConfig"]
    assert config["maxModelLen"] == 32768
    # The chart passes --no-enable-prefix-caching unless this is true.
    assert config["enablePrefixCaching"] is True
    assert json.loads(_flag(config["extraArgs"], "--limit-mm-per-prompt")) == MM_LIMIT
    assert engine["vllmApiKey"] == {"secretName": SECRET_NAME, "secretKey": SECRET_KEY}
    assert engine["startupProbe"]["httpGet"]["path"] == "/health"


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_helm_values_volumes_are_kubernetes_volumes(values: dict[str, Any], version: str) -> None:
    """The chart copies extraVolumes and extraVolumeMounts into the pod as they are:
    a Pod built from them must pass the Kubernetes schema."""
    (spec,) = values["servingEngineSpec"]["modelSpec"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "check"},
        "spec": {
            "containers": [
                {"name": "vllm", "image": "x", "volumeMounts": spec["extraVolumeMounts"]}
            ],
            "volumes": spec["extraVolumes"],
        },
    }
    kubernetes_validate.validate(pod, version, strict=True)
    mounts = {m["mountPath"]: m["name"] for m in spec["extraVolumeMounts"]}
    volumes = {v["name"]: v for v in spec["extraVolumes"]}
    assert volumes[mounts["/dev/shm"]]["emptyDir"]["medium"] == "Memory"
