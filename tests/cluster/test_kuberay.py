"""cluster/kuberay/: the manifests parse and carry what KubeRay (ray.io/v1) needs to run cryoray."""

from __future__ import annotations

import ast

import pytest

from tests.cluster.configs import (
    GPU,
    KUBERAY,
    POD_LABEL,
    RAY_KINDS,
    REPO,
    cluster_specs,
    containers,
    dig,
    gpus,
    groups,
    image_workdir,
    job_script,
    manifests,
    pinned,
    python_tag,
)

SPECS = cluster_specs()
SPEC_IDS = [where for where, _, _ in SPECS]
JOBS = manifests("RayJob")
JOB_IDS = [where for where, _ in JOBS]
#: the jobs/ entry points that run on a cluster (demo.py is the laptop's sample)
CLUSTER_JOBS = {"ingest", "train", "tune", "infer", "benchmark"}
GPU_JOBS = {"train", "tune", "infer", "benchmark"}


def _job_name(doc: dict) -> str:
    return job_script(doc).removeprefix("jobs/").removesuffix(".py")


def test_every_file_parses_into_known_kinds() -> None:
    files = sorted(p.name for p in KUBERAY.glob("*.yaml"))
    assert files, "no manifests in cluster/kuberay"
    docs = manifests()
    assert {where.split("#")[0] for where, _ in docs} == set(files)
    for where, doc in docs:
        assert isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind"), where
        assert dig(doc, "metadata", "name"), where
        if doc["kind"] in RAY_KINDS:
            assert doc["apiVersion"] == "ray.io/v1", where
    kinds = {doc["kind"] for _, doc in docs}
    assert {"RayCluster", "RayJob", "RayService"} <= kinds


def test_names_are_unique_per_kind() -> None:
    seen = [(doc["kind"], doc["metadata"]["name"]) for _, doc in manifests()]
    assert len(seen) == len(set(seen)), seen


def test_a_rayjob_for_every_cluster_job() -> None:
    jobs = {p.stem for p in (REPO / "jobs").glob("*.py")}
    assert jobs >= CLUSTER_JOBS, jobs
    assert sorted(_job_name(doc) for _, doc in JOBS) == sorted(jobs - {"demo"})


@pytest.mark.parametrize(("where", "doc"), JOBS, ids=JOB_IDS)
def test_rayjob_entrypoint_names_a_job_file_the_image_holds(where: str, doc: dict) -> None:
    script = job_script(doc)
    assert script.startswith("jobs/") and script.endswith(".py"), f"{where}: {script}"
    path = REPO / script
    assert path.is_file(), f"{where}: {script} is not in the repository"
    # the script is a thin entry point into the CLI: `main(["COMMAND", *sys.argv[1:]])`
    calls = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call)]
    assert any(getattr(c.func, "id", None) == "main" for c in calls), f"{script} calls no main()"
    # the image puts the repository's jobs/ under its WORKDIR, where the entrypoint looks
    assert dig(doc, "spec", "entrypoint").split()[1] == f"{image_workdir()}/{script}"
    assert doc["spec"].get("shutdownAfterJobFinishes") is True, f"{where}: the job's cluster should go when it ends"


@pytest.mark.parametrize(("where", "doc"), JOBS, ids=JOB_IDS)
def test_gpu_jobs_get_gpus_and_ingest_none(where: str, doc: dict) -> None:
    spec = doc["spec"]["rayClusterSpec"]
    has_gpus = any(gpus(c) for _, g in groups(spec) for c in containers(g))
    assert has_gpus == (_job_name(doc) in GPU_JOBS), where


@pytest.mark.parametrize(("where", "kind", "spec"), SPECS, ids=SPEC_IDS)
def test_cluster_spec(where: str, kind: str, spec: dict) -> None:
    assert spec.get("rayVersion") == pinned("ray"), f"{where}: rayVersion must match constraints.txt"
    assert spec.get("enableInTreeAutoscaling") is True, where
    head = spec["headGroupSpec"]
    assert isinstance(head.get("rayStartParams"), dict), f"{where}: head rayStartParams"
    workers = spec.get("workerGroupSpecs")
    assert workers, f"{where}: no worker groups"
    for group in workers:
        name = group.get("groupName")
        assert name, f"{where}: a worker group without groupName"
        assert isinstance(group.get("rayStartParams"), dict), f"{where}/{name}: rayStartParams"
        low, now, high = (group.get(k) for k in ("minReplicas", "replicas", "maxReplicas"))
        assert all(isinstance(v, int) for v in (low, now, high)), f"{where}/{name}: min/replicas/max"
        assert 0 <= low <= now <= high and high >= 1, f"{where}/{name}: {low} <= {now} <= {high}"


