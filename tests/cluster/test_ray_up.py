"""cluster/ray-up/: the `ray up` config passes the schema inside the installed Ray and says what cryoray needs."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
import ray.autoscaler

from tests.cluster.configs import RAY_UP, package_links, ray_image, ray_up

SCHEMA = Path(ray.autoscaler.__file__).parent / "ray-schema.json"
CONFIGS = sorted(p.name for p in RAY_UP.glob("*.yaml"))


def test_there_is_a_config() -> None:
    assert "aws-gpu.yaml" in CONFIGS


@pytest.mark.parametrize("name", CONFIGS)
def test_validates_against_rays_schema(name: str) -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(ray_up(name), schema)


@pytest.mark.parametrize("name", CONFIGS)
def test_ray_up_prepares_and_accepts_it(name: str) -> None:
    """What `ray up` does before it calls the cloud: fill in the provider's defaults, then validate."""
    from ray.autoscaler._private.commands import prepare_config
    from ray.autoscaler._private.util import validate_config

    validate_config(prepare_config(copy.deepcopy(ray_up(name))))


def test_cpu_head_and_autoscaled_gpu_workers() -> None:
    cfg = ray_up()
    types = cfg["available_node_types"]
    head = types[cfg["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0 and head["resources"].get("CPU") == 0
    assert "--num-cpus=0" in " ".join(cfg["head_start_ray_commands"])
    workers = {name: t for name, t in types.items() if name != cfg["head_node_type"]}
    gpu_types = [t for t in workers.values() if t["resources"].get("GPU", 0) >= 1]
    assert gpu_types, "no GPU worker type"
    for name, t in workers.items():
        assert 0 <= t["min_workers"] <= t["max_workers"], name
    assert sum(t["max_workers"] for t in workers.values()) <= cfg["max_workers"]
    assert cfg["idle_timeout_minutes"] > 0


def test_every_node_runs_rays_image_for_the_pins() -> None:
    docker = ray_up()["docker"]
    assert docker["image"] == ray_image()
    assert "head_image" not in docker and "worker_image" not in docker


def test_setup_installs_cryoray_under_the_constraints_with_the_pinned_torch() -> None:
    cfg = ray_up()
    setup = cfg["setup_commands"]
    assert ray_up()["file_mounts"].get("/home/ray/cryoray") == "."
    install = [c for c in setup if re.search(r"pip install .*-c constraints\.txt", c)]
    assert install, setup
    assert "pip check" in install[0]
    if package_links():  # see test_dockerfile: the links' targets need the install in place
        assert re.search(r"-c constraints\.txt -e \.(\s|$)", install[0]), install[0]
    # torch comes from constraints.txt (never another version), before cryoray
    torch = [i for i, c in enumerate(setup) if "torch" in c]
    assert torch and torch[0] < setup.index(install[0])
    assert "grep -E '^torch==' constraints.txt" in setup[torch[0]]
    assert not re.search(r"torch==\d", " ".join(setup)), "the torch version belongs in constraints.txt"
    # the repository's own tools
    assert any("dssp" in c and "mmseqs2" in c for c in setup)
    for heavy in (".venv", ".git", "runs"):
        assert heavy in cfg["rsync_exclude"], heavy
