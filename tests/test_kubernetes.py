"""deploy/kubernetes: rendered offline (tests/kustomize_lite.py), validated against the
Kubernetes API schemas bundled with kubernetes-validate, and checked against what the code
reads: config keys and variables, ports, probes, volumes, image."""

from __future__ import annotations

import base64
import dataclasses
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import grpc
import httpx
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.config import ADMIN_API_KEYS_ENV, API_KEYS_ENV, GatewayConfig
from gateway.config import load_config as gateway_config
from gateway.routes import AppOptions, create_app
from llmrouter.access import Authorizer
from llmrouter.config import env_names
from llmrouter.shared_state import StateConfig, load_state_config
from llmrouter.v1 import router_service_pb2, router_service_pb2_grpc
from metrics_svc.config import AUTH_TOKENS_ENV as METRICS_AUTH_TOKENS_ENV
from metrics_svc.config import SCOPES as METRICS_SCOPES
from metrics_svc.config import MetricsConfig
from metrics_svc.config import load_config as metrics_config
from router_svc.config import AUTH_TOKENS_ENV as ROUTER_AUTH_TOKENS_ENV
from router_svc.config import SCOPES as ROUTER_SCOPES
from router_svc.config import RouterConfig
from router_svc.config import load_config as router_config
from router_svc.known_providers import ENV_PROVIDERS
from tests.kustomize_lite import build

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy" / "kubernetes"
BASE = DEPLOY / "base"
PRODUCTION = DEPLOY / "overlays" / "production"
SECRETS_EXAMPLE = PRODUCTION / "secrets.env.example"
# The oldest Kubernetes the manifests promise to work on (gRPC probes are GA since 1.27;
# policy/v1 and autoscaling/v2 are older). Validated strictly: unknown fields fail.
KUBERNETES_VERSION = "1.30.0"
COMPONENTS = ("gateway", "router", "metrics")
SECRET_NAME = "llmrouter-secrets"
CONFIG_NAME = "llmrouter-config"
CONFIG_KEY = "llmrouter.toml"
# libpq's password variable, which asyncpg reads when metrics.database_url has no password.
PGPASSWORD = "PGPASSWORD"

Resource = dict[str, Any]


def render(directory: Path) -> list[Resource]:
    return build(directory, {PRODUCTION / "secrets.env": SECRETS_EXAMPLE})


@pytest.fixture(scope="module")
def production() -> list[Resource]:
    return render(PRODUCTION)


def find(resources: list[Resource], kind: str, name: str) -> Resource:
    matches = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def of_kind(resources: list[Resource], kind: str) -> list[Resource]:
    return [r for r in resources if r["kind"] == kind]


def deployment(resources: list[Resource], component: str) -> Resource:
    return find(resources, "Deployment", f"llmrouter-{component}")


def pod_spec(resource: Resource) -> dict[str, Any]:
    spec: dict[str, Any] = resource["spec"]["template"]["spec"]
    return spec


def container(resources: list[Resource], component: str) -> dict[str, Any]:
    containers = pod_spec(deployment(resources, component))["containers"]
    assert [c["name"] for c in containers] == [component]
    result: dict[str, Any] = containers[0]
    return result


def config_document(resources: list[Resource]) -> dict[str, Any]:
    text = find(resources, "ConfigMap", CONFIG_NAME)["data"][CONFIG_KEY]
    return tomllib.loads(text)


def example_secret_keys() -> set[str]:
    keys = set()
    for line in SECRETS_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keys.add(line.split("=", 1)[0])
    return keys


def container_env(resources: list[Resource], component: str) -> dict[str, str]:
    """The container's environment as the kubelet builds it, each secret set to a distinct
    value derived from its key (optional ones included)."""
    env = {}
    for entry in container(resources, component).get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            env[entry["name"]] = f"value-of-{ref['key']}-{'x' * 24}"
    if API_KEYS_ENV in env:
        env[API_KEYS_ENV] = "team:team-key-0123456789abcdef"
    if ADMIN_API_KEYS_ENV in env:
        env[ADMIN_API_KEYS_ENV] = "ops:ops-key-0123456789abcdef"
    return env


