"""cluster/Dockerfile: Ray's image for the pinned Ray and Python, and a cryoray install that works inside it."""

from __future__ import annotations

import os
import re
import shlex

from tests.cluster.configs import CLUSTER, REPO, dockerfile_lines, image_workdir, package_links, ray_image, ray_up


def _instructions(name: str) -> list[str]:
    return [line.split(None, 1)[1] for line in dockerfile_lines() if line.split(None, 1)[0].upper() == name]


def _copies() -> list[tuple[list[str], str]]:
    """(sources, destination) of every COPY, flags dropped."""
    found = []
    for args in _instructions("COPY"):
        words = [w for w in shlex.split(args) if not w.startswith("--")]
        found.append((words[:-1], words[-1]))
    return found


def test_from_rays_image_for_the_pinned_ray_and_python() -> None:
    froms = _instructions("FROM")
    assert froms == [ray_image()], f"FROM {froms}; constraints.txt and pyproject.toml say {ray_image()}"


def test_torch_comes_from_the_constraints() -> None:
    runs = _instructions("RUN")
    torch = [r for r in runs if "torch" in r and "pip install" in r]
    assert torch, "no torch step"
    assert "grep -E '^torch==' constraints.txt" in torch[0]
    text = "\n".join(dockerfile_lines())
    assert not re.search(r"torch==\d", text), "the torch version belongs in constraints.txt"
    # and it is installed before cryoray, which then keeps it
    cryoray = [i for i, r in enumerate(runs) if re.search(r"pip install .*-c constraints\.txt", r)]
    assert cryoray and runs.index(torch[0]) < cryoray[0]


def test_cryoray_is_installed_under_the_constraints_and_checked() -> None:
    install = [r for r in _instructions("RUN") if re.search(r"pip install .*-c constraints\.txt", r)]
    assert len(install) == 1
    assert "pip check" in install[0]
    if package_links():
        # a built wheel leaves the links' targets out (the store's JSON Schemas): install in place
        assert re.search(r"-c constraints\.txt -e \.(\s|$)", install[0]), install[0]


def test_copied_sources_exist_and_the_links_they_hold_resolve() -> None:
    copied = set()
    for sources, _ in _copies():
        for source in sources:
            path = REPO / source
            assert path.exists(), f"COPY {source}: not in the repository"
            copied.add(path.resolve())
    # files the package needs: pyproject's readme and every link inside platform/ (store/schemas)
    assert (REPO / "pyproject.toml").resolve() in copied and (REPO / "README.md").resolve() in copied
    for path in package_links():
        target = os.path.realpath(path)
        assert any(target == str(c) or target.startswith(str(c) + os.sep) for c in copied), (
            f"{os.path.relpath(path, REPO)} links to {os.path.relpath(target, REPO)}, which the image lacks"
        )


def test_jobs_lie_under_the_workdir() -> None:
    workdir = image_workdir()
    assert workdir.startswith("/")
    destinations = {tuple(s): d for s, d in _copies()}
    assert destinations.get(("jobs/",)) in ("jobs/", "jobs", f"{workdir}/jobs/", f"{workdir}/jobs")


def test_build_context_leaves_out_the_venv_and_git() -> None:
    ignore = (CLUSTER / "Dockerfile.dockerignore").read_text().split()
    assert ".venv" in ignore and ".git" in ignore


def test_ray_up_and_the_image_share_their_base() -> None:
    assert ray_up()["docker"]["image"] == _instructions("FROM")[0]
