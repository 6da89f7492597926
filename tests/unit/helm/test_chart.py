"""The Helm chart, rendered by Helm's own template engine (helm-python-sdk binds the Helm Go SDK;
no helm binary) for the default values and every file in helm/cairn/ci/, each object validated
against the Kubernetes schema (kubernetes-validate, strict: unknown fields are errors), and the
chart's invariants checked: disruption budgets, spread, probes, security context, the secret,
and that every flag it passes exists in the command it runs."""

from __future__ import annotations

import base64
import functools
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from cairn.placement.config import PlacementConfig
from cairn.sse_crypto import Keyring

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "helm" / "cairn"
K8S_VERSION = "1.30.0"
VALUE_FILES = sorted(p.name for p in (CHART / "ci").glob("*-values.yaml"))
WORKLOADS = ("StatefulSet", "Deployment")


def render(values: dict[str, Any] | None = None, name: str = "demo") -> list[dict[str, Any]]:
    """Every object the chart renders for `values` (NOTES.txt aside)."""
    with helm.Chart.load(str(CHART)) as chart:
        manifests = chart.render(values or {}, name=name, namespace="storage")
    objects = []
    for path, text in sorted(manifests.items()):
        if path.endswith(".txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def ci_values(file_name: str) -> dict[str, Any]:
    return yaml.safe_load((CHART / "ci" / file_name).read_text()) or {}


def merged_values(values: dict[str, Any]) -> dict[str, Any]:
    with helm.Chart.load(str(CHART)) as chart:
        return chart.merge_values(values)


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def named(objects: list[dict[str, Any]], kind: str, suffix: str) -> dict[str, Any]:
    (found,) = [o for o in of_kind(objects, kind) if o["metadata"]["name"].endswith(suffix)]
    return found


def pod_containers(workload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = workload["spec"]["template"]["spec"]
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


CASES = [("default", {})] + [(f, ci_values(f)) for f in VALUE_FILES]


@pytest.fixture(scope="module", params=CASES, ids=[c[0] for c in CASES])
def case(request: pytest.FixtureRequest) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    values = request.param[1]
    return merged_values(values), render(values)


def test_the_value_files_cover_small_and_dense_clusters_tls_and_secrets() -> None:
    assert {
        "small-values.yaml",
        "dense-values.yaml",
        "tls-values.yaml",
        "existing-secret-values.yaml",
    } <= set(VALUE_FILES)


def test_helm_lint_finds_no_error() -> None:
    for values_file in [None, *VALUE_FILES]:
        result = helm.lint(str(CHART), values=ci_values(values_file) if values_file else None)
        assert result["errors"] == [], result
        assert not [m for m in result["messages"] if m["severity"] >= 3], result


#: Custom resources: no Kubernetes schema (checked by their own test below).
CUSTOM = {"monitoring.coreos.com/v1"}


def test_every_object_validates_against_the_kubernetes_schema(case: Any) -> None:
    _, objects = case
    assert objects
    for obj in objects:
        if obj["apiVersion"] not in CUSTOM:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_every_workload_has_a_disruption_budget_selecting_its_pods(case: Any) -> None:
    values, objects = case
    budgets = of_kind(objects, "PodDisruptionBudget")
    for workload in [o for o in objects if o["kind"] in WORKLOADS]:
        component = workload["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        if workload["kind"] == "Deployment" and not values[component]["pdb"]["enabled"]:
            continue
        labels = workload["spec"]["template"]["metadata"]["labels"]
        matching = [b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert len(matching) == 1, component
    m = values["erasure"]["m"]
    datanode = named(budgets, "PodDisruptionBudget", "-datanode")["spec"]["maxUnavailable"]
    assert 1 <= datanode <= m
    assert datanode == max(1, m - 1)  # every PG keeps its write quorum of k + 1
    for group in ("placement", "metadata"):
        replicas = values[group]["replicas"]
        budget = named(budgets, "PodDisruptionBudget", f"-{group}")["spec"]["maxUnavailable"]
        assert replicas - budget == replicas // 2 + 1  # a Raft majority stays


def _flag(container: dict[str, Any], name: str) -> str:
    (value,) = [a.split("=", 1)[1] for a in container["args"] if a.startswith(f"--{name}=")]
    return value


@pytest.mark.parametrize("group", ["placement", "metadata"])
def test_raft_groups_name_every_replica_and_clients_dial_them_all(case: Any, group: str) -> None:
    values, objects = case
    workload = named(objects, "StatefulSet", f"-{group}")
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    assert workload["spec"]["replicas"] == values[group]["replicas"]
    assert _flag(container, "id") == "$(POD_NAME)"
    peers = dict(p.split("=", 1) for p in _flag(container, "peers").split(","))
    name = workload["metadata"]["name"]
    assert sorted(peers) == [f"{name}-{i}" for i in range(values[group]["replicas"])]
    service = named(objects, "Service", f"-{group}")
    assert service["spec"]["clusterIP"] == "None"  # each replica has its own DNS name
    for pod, addr in peers.items():
        assert addr == f"{pod}.{service['metadata']['name']}.storage.svc:{values[group]['port']}"
    (api,) = named(objects, "Deployment", "-api")["spec"]["template"]["spec"]["containers"]
    assert _flag(api, group).split(",") == list(peers.values())


def test_pods_spread_over_zones_and_hosts(case: Any) -> None:
    values, objects = case
    for workload in [o for o in objects if o["kind"] in WORKLOADS]:
        spec = workload["spec"]["template"]["spec"]
        labels = workload["spec"]["template"]["metadata"]["labels"]
        keys = set()
        for constraint in spec["topologySpreadConstraints"]:
            assert constraint["labelSelector"]["matchLabels"].items() <= labels.items()
            keys.add(constraint["topologyKey"])
        assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    datanode = named(objects, "StatefulSet", "-datanode")
    assert values["datanode"]["replicas"] >= values["erasure"]["k"] + values["erasure"]["m"]
    pod = datanode["spec"]["template"]["spec"]
    if values["datanode"]["onePerHost"]:
        anti = pod["affinity"]["podAntiAffinity"]
        assert (
            anti["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"]
            == "kubernetes.io/hostname"
        )
    else:  # several per host, spread evenly: the host constraint may not be relaxed
        assert "affinity" not in pod
        (by_host,) = [
            c for c in pod["topologySpreadConstraints"] if c["topologyKey"] == "kubernetes.io/hostname"
        ]
        assert (by_host["maxSkew"], by_host["whenUnsatisfiable"]) == (1, "DoNotSchedule")


def _placement_config(objects: list[dict[str, Any]]) -> PlacementConfig:
    """The placement config a replica builds from the chart's flags (placement's own parser)."""
    (container,) = named(objects, "StatefulSet", "-placement")["spec"]["template"]["spec"]["containers"]
    flags = dict(a[2:].split("=", 1) for a in container["args"][2:])
    return PlacementConfig(
        k=int(flags["k"]),
        m=int(flags["m"]),
        pg_count=int(flags["pg-count"]),
        auto_create_hosts=int(flags["auto-create-hosts"]),
        max_shards_per_host=int(flags["max-shards-per-host"]),
    )


def test_placement_creates_the_map_with_the_hosts_the_data_nodes_can_fill(case: Any) -> None:
    values, objects = case
    config = _placement_config(objects)  # placement's own checks of the layout run here
    assert config.auto_create_hosts <= values["datanode"]["replicas"]
    # one host lost never costs a PG more than m shards
    assert config.shards_per_host <= config.m


def test_the_dense_layout_puts_three_data_nodes_on_each_of_four_hosts() -> None:
    objects = render(ci_values("dense-values.yaml"))
    config = _placement_config(objects)
    assert (config.auto_create_hosts, config.shards_per_host, config.k, config.m) == (4, 3, 8, 4)
    assert named(objects, "StatefulSet", "-datanode")["spec"]["replicas"] == 12


def test_a_layout_placement_would_refuse_is_refused_at_render() -> None:
    too_few = {"placement": {"autoCreateHosts": 2, "maxShardsPerHost": 4}}
    with pytest.raises(helm.HelmError, match="cannot hold k\\+m=12 shards"):
        render(too_few)
    with pytest.raises(helm.HelmError, match="waits for 12 hosts but datanode.replicas is 6"):
        render({"datanode": {"replicas": 6}})


def _dockerfile_uid() -> int:
    users = re.findall(r"^USER\s+(\d+)", (ROOT / "Dockerfile").read_text(), re.M)
    return int(users[-1])


def test_pods_run_as_the_images_non_root_user_with_probes_and_resources(case: Any) -> None:
    _, objects = case
    for workload in [o for o in objects if o["kind"] in WORKLOADS]:
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == _dockerfile_uid()
        assert pod["automountServiceAccountToken"] is False
        for container in pod_containers(workload):
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
        for container in pod["containers"]:
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert "/tmp" in mounts  # the root filesystem is read-only


def test_probes_use_the_health_endpoints_on_a_port_that_serves_them(case: Any) -> None:
    values, objects = case
    for workload in [o for o in objects if o["kind"] in WORKLOADS]:
        for container in workload["spec"]["template"]["spec"]["containers"]:
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            ready, live = container["readinessProbe"]["httpGet"], container["livenessProbe"]["httpGet"]
            assert (ready["path"], live["path"]) == ("/cairn/health/ready", "/cairn/health/live")
            assert ready["port"] == live["port"]
            port = ports[ready["port"]]
            if container["args"][1] == "api":
                assert f"--port={port}" in container["args"]
                assert ready["scheme"] == ("HTTPS" if values["api"]["tls"]["secretName"] else "HTTP")
            else:
                assert f"--ops-port={port}" in container["args"]
                assert port == values["metrics"]["port"]


def test_the_service_monitor_scrapes_every_service() -> None:
    for values, scheme, api_port in ((ci_values("tls-values.yaml"), "https", "https"), ({}, None, "http")):
        values = {**values, "metrics": {"serviceMonitor": {"enabled": True}}}
        objects = render(values)
        (monitor,) = of_kind(objects, "ServiceMonitor")
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        selector = monitor["spec"]["selector"]["matchLabels"]
        services = [
            s for s in of_kind(objects, "Service") if selector.items() <= s["metadata"]["labels"].items()
        ]
        assert len(services) == 5  # placement, metadata, data nodes, S3, gc
        endpoints = {e["port"]: e for e in monitor["spec"]["endpoints"]}
        assert endpoints["metrics"]["path"] == "/metrics"
        assert endpoints[api_port]["path"] == "/cairn/metrics" and endpoints[api_port].get("scheme") == scheme
        for service in services:
            names = {p["name"] for p in service["spec"]["ports"]}
            assert names & set(endpoints), service["metadata"]["name"]
    assert of_kind(render({}), "ServiceMonitor") == []


@functools.cache
def _flags_of(command: tuple[str, ...]) -> set[str]:
    """The long flags `cairn <command> --help` lists."""
    help_text = subprocess.run(
        [sys.executable, "-m", "cairn", *command, "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return set(re.findall(r"--[a-z][a-z0-9-]*", help_text))


def test_every_flag_the_chart_passes_exists(case: Any) -> None:
    _, objects = case
    for workload in [o for o in objects if o["kind"] in WORKLOADS]:
        for container in pod_containers(workload):
            args = container["args"]
            command = tuple(args[:2]) if args[0] == "serve" else (args[0],)
            for arg in args[len(command) :]:
                flag = arg.split("=", 1)[0]
                assert flag in _flags_of(command), f"{' '.join(command)} has no {flag}"


def test_data_nodes_take_their_failure_domain_from_their_node(case: Any) -> None:
    _, objects = case
    datanode = named(objects, "StatefulSet", "-datanode")
    pod = datanode["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    assert init["args"][0] == "kube-domain"
    out = next(a.split("=", 1)[1] for a in init["args"] if a.startswith("--out="))
    (main,) = pod["containers"]
    assert f"--failure-domain-file={out}" in main["args"]
    assert not [a for a in main["args"] if a.split("=")[0] in ("--zone", "--rack", "--node-host")]
    # the service-account token reaches the init container only
    token_mounts = [
        c["name"]
        for c in pod_containers(datanode)
        for m in c["volumeMounts"]
        if m["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount"
    ]
    assert token_mounts == ["failure-domain"]
    (role,) = of_kind(objects, "ClusterRole")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]
    (binding,) = of_kind(objects, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"][0]["name"] == pod["serviceAccountName"]


def _root_env(objects: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    metadata = named(objects, "StatefulSet", "-metadata")
    (container,) = metadata["spec"]["template"]["spec"]["containers"]
    return {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in container["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }


def test_existing_secret_is_used_and_no_secret_is_generated() -> None:
    objects = render(ci_values("existing-secret-values.yaml"))
    assert of_kind(objects, "Secret") == []
    env = _root_env(objects)
    assert env["CAIRN_METADATA_ROOT_ACCESS_KEY"] == {
        "name": "cairn-root-credentials",
        "key": "AWS_ACCESS_KEY_ID",
    }
    assert env["CAIRN_METADATA_ROOT_SECRET_KEY"] == {
        "name": "cairn-root-credentials",
        "key": "AWS_SECRET_ACCESS_KEY",
    }


def test_given_keys_render_the_same_secret_every_time() -> None:
    values = ci_values("given-keys-values.yaml")
    secrets = [named(render(values), "Secret", "-root") for _ in range(2)]
    assert secrets[0] == secrets[1]
    data = secrets[0]["data"]
    assert base64.b64decode(data["accessKey"]).decode() == values["root"]["accessKey"]
    assert base64.b64decode(data["secretKey"]).decode() == values["root"]["secretKey"]
    assert "annotations" not in secrets[0]["metadata"]


def test_generated_keys_are_kept_and_one_key_alone_is_refused() -> None:
    secret = named(render({}), "Secret", "-root")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert base64.b64decode(secret["data"]["accessKey"]).decode().startswith("CAIRN")
    assert len(base64.b64decode(secret["data"]["secretKey"])) == 40
    assert _root_env(render({}))["CAIRN_METADATA_ROOT_ACCESS_KEY"]["name"] == secret["metadata"]["name"]
    with pytest.raises(helm.HelmError, match="go together"):
        render({"root": {"accessKey": "CAIRNONLYTHEKEY"}})


def _keyring_mounts(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per workload mounting the master keyring: its Secret volume (and the container's flag)."""
    found = {}
    for workload in [o for o in objects if o["kind"] in WORKLOADS]:
        spec = workload["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        if "master-keyring" not in volumes:
            continue
        (container,) = spec["containers"]
        mount = next(m for m in container["volumeMounts"] if m["name"] == "master-keyring")
        assert (mount["mountPath"], mount["readOnly"]) == ("/etc/cairn/keyring", True)
        assert "--master-keyring=/etc/cairn/keyring/master-keyring.json" in container["args"]
        found[workload["metadata"]["name"].rsplit("-", 1)[-1]] = volumes["master-keyring"]["secret"]
    return found


def test_the_master_keyring_is_generated_once_and_mounted_where_keys_are_used() -> None:
    objects = render({})
    secret = named(objects, "Secret", "-master-keyring")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    keyring = Keyring.from_json(base64.b64decode(secret["data"]["master-keyring.json"]).decode())
    assert keyring.active.startswith("mk-") and set(keyring.keys) == {
        keyring.active
    }  # 32 bytes: Keyring checks
    mounts = _keyring_mounts(objects)
    assert set(mounts) == {"api", "metadata"}  # not the data nodes, placement or gc: they hold no keys
    for volume in mounts.values():
        assert volume["secretName"] == secret["metadata"]["name"] and volume["defaultMode"] == 0o400
        assert volume["items"] == [{"key": "master-keyring.json", "path": "master-keyring.json"}]


def test_a_given_keyring_renders_the_same_secret_and_a_bad_one_is_refused() -> None:
    values = ci_values("given-keyring-values.yaml")
    secrets = [named(render(values), "Secret", "-master-keyring") for _ in range(2)]
    assert secrets[0] == secrets[1] and "annotations" not in secrets[0]["metadata"]
    text = base64.b64decode(secrets[0]["data"]["master-keyring.json"]).decode()
    assert Keyring.from_json(text) == Keyring.from_json(values["masterKeyring"]["keyring"])
    with pytest.raises(helm.HelmError, match="must be a keyring JSON"):
        render({"masterKeyring": {"keyring": '{"active": "a", "keys": {"b": "x"}}'}})


def test_an_existing_keyring_secret_is_mounted_and_none_generated() -> None:
    objects = render(ci_values("existing-secret-values.yaml"))
    assert not [s for s in of_kind(objects, "Secret") if s["metadata"]["name"].endswith("-master-keyring")]
    for volume in _keyring_mounts(objects).values():
        assert volume["secretName"] == "cairn-master-keyring"
        assert volume["items"] == [{"key": "keyring.json", "path": "master-keyring.json"}]


def test_a_disruption_budget_above_m_is_refused() -> None:
    with pytest.raises(helm.HelmError, match="between 1 and erasure.m"):
        render({"datanode": {"pdb": {"maxUnavailable": 5}}})
    budget = named(render({"datanode": {"pdb": {"maxUnavailable": 4}}}), "PodDisruptionBudget", "-datanode")
    assert budget["spec"]["maxUnavailable"] == 4


def test_tls_ingress_and_network_policies() -> None:
    objects = render(ci_values("tls-values.yaml"))
    api = named(objects, "Deployment", "-api")
    (container,) = api["spec"]["template"]["spec"]["containers"]
    assert "--tls-cert=/etc/cairn/tls/tls.crt" in container["args"]
    volumes = {v["name"]: v for v in api["spec"]["template"]["spec"]["volumes"]}
    assert volumes["tls"]["secret"]["secretName"] == "cairn-s3-tls"
    (ingress,) = of_kind(objects, "Ingress")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == named(objects, "Service", "-s3")["metadata"]["name"]
    policies = {p["metadata"]["name"].rsplit("-", 1)[1]: p for p in of_kind(objects, "NetworkPolicy")}
    assert set(policies) == {"placement", "metadata", "datanode", "api", "gc"}
    internal, scrape = policies["datanode"]["spec"]["ingress"]
    assert internal["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/instance": "demo"}}}]
    assert scrape == {"ports": [{"port": 9090, "protocol": "TCP"}]}  # metrics from anywhere by default
    assert "from" not in policies["api"]["spec"]["ingress"][0]  # S3 from anywhere
    assert of_kind(render({}), "NetworkPolicy") == [] and of_kind(render({}), "Ingress") == []


def test_the_gc_service_runs_with_its_own_identity_probes_and_budget(case: Any) -> None:
    values, objects = case
    gc = named(objects, "Deployment", "-gc")
    pod = gc["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"][:2] == ["serve", "gc"]
    assert _flag(container, "placement").count(",") == values["placement"]["replicas"] - 1
    assert _flag(container, "metadata").count(",") == values["metadata"]["replicas"] - 1
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["rpc-tls"]["secret"]["secretName"].endswith("-gc-tls")  # mutual TLS as role gc
    assert container["readinessProbe"]["httpGet"]["port"] == "metrics"
    service = named(objects, "Service", "-gc")
    assert {p["name"] for p in service["spec"]["ports"]} == {"grpc", "metrics"}
    budget = named(objects, "PodDisruptionBudget", "-gc")["spec"]
    assert budget["maxUnavailable"] == 1