def written_config(tmp_path: Path, resources: list[Resource]) -> str:
    path = tmp_path / CONFIG_KEY
    path.write_text(find(resources, "ConfigMap", CONFIG_NAME)["data"][CONFIG_KEY])
    return str(path)


# -- rendering and schema ---------------------------------------------------------------------


@pytest.mark.parametrize("directory", [BASE, PRODUCTION], ids=["base", "production"])
def test_every_document_is_valid_for_the_pinned_kubernetes(directory: Path) -> None:
    resources = render(directory)
    kinds = {r["kind"] for r in resources}
    assert {"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"} <= kinds
    assert "ConfigMap" in kinds
    for resource in resources:
        try:
            kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = "/".join(str(p) for p in exc.path)
            pytest.fail(f"{resource['kind']}/{resource['metadata']['name']} {where}: {exc.message}")


def test_validation_rejects_what_the_api_server_would() -> None:
    """The validator is strict: a misspelt field or a wrong type fails (so the test above can)."""
    resources = render(PRODUCTION)
    broken = deployment(resources, "router")
    pod_spec(broken)["containers"][0]["readinessProbe"]["grpc"]["prot"] = 50051
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    service = find(resources, "Service", "llmrouter-router")
    service["spec"]["ports"][0]["port"] = "50051"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(service, KUBERNETES_VERSION, strict=True)


def test_overlay_sets_namespace_image_secret_and_scaling(production: list[Resource]) -> None:
    namespace = find(production, "Namespace", "llmrouter")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for resource in production:
        if resource["kind"] != "Namespace":
            assert resource["metadata"].get("namespace") == "llmrouter", resource["metadata"]
    assert find(production, "Secret", SECRET_NAME)["type"] == "Opaque"
    for name in ("llmrouter-gateway", "llmrouter-router"):
        hpa = find(production, "HorizontalPodAutoscaler", name)
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 20)
        # The patch changed only the bounds; the base's metric and behaviour are kept.
        assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
        assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300


# -- labels, selectors, scaling ---------------------------------------------------------------


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.parametrize("directory", [BASE, PRODUCTION], ids=["base", "production"])
def test_selectors_pick_exactly_their_own_pods(directory: Path) -> None:
    resources = render(directory)
    deployments = of_kind(resources, "Deployment")
    assert {d["metadata"]["name"] for d in deployments} == {f"llmrouter-{c}" for c in COMPONENTS}
    pods = {d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"] for d in deployments}
    for item in deployments:
        assert _selects(item["spec"]["selector"]["matchLabels"], pods[item["metadata"]["name"]])
    selectors = [(s, s["spec"]["selector"]) for s in of_kind(resources, "Service")]
    selectors += [
        (p, p["spec"]["selector"]["matchLabels"]) for p in of_kind(resources, "PodDisruptionBudget")
    ]
    for item, selector in selectors:
        selected = [name for name, labels in pods.items() if _selects(selector, labels)]
        assert selected == [item["metadata"]["name"]], (item["kind"], selected)


@pytest.mark.parametrize("directory", [BASE, PRODUCTION], ids=["base", "production"])
def test_autoscaled_deployments_leave_replicas_to_the_autoscaler(directory: Path) -> None:
    """An HPA for gateway and router; their Deployments set no replicas (each apply would
    reset the count); every PDB's workload keeps at least 2 pods, so maxUnavailable 1
    leaves one serving during a node drain."""
    resources = render(directory)
    hpas = {
        h["spec"]["scaleTargetRef"]["name"]: h
        for h in of_kind(resources, "HorizontalPodAutoscaler")
    }
    assert set(hpas) == {"llmrouter-gateway", "llmrouter-router"}
    for name, hpa in hpas.items():
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
        assert "replicas" not in find(resources, "Deployment", name)["spec"], name
        assert hpa["spec"]["minReplicas"] >= 2
    for pdb in of_kind(resources, "PodDisruptionBudget"):
        name = pdb["metadata"]["name"]
        assert pdb["spec"] == {**pdb["spec"], "maxUnavailable": 1}
        least = hpas[name]["spec"]["minReplicas"] if name in hpas else None
        least = least or find(resources, "Deployment", name)["spec"]["replicas"]
        assert least >= 2, name
    assert {p["metadata"]["name"] for p in of_kind(resources, "PodDisruptionBudget")} == {
        f"llmrouter-{c}" for c in COMPONENTS
    }


# -- ports, services, probes -----------------------------------------------------------------


def _container_ports(resources: list[Resource], component: str) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in container(resources, component)["ports"]}


