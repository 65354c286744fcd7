"""Reading the cluster configs in ``cluster/`` for the tests beside this module (no Kubernetes, no cloud)."""

from __future__ import annotations

import os
import re
import shlex
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "cluster"
KUBERAY = CLUSTER / "kuberay"
RAY_UP = CLUSTER / "ray-up"
DOCKERFILE = CLUSTER / "Dockerfile"

#: Ray's custom resources and where each keeps its cluster spec
RAY_KINDS = {"RayCluster": ("spec",), "RayJob": ("spec", "rayClusterSpec"), "RayService": ("spec", "rayClusterConfig")}
#: the port of Ray's dashboard (and job and Serve REST API), and of Serve's HTTP proxy
DASHBOARD_PORT, SERVE_PORT = 8265, 8000
#: the label every cryoray pod template carries (network-policy.yaml selects it)
POD_LABEL = ("app.kubernetes.io/part-of", "cryoray")
GPU = "nvidia.com/gpu"


@cache
def pinned(package: str) -> str:
    """The version constraints.txt pins for ``package``."""
    for line in (REPO / "constraints.txt").read_text().splitlines():
        match = re.fullmatch(rf"{re.escape(package)}==(\S+)", line.strip(), flags=re.IGNORECASE)
        if match:
            return match.group(1)
    raise AssertionError(f"constraints.txt pins no {package}")


@cache
def python_tag() -> str:
    """``py311`` for the lowest Python pyproject.toml's requires-python admits (Ray's image tags)."""
    spec = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    match = re.fullmatch(r">=\s*3\.(\d+)", spec.strip())
    assert match, f"unexpected requires-python {spec!r}"
    return f"py3{match.group(1)}"


def ray_image() -> str:
    """The GPU image of Ray's own build for the pinned Ray and the project's Python."""
    return f"rayproject/ray:{pinned('ray')}-{python_tag()}-gpu"


@cache
def _manifests() -> tuple[tuple[str, dict], ...]:
    found = []
    for path in sorted(KUBERAY.glob("*.yaml")):
        for i, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if doc is not None:
                found.append((f"{path.name}#{i}", doc))
    return tuple(found)


def manifests(kind: str | None = None) -> list[tuple[str, dict]]:
    """Every document of cluster/kuberay/*.yaml (``file#index``, document), or those of one kind."""
    return [(where, doc) for where, doc in _manifests() if kind is None or doc.get("kind") == kind]


def dig(doc: dict, *keys: str) -> Any:
    for key in keys:
        assert isinstance(doc, dict) and key in doc, f"missing {'.'.join(keys)}"
        doc = doc[key]
    return doc


def cluster_specs() -> list[tuple[str, str, dict]]:
    """(where, kind, RayCluster spec) of every RayCluster, RayJob and RayService."""
    return [
        (where, doc["kind"], dig(doc, *RAY_KINDS[doc["kind"]]))
        for where, doc in manifests()
        if doc.get("kind") in RAY_KINDS
    ]


def groups(spec: dict) -> Iterator[tuple[str, dict]]:
    """(``head`` or the worker group's name, group spec) of a RayCluster spec."""
    yield "head", spec["headGroupSpec"]
    for group in spec.get("workerGroupSpecs") or []:
        yield group.get("groupName", "?"), group


def containers(group: dict) -> list[dict]:
    return dig(group, "template", "spec", "containers")


def gpus(container: dict, which: str = "limits") -> int:
    return int((container.get("resources") or {}).get(which, {}).get(GPU, 0))


def gpu_capacity(spec: dict) -> int:
    """GPUs the cluster may grow to: worker groups' maxReplicas × their pods' GPUs."""
    return sum(
        int(group.get("maxReplicas", group.get("replicas", 0))) * sum(gpus(c) for c in containers(group))
        for name, group in groups(spec)
        if name != "head"
    )


def package_links() -> list[str]:
    """Symbolic links inside platform/ (a built wheel would not carry what they point to)."""
    found = []
    for root, dirs, files in os.walk(REPO / "platform"):
        found += [os.path.join(root, n) for n in dirs + files if os.path.islink(os.path.join(root, n))]
    return found


@cache
def dockerfile_lines() -> tuple[str, ...]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        current += " " + stripped.rstrip("\\").strip() if current else stripped.rstrip("\\").strip()
        if not stripped.endswith("\\"):
            lines.append(current)
            current = ""
    return tuple(lines)


def image_workdir() -> str:
    """The image's last WORKDIR: where the repository (jobs/, platform/) lies inside it."""
    workdirs = [line.split(None, 1)[1] for line in dockerfile_lines() if line.upper().startswith("WORKDIR ")]
    assert workdirs, "the Dockerfile sets no WORKDIR"
    return workdirs[-1].rstrip("/")


def entrypoint(doc: dict) -> list[str]:
    return shlex.split(dig(doc, "spec", "entrypoint"))


def job_script(doc: dict) -> str:
    """The jobs/*.py a RayJob runs, relative to the repository (its path in the image, unprefixed)."""
    words = entrypoint(doc)
    assert words[0] == "python", f"entrypoint should run `python jobs/NAME.py ...`: {words}"
    script = words[1]
    prefix = image_workdir() + "/"
    return script[len(prefix) :] if script.startswith(prefix) else script


@cache
def ray_up(name: str = "aws-gpu.yaml") -> dict:
    return yaml.safe_load((RAY_UP / name).read_text())
