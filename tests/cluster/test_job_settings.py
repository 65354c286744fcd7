"""The RayJobs' command lines and the RayService's settings pass cryoray's own checks, and fit their clusters.

Each entrypoint is parsed by the command's own parser (``cryoray COMMAND``, as its jobs/*.py
calls it) and its config is validated as the command validates it before any work; the data
(stores, manifests, registered models) is not reached.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from cryoray.cli.main import build_parser
from cryoray.config import load_config_with_sets, validate_config
from cryoray.infer.batch_config import BatchInferConfig
from cryoray.serve.config import ServeConfig
from cryoray.train.config import TrainConfig
from cryoray.tune.config import SweepConfig
from cryoray.tune.space import apply
from tests.cluster.configs import REPO, dig, entrypoint, gpu_capacity, image_workdir, job_script, manifests

JOBS = manifests("RayJob")
JOB_IDS = [where for where, _ in JOBS]


def _command(script: str) -> str:
    """The cryoray command a jobs/*.py runs: the first item of the list it hands to main()."""
    for node in ast.walk(ast.parse((REPO / script).read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "main" and node.args:
            first = node.args[0]
            if isinstance(first, ast.List) and isinstance(first.elts[0], ast.Constant):
                return first.elts[0].value
    raise AssertionError(f"{script}: no main([COMMAND, ...]) call")


def _config_maps(where: str) -> dict[str, str]:
    """Files of the ConfigMaps in the same manifest file: mount path / key -> text."""
    name = where.split("#")[0]
    files = {}
    for other, doc in manifests("ConfigMap"):
        if other.split("#")[0] == name:
            files.update(doc.get("data") or {})
    return files


def _local(arg: str, where: str, doc: dict, tmp_path: Path) -> str:
    """An entrypoint argument with paths inside the image or mounted ConfigMaps made local."""
    prefix = image_workdir() + "/"
    if arg.startswith(prefix):
        path = REPO / arg[len(prefix) :]
        assert path.exists(), f"{where}: {arg} is not in the image (not in the repository)"
        return str(path)
    mounts = {
        m["mountPath"]: m["name"]
        for c in dig(doc, "spec", "rayClusterSpec", "headGroupSpec", "template", "spec", "containers")
        for m in c.get("volumeMounts") or []
    }
    for mount in mounts:
        if arg.startswith(mount + "/"):
            key = arg[len(mount) + 1 :]
            files = _config_maps(where)
            assert key in files, f"{where}: {arg}: no ConfigMap key {key} beside the RayJob"
            path = tmp_path / key
            path.write_text(files[key])
            return str(path)
    return arg


def _parse(where: str, doc: dict, tmp_path: Path):
    words = entrypoint(doc)
    command = _command(job_script(doc))
    argv = [command, *(_local(w, where, doc, tmp_path) for w in words[2:])]
    try:
        return command, build_parser(command).parse_args(argv)
    except SystemExit as exc:  # argparse's answer to unknown or missing arguments
        pytest.fail(f"{where}: cryoray {' '.join(argv)} is refused (exit {exc.code})")


@pytest.mark.parametrize(("where", "doc"), JOBS, ids=JOB_IDS)
def test_entrypoint_settings_pass_cryoray_checks(where: str, doc: dict, tmp_path: Path) -> None:
    command, args = _parse(where, doc, tmp_path)
    spec = doc["spec"]["rayClusterSpec"]
    if command == "train":
        config = load_config_with_sets(TrainConfig, args.config, args.sets)
        if config.workers.use_gpu:
            assert config.workers.num_workers <= gpu_capacity(spec), f"{where}: more GPU workers than GPUs"
        assert config.output.startswith("s3://"), f"{where}: checkpoints belong on object storage"
    elif command == "tune":
        sweep = load_config_with_sets(SweepConfig, args.config, args.sets)
        base = {**sweep.train, "tracking": {"uri": sweep.tracking.uri, "experiment": sweep.tracking.experiment}}
        base.setdefault("name", "trial")
        train = validate_config(TrainConfig, base, source=where)
        for key, dim in sweep.space.items():
            for value in dim.extremes():
                validate_config(TrainConfig, apply(base, {key: value}), source=f"{where}: space.{key}={value!r}")
        assert sweep.tracking.uri, f"{where}: a cluster sweep tracks to an MLflow server"
        assert sweep.output.startswith("/mnt/shared/"), f"{where}: Tune's state belongs on the shared volume"
        if train.workers.use_gpu:
            gpus = sweep.search.max_concurrent * train.workers.num_workers
            assert gpus <= gpu_capacity(spec), f"{where}: {gpus} GPUs for concurrent trials"
    elif command in ("predict-batch", "benchmark"):
        sets = list(args.set)
        if args.model:
            sets.append("models=" + yaml.safe_dump(list(args.model), default_flow_style=True).strip())
        config = load_config_with_sets(BatchInferConfig, args.config, sets)
        gpus = config.actors.predictors * config.actors.gpus_per_predictor
        assert gpus <= gpu_capacity(spec), f"{where}: {gpus} GPUs for the predictors"
        assert args.output.startswith("s3://"), where
    elif command == "ingest":
        assert args.manifest.startswith("s3://") and args.output.startswith("s3://"), where
    else:
        pytest.fail(f"{where}: no check for cryoray {command}")


def test_rayservice_settings_pass_cryoray_checks() -> None:
    services = manifests("RayService")
    assert services
    for where, doc in services:
        serve = yaml.safe_load(dig(doc, "spec", "serveConfigV2"))
        (app,) = serve["applications"]
        assert app["import_path"] == "cryoray.serve.app:build_app", where
        # the settings given inline, as the builder validates them (models are resolved at start-up)
        config = validate_config(ServeConfig, dict(app["args"]), source=where)
        d = config.deployments
        gpus = len(config.models) * d.model_replicas * d.model_num_gpus
        spec = doc["spec"]["rayClusterConfig"]
        assert 0 < gpus <= gpu_capacity(spec), f"{where}: {gpus} GPUs for the model replicas"
        # the proxy's backstop comes after the application's own timeout (504 before 408)
        assert serve["http_options"]["request_timeout_s"] > config.limits.request_timeout_s
        for ref in config.models.values():
            assert ref.startswith("models:/"), f"{where}: {ref}: replicas need a registry or shared path"