def _port_number(resources: list[Resource], component: str, port: int | str) -> int:
    ports = _container_ports(resources, component)
    if isinstance(port, str):
        assert port in ports, f"{component}: no container port named {port!r}"
        return ports[port]
    assert port in ports.values(), f"{component}: no container port {port}"
    return port


def test_services_reach_the_ports_their_pods_listen_on(production: list[Resource]) -> None:
    """A headless Service does no port translation (clients dial pod addresses), so its port
    must be the container's; the gateway's ClusterIP Service keeps the same numbers."""
    for component in COMPONENTS:
        service = find(production, "Service", f"llmrouter-{component}")
        for port in service["spec"]["ports"]:
            target = _port_number(production, component, port["targetPort"])
            assert port["port"] == target, (component, port)
    assert find(production, "Service", "llmrouter-router")["spec"]["clusterIP"] == "None"
    assert find(production, "Service", "llmrouter-metrics")["spec"]["clusterIP"] == "None"
    assert find(production, "Service", "llmrouter-gateway")["spec"]["type"] == "ClusterIP"


def test_ports_in_the_config_are_the_container_ports(production: list[Resource]) -> None:
    document = config_document(production)
    for component in COMPONENTS:
        ports = _container_ports(production, component)
        section = document[component]
        assert section["host"] == "0.0.0.0", component
        assert ports[("http" if component == "gateway" else "grpc")] == section["port"]
        if component != "gateway":
            assert ports["prometheus"] == section["prometheus_port"]


def test_probes_point_at_listening_ports(production: list[Resource]) -> None:
    for component in COMPONENTS:
        spec = container(production, component)
        probes = [spec[k] for k in ("startupProbe", "readinessProbe", "livenessProbe")]
        for probe in probes:
            if component == "gateway":
                assert _port_number(production, component, probe["httpGet"]["port"]) == 8080
            else:
                # The kubelet's gRPC probe takes a number only, and has no TLS.
                assert probe["grpc"]["port"] == _container_ports(production, component)["grpc"]
                assert probe["grpc"].get("service", "") == ""
    gateway = container(production, "gateway")
    assert gateway["startupProbe"]["httpGet"]["path"] == "/readyz"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/healthz"


async def test_gateway_probe_paths_answer_without_a_key(
    production: list[Resource], tmp_path: Path
) -> None:
    """The gateway built from the ConfigMap and its container's environment (auth on) serves
    each probe's path to a caller without a key, as the kubelet is. Liveness and readiness
    answer 200 with no router or metrics service reachable (they must not fail together on
    an outage of what every gateway shares); the start waits for /readyz, which says not
    ready until both upstreams are up."""
    env = container_env(production, "gateway")
    config = gateway_config(written_config(tmp_path, production), env)
    assert config.auth_enabled
    app = create_app(config, AppOptions(environ=env))
    probes = container(production, "gateway")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        assert (await client.get("/v1/models")).status_code == 401
        for kind in ("livenessProbe", "readinessProbe"):
            response = await client.get(probes[kind]["httpGet"]["path"])
            assert (response.status_code, response.json()["auth"]) == (200, "enabled"), kind
        # Not started here (no upstreams): not ready, and neither 401 nor 404.
        startup = await client.get(probes["startupProbe"]["httpGet"]["path"])
        assert startup.status_code == 503
        assert startup.json()["error"]["message"] == "The gateway is not started."