@pytest.mark.parametrize(("where", "kind", "spec"), SPECS, ids=SPEC_IDS)
def test_containers_have_requests_and_limits(where: str, kind: str, spec: dict) -> None:
    for name, group in groups(spec):
        pods = containers(group)
        assert pods, f"{where}/{name}: no containers"
        for c in pods:
            res = c.get("resources") or {}
            requests, limits = res.get("requests") or {}, res.get("limits") or {}
            for key in ("cpu", "memory"):
                assert key in requests and key in limits, f"{where}/{name}/{c.get('name')}: {key} request and limit"
            # Ray sizes itself from the limits; equal requests keep the pod's share guaranteed
            assert requests == limits, f"{where}/{name}/{c.get('name')}: requests != limits"
        gpu_here = sum(gpus(c) for c in pods)
        if name == "gpu":
            assert gpu_here >= 1, f"{where}: the gpu group asks for no {GPU}"
            assert all(gpus(c, "requests") == gpus(c) for c in pods), f"{where}/gpu: {GPU} requests != limits"
            tolerations = dig(group, "template", "spec").get("tolerations") or []
            assert any(t.get("key") == GPU for t in tolerations), f"{where}/gpu: no toleration of the GPU taint"
        else:
            assert gpu_here == 0, f"{where}/{name}: only the gpu group holds GPUs"


@pytest.mark.parametrize(("where", "kind", "spec"), SPECS, ids=SPEC_IDS)
def test_pods_run_the_cryoray_image_and_carry_the_label(where: str, kind: str, spec: dict) -> None:
    for name, group in groups(spec):
        template = group["template"]
        labels = (template.get("metadata") or {}).get("labels") or {}
        assert labels.get(POD_LABEL[0]) == POD_LABEL[1], f"{where}/{name}: pod label {POD_LABEL}"
        for c in containers(group):
            image = c.get("image", "")
            # built by cluster/Dockerfile FROM rayproject/ray:<ray>-<py>-gpu
            assert image.endswith(f":0.1.0-ray{pinned('ray')}-{python_tag()}-gpu"), f"{where}/{name}: {image}"


@pytest.mark.parametrize(("where", "kind", "spec"), SPECS, ids=SPEC_IDS)
def test_volumes_exist(where: str, kind: str, spec: dict) -> None:
    claims = {doc["metadata"]["name"] for _, doc in manifests("PersistentVolumeClaim")}
    config_maps = {doc["metadata"]["name"] for _, doc in manifests("ConfigMap")}
    for name, group in groups(spec):
        pod = group["template"]["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes") or []}
        for c in containers(group):
            for mount in c.get("volumeMounts") or []:
                assert mount["name"] in volumes, f"{where}/{name}: mount of undefined volume {mount['name']}"
        for v in volumes.values():
            if "persistentVolumeClaim" in v:
                assert v["persistentVolumeClaim"]["claimName"] in claims, f"{where}/{name}: {v}"
            if "configMap" in v:
                assert v["configMap"]["name"] in config_maps, f"{where}/{name}: {v}"


def test_httproute_points_at_the_rayservice_serve_service() -> None:
    services = [doc["metadata"]["name"] for _, doc in manifests("RayService")]
    routes = manifests("HTTPRoute")
    assert routes, "the Serve application needs a route from a gateway"
    for where, route in routes:
        for rule in dig(route, "spec", "rules"):
            for backend in rule["backendRefs"]:
                # KubeRay names the Service in front of Serve's proxies <RayService>-serve-svc
                assert backend["name"] in {f"{s}-serve-svc" for s in services}, where
                assert backend["port"] == 8000, where
