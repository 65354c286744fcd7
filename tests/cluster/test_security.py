"""Token authentication is on everywhere, and no config puts the dashboard / job API or Serve on a public network.

Ray's job API runs any code it is sent, and Serve's endpoints have no authentication of their
own: both must stay on loopback, or on the cluster's own network behind the token, and reach
clients only through a port-forward or a gateway.
"""

from __future__ import annotations

import re

import pytest
import yaml

from tests.cluster.configs import (
    CLUSTER,
    DASHBOARD_PORT,
    POD_LABEL,
    SERVE_PORT,
    cluster_specs,
    dig,
    manifests,
    ray_up,
)

SPECS = cluster_specs()
SPEC_IDS = [where for where, _, _ in SPECS]
PUBLIC_SERVICE_TYPES = {"LoadBalancer", "NodePort"}
#: ports that must never be open to addresses outside the cluster
PRIVATE_PORTS = {DASHBOARD_PORT, SERVE_PORT, 6379, 10001}


@pytest.mark.parametrize(("where", "kind", "spec"), SPECS, ids=SPEC_IDS)
def test_token_authentication_is_on(where: str, kind: str, spec: dict) -> None:
    assert (spec.get("authOptions") or {}).get("mode") == "token", f"{where}: authOptions.mode must be token"
    for group in [spec["headGroupSpec"], *spec["workerGroupSpecs"]]:
        for c in group["template"]["spec"]["containers"]:
            for env in c.get("env") or []:
                if env["name"] == "RAY_AUTH_MODE":
                    assert env.get("value") == "token", f"{where}: RAY_AUTH_MODE={env.get('value')}"


@pytest.mark.parametrize(("where", "kind", "spec"), SPECS, ids=SPEC_IDS)
def test_dashboard_stays_off_public_networks(where: str, kind: str, spec: dict) -> None:
    head = spec["headGroupSpec"]
    assert head.get("serviceType", "ClusterIP") == "ClusterIP", f"{where}: head Service {head.get('serviceType')}"
    host = head["rayStartParams"].get("dashboard-host", "0.0.0.0")  # KubeRay's default
    if kind == "RayCluster":
        # the interactive cluster: reached through `kubectl port-forward` only
        assert host == "127.0.0.1", f"{where}: dashboard-host {host}"
    else:
        # the operator submits RayJobs and deploys RayServices through the head's ClusterIP
        # Service: the pod network only, with the network policy in front
        assert host in ("127.0.0.1", "0.0.0.0"), f"{where}: dashboard-host {host}"
        if host == "0.0.0.0":
            assert _pods_guarded(), f"{where}: no NetworkPolicy guards the Ray pods"


def test_no_service_is_public() -> None:
    for where, doc in manifests():
        if doc["kind"] == "Service":
            assert dig(doc, "spec").get("type", "ClusterIP") not in PUBLIC_SERVICE_TYPES, where
        if doc["kind"] == "RayService":
            serve_service = doc["spec"].get("serveService") or {}
            assert (serve_service.get("spec") or {}).get("type", "ClusterIP") not in PUBLIC_SERVICE_TYPES, where
        if doc["kind"] == "Ingress":
            pytest.fail(f"{where}: expose Serve through the gateway's HTTPRoute, not an Ingress")
    for path in CLUSTER.rglob("*.yaml"):
        text = path.read_text()
        assert not re.search(r"type:\s*[\"']?(LoadBalancer|NodePort)", text), f"{path}: public Service type"


def _pods_guarded() -> bool:
    """An ingress NetworkPolicy selects cryoray's pods: what its rules do not admit is refused."""
    for _, policy in manifests("NetworkPolicy"):
        spec = policy["spec"]
        selects = (spec.get("podSelector") or {}).get("matchLabels") or {}
        if selects.get(POD_LABEL[0]) == POD_LABEL[1] and "Ingress" in spec.get("policyTypes", []):
            return True
    return False


def test_network_policy_admits_only_the_namespace_operator_and_gateway() -> None:
    policies = manifests("NetworkPolicy")
    assert policies, "cluster/kuberay needs a NetworkPolicy for the Ray pods"
    assert _pods_guarded()
    for where, policy in policies:
        for rule in policy["spec"].get("ingress") or []:
            sources = rule.get("from")
            assert sources, f"{where}: an ingress rule without `from` admits everyone"
            for source in sources:
                assert "ipBlock" not in source, f"{where}: address ranges (outside the cluster) admitted"
                if source.get("namespaceSelector") is not None:
                    ports = {p["port"] for p in rule.get("ports") or []}
                    # other namespaces (the operator, the gateway) reach the two APIs, nothing else
                    assert ports and ports <= {DASHBOARD_PORT, SERVE_PORT}, f"{where}: {rule}"
                    labels = source["namespaceSelector"].get("matchLabels")
                    assert labels, f"{where}: every namespace admitted"
                else:
                    assert source.get("podSelector") is not None, f"{where}: {source}"


def test_serve_binds_loopback_or_the_pod_network_only() -> None:
    # the Serve config for `serve run` / `serve deploy` on a head or a laptop
    config = yaml.safe_load((CLUSTER / "serve_config.yaml").read_text())
    assert config["http_options"]["host"] == "127.0.0.1"
    assert yaml.safe_load((CLUSTER / "serve_models.yaml").read_text()).get("host", "127.0.0.1") == "127.0.0.1"
    # the RayService: all interfaces of its pods, which only the serve Service and the gateway reach
    for where, doc in manifests("RayService"):
        serve = yaml.safe_load(dig(doc, "spec", "serveConfigV2"))
        host = (serve.get("http_options") or {}).get("host", "127.0.0.1")
        assert host in ("127.0.0.1", "0.0.0.0"), f"{where}: {host}"
        assert (serve.get("http_options") or {}).get("port", SERVE_PORT) == SERVE_PORT, where
    assert manifests("HTTPRoute"), "Serve sits behind a gateway route"


def test_ray_up_uses_the_token_and_keeps_the_dashboard_on_loopback() -> None:
    cfg = ray_up()
    starts = cfg["head_start_ray_commands"] + cfg["worker_start_ray_commands"]
    for command in starts:
        if "ray start" in command:
            assert "RAY_AUTH_MODE=token" in command, command
    head = " ".join(cfg["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head, head
    assert "RAY_AUTH_MODE=token" in " ".join(cfg["docker"].get("run_options", []))
    # the cluster's token travels to every node as a file at Ray's default place
    assert cfg["file_mounts"].get("/home/ray/.ray/auth_token") == "~/.ray/auth_token"
    everything = yaml.safe_dump(cfg)
    assert "0.0.0.0" not in everything.replace("0.0.0.0/0", ""), "something binds all interfaces"


def test_ray_up_security_group_opens_no_ray_port() -> None:
    rules = ((ray_up()["provider"].get("security_group") or {}).get("IpPermissions")) or []
    for rule in rules:
        low, high = rule.get("FromPort", -1), rule.get("ToPort", -1)
        for port in PRIVATE_PORTS:
            assert not (low == -1 or low <= port <= high), f"security group rule opens {port}: {rule}"