@pytest.fixture
def router_env(production: list[Resource], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = container_env(production, "router")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # Nothing to reach here: the ConfigMap's Redis is another cluster's Service.
    monkeypatch.setenv("LLMROUTER_STATE_BACKEND", "embedded")
    return env


async def test_router_answers_the_kubelets_grpc_probe(
    production: list[Resource], router_env: dict[str, str], tmp_path: Path
) -> None:
    """The router started from the ConfigMap answers grpc.health.v1 Check (service "", no
    token: what the kubelet sends) while refusing RouterService calls without a token."""
    from router_svc.server import start

    config = router_config(written_config(tmp_path, production), environ=router_env)
    config = dataclasses.replace(
        config,
        host="127.0.0.1",
        port=0,
        prometheus_port=0,
        outbox_path=str(tmp_path / "outbox.sqlite3"),
        state_path=str(tmp_path / "state.json"),
    )
    running = await start(config)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            reply = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            stub = router_service_pb2_grpc.RouterServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.ListModels(router_service_pb2.ListModelsRequest(), timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        await running.stop(grace=0)


def test_termination_grace_covers_drain_and_shutdown(production: list[Resource]) -> None:
    document = config_document(production)
    router = document["router"]
    spec = pod_spec(deployment(production, "router"))
    assert (
        spec["terminationGracePeriodSeconds"] > router["drain_delay_s"] + router["shutdown_grace_s"]
    )
    gateway = pod_spec(deployment(production, "gateway"))
    pre_stop = int(gateway["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][-1])
    grace = GatewayConfig().shutdown_grace_s
    assert gateway["terminationGracePeriodSeconds"] > pre_stop + grace


# -- addresses and config ---------------------------------------------------------------------


def _service_address(resources: list[Resource], address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    names = {s["metadata"]["name"]: s for s in of_kind(resources, "Service")}
    assert host in names, f"{address}: no Service {host!r}"
    assert int(port) in {p["port"] for p in names[host]["spec"]["ports"]}, address
    return host, int(port)


def test_addresses_in_the_config_name_the_services(production: list[Resource]) -> None:
    """The gateway dials its one router address as dns:///llmrouter-router:50051 with
    round_robin, which spreads calls over every address a headless Service returns."""
    document = config_document(production)
    gateway = document["gateway"]
    assert gateway["router_addresses"] == ["llmrouter-router:50051"]
    assert _service_address(production, gateway["router_addresses"][0])[0] == "llmrouter-router"
    for address in (gateway["metrics_address"], document["router"]["metrics_address"]):
        assert _service_address(production, address) == ("llmrouter-metrics", 50052)
    # gRPC resolves the name again only on a closed connection: routers renew connections so
    # that running gateways find the pods the autoscaler adds.
    assert find(production, "HorizontalPodAutoscaler", "llmrouter-router")
    assert 0 < document["router"]["max_connection_age_s"] <= 300


async def test_gateway_dials_one_headless_name_round_robin() -> None:
    """What the address above becomes in the gateway: a DNS target (re-resolved, one
    subchannel per address) under a round_robin service config."""
    from gateway.channels import SERVICE_CONFIG, router_target

    assert await router_target(["llmrouter-router:50051"]) == "dns:///llmrouter-router:50051"
    assert '"round_robin"' in SERVICE_CONFIG


def test_config_map_loads_with_every_services_loader(
    production: list[Resource], tmp_path: Path
) -> None:
    """Each service reads the ConfigMap with its own container's environment, and the tokens
    each caller sends grant exactly the scopes it needs."""
    path = written_config(tmp_path, production)
    document = config_document(production)
    env = {c: container_env(production, c) for c in COMPONENTS}
    router = router_config(path, environ=env["router"])
    metrics = metrics_config(path, env["metrics"])
    gateway = gateway_config(path, env["gateway"])
    for component in ("router", "gateway"):
        state = load_state_config(document, env[component])
        assert (state.backend, state.redis_url) == ("redis", "redis://redis:6379/0")
        assert env[component][state.redis_password_env]
        from llmrouter.shared_state import RedisState

        RedisState(state, env[component])  # the password variable is set; no connection yet
    assert metrics.database_url.startswith("postgresql+asyncpg://")
    assert ":" not in metrics.database_url.split("//", 1)[1].split("@", 1)[0]  # no password
    assert (router.outbox_path, router.state_path) == (
        "/data/router-outbox.sqlite3",
        "/data/router-state.json",
    )
    router_access = Authorizer.from_config(
        ROUTER_SCOPES, "router", auth_tokens=router.auth_tokens, environ=env["router"]
    )
    metrics_access = Authorizer.from_config(
        METRICS_SCOPES, "metrics", auth_tokens=metrics.auth_tokens, environ=env["metrics"]
    )
    assert router_access is not None
    assert metrics_access is not None

    def scopes(access: Authorizer, caller: str, variable: str) -> set[str] | None:
        granted = access.scopes_of_token(env[caller][variable])
        return None if granted is None else set(granted)

    assert scopes(router_access, "gateway", gateway.router_token_env) == {"inference"}
    assert scopes(router_access, "gateway", gateway.router_admin_token_env) == {"admin"}
    assert scopes(metrics_access, "gateway", gateway.metrics_token_env) == {"read", "feedback"}
    # The router records usage, reads it back (budgets, quality estimates) and its judges
    # score answers.
    assert scopes(metrics_access, "router", router.metrics_token_env) == {
        "record",
        "read",
        "feedback",
    }
    assert scopes(router_access, "router", router.metrics_token_env) is None
    assert [k.id for k in gateway.api_keys] == ["team", "ops"]


def _named_by_config(component: str, path: str, env: dict[str, str]) -> set[str]:
    """Variables the loaded config names (tokens, keys, passwords): the process reads them."""
    if component == "router":
        router: RouterConfig = router_config(path, environ=env)
        names = {g.env for g in router.auth_tokens} | set(router.auth_token_envs)
        names |= {router.metrics_token_env} | {p.api_key_env for p in router.providers}
        names |= {key_env for _, _, _, key_env, _ in ENV_PROVIDERS}
    elif component == "metrics":
        metrics: MetricsConfig = metrics_config(path, env)
        names = {g.env for g in metrics.auth_tokens} | set(metrics.auth_token_envs)
    else:
        gateway: GatewayConfig = gateway_config(path, env)
        names = {gateway.router_token_env, gateway.router_admin_token_env}
        names |= {gateway.metrics_token_env} | {k.env for k in gateway.api_keys}
    if component != "metrics":
        names.add(load_state_config(tomllib.loads(Path(path).read_text()), env).redis_password_env)
    return names - {""}


def test_every_variable_is_read_and_every_needed_one_is_set(
    production: list[Resource], tmp_path: Path
) -> None:
    path = written_config(tmp_path, production)
    sections: dict[str, tuple[type[Any], set[str]]] = {
        "router": (RouterConfig, {ROUTER_AUTH_TOKENS_ENV}),
        "metrics": (MetricsConfig, {METRICS_AUTH_TOKENS_ENV, PGPASSWORD}),
        "gateway": (GatewayConfig, {API_KEYS_ENV, ADMIN_API_KEYS_ENV}),
    }
    for component, (cls, shortcuts) in sections.items():
        env = container_env(production, component)
        known = env_names(cls, component) | shortcuts | _named_by_config(component, path, env)
        if component != "metrics":
            known |= env_names(StateConfig, "state")
        unknown = set(env) - known
        assert not unknown, f"{component}: sets variables the code never reads: {unknown}"
        needed = _named_by_config(component, path, env) - {
            key_env for _, _, _, key_env, _ in ENV_PROVIDERS
        }
        missing = needed - set(env)
        assert not missing, f"{component}: the config names variables the pod lacks: {missing}"


def test_secrets_come_from_the_secret_only(production: list[Resource]) -> None:
    """No literal values; every reference names the generated Secret and a key the example
    lists; required ones (not optional) are exactly the ones without which a service stops."""
    keys = example_secret_keys()
    secret = find(production, "Secret", SECRET_NAME)
    assert set(secret["data"]) == keys
    assert all(base64.b64decode(v) == b"" for v in secret["data"].values())
    optional_ok = {ADMIN_API_KEYS_ENV} | {key_env for _, _, _, key_env, _ in ENV_PROVIDERS}
    for component in COMPONENTS:
        for entry in container(production, component).get("env", []):
            assert "value" not in entry, f"{component}: {entry['name']} has a literal value"
            ref = entry["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == (SECRET_NAME, entry["name"]), entry
            assert ref["key"] in keys, entry
            assert ref.get("optional", False) == (ref["key"] in optional_ok), entry
        assert "envFrom" not in container(production, component), component
    # The filled-in file never reaches git.
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(PRODUCTION / "secrets.env")], cwd=ROOT, check=False
    )
    assert ignored.returncode == 0, "secrets.env is not ignored by git"


# -- pods: security, volumes, image ----------------------------------------------------------


def _mounts(resources: list[Resource], component: str) -> dict[str, dict[str, Any]]:
    return {m["mountPath"]: m for m in container(resources, component)["volumeMounts"]}


def test_pods_run_restricted(production: list[Resource]) -> None:
    """The restricted Pod Security Standard the namespace enforces, plus a read-only root."""
    for component in COMPONENTS:
        spec = pod_spec(deployment(production, component))
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True
        assert pod["runAsUser"] > 0
        assert pod["seccompProfile"]["type"] == "RuntimeDefault"
        assert spec["automountServiceAccountToken"] is False
        context = container(production, component)["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert not context.get("privileged", False)
        volumes = {v["name"] for v in spec["volumes"]}
        assert {m["name"] for m in _mounts(production, component).values()} <= volumes


def test_files_the_router_writes_are_on_writable_volumes(production: list[Resource]) -> None:
    router = config_document(production)["router"]
    mounts = _mounts(production, "router")
    volumes = {v["name"]: v for v in pod_spec(deployment(production, "router"))["volumes"]}
    for key in ("outbox_path", "state_path"):
        directory = str(Path(router[key]).parent)
        assert directory in mounts, f"router.{key}: {router[key]} is on the read-only root"
        mount = mounts[directory]
        assert not mount.get("readOnly", False)
        assert (
            "emptyDir" in volumes[mount["name"]]
            or "persistentVolumeClaim" in volumes[mount["name"]]
        )
    assert "/tmp" in mounts


def test_every_container_has_requests_and_limits(production: list[Resource]) -> None:
    for component in COMPONENTS:
        resources = container(production, component)["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]), component
        assert "memory" in resources["limits"], component


def _pyproject_version() -> str:
    version: str = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    return version


def test_image_and_command_follow_the_dockerfile(production: list[Resource]) -> None:
    """One image for the three services (the Dockerfile's), named llmrouter and tagged with the
    project's version; its ENTRYPOINT is the llmrouter command, so args pick the service and
    the config file mounted from the ConfigMap."""
    entrypoint = next(
        line
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("ENTRYPOINT")
    )
    assert entrypoint == 'ENTRYPOINT ["llmrouter"]'
    version = _pyproject_version()
    base = render(BASE)
    for component in COMPONENTS:
        assert container(base, component)["image"] == f"llmrouter:{version}"
        image = container(production, component)["image"]
        assert re.fullmatch(rf"[a-z0-9.:-]+(/[a-z0-9._-]+)*/llmrouter:{re.escape(version)}", image)
        spec = container(production, component)
        assert "command" not in spec
        assert spec["args"][:2] == ["serve", component]
        assert spec["args"][2] == "--config"
        config_path = Path(spec["args"][3])
        mount = _mounts(production, component)[str(config_path.parent)]
        volume = next(
            v
            for v in pod_spec(deployment(production, component))["volumes"]
            if v["name"] == mount["name"]
        )
        assert volume["configMap"]["name"] == CONFIG_NAME
        assert config_path.name == CONFIG_KEY
        assert mount["readOnly"] is True
