"""Model references: a checkpoint directory, or a model registered in MLflow.

A reference is one of

* a model bundle (``model.safetensors`` + ``bundle.json``: what training writes into every
  checkpoint and ``cryoray import-weights`` makes), or an older checkpoint directory
  (``model.safetensors`` + ``config.yaml``);
* ``default:NAME``: a bundle shipped inside the package (``default:builder``,
  ``default:enhancer``; :mod:`cryoray.bundle.defaults`), each with a model card;
* ``models:/NAME/VERSION``, ``models:/NAME`` (latest version), ``NAME/VERSION`` or ``NAME``: a
  registered model in the MLflow registry at ``tracking_uri`` (default: the environment
  variable ``MLFLOW_TRACKING_URI``), as ``cryoray tune`` registers the best checkpoint.

Registered versions are downloaded once through the MLflow client into a cache folder
(``~/.cache/cryoray/models/NAME/VERSION`` unless told otherwise) and used from there. Weights
are only ever read with safetensors (no pickle).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from cryoray.bundle import BUNDLE, WEIGHTS
from cryoray.bundle.defaults import DEFAULT_PREFIX, default_bundle
from cryoray.infer.errors import ModelReferenceError

__all__ = ["ModelReference", "default_cache_dir", "parse_reference", "resolve_reference"]

CONFIG = "config.yaml"
#: what a model directory holds, for messages
_NEEDS = f"needs {WEIGHTS} and {BUNDLE} (or {CONFIG})"
_NAME = re.compile(r"^(?:models:/)?([A-Za-z0-9][A-Za-z0-9._-]*)(?:/([0-9]+|latest))?$")


@dataclass(frozen=True)
class ModelReference:
    """A parsed registry reference: the registered model's ``name`` and ``version`` (None = latest)."""

    name: str
    version: str | None = None

    def __str__(self) -> str:
        return f"models:/{self.name}/{self.version or 'latest'}"


def default_cache_dir() -> Path:
    """Where downloaded registered models are kept (``CRYORAY_CACHE`` or ``~/.cache/cryoray``)."""
    root = os.environ.get("CRYORAY_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "cryoray")
    return Path(root) / "models"


def is_checkpoint(directory: Path) -> bool:
    """A bundle, or an older checkpoint directory."""
    return (directory / WEIGHTS).is_file() and ((directory / BUNDLE).is_file() or (directory / CONFIG).is_file())


def parse_reference(ref: str) -> ModelReference | None:
    """The registry reference ``ref`` names, or None when it is not of that form."""
    match = _NAME.match(ref.strip())
    if match is None:
        return None
    version = match.group(2)
    return ModelReference(match.group(1), None if version in (None, "latest") else version)


def resolve_reference(
    ref: str | os.PathLike, *, tracking_uri: str | None = None, cache_dir: str | os.PathLike | None = None
) -> Path:
    """A local bundle or checkpoint directory for ``ref`` (downloaded from the MLflow registry if needed).

    Raises:
        ModelReferenceError: a directory that is not a checkpoint, a file, an unknown registered
            model or version, no tracking URI for a registry name, or a download that fails.
    """
    text = os.fspath(ref)
    if text.startswith(DEFAULT_PREFIX):
        try:
            return default_bundle(text.removeprefix(DEFAULT_PREFIX))
        except KeyError as exc:
            raise ModelReferenceError(text, exc.args[0]) from None
    path = Path(text)
    if path.is_dir():
        if not is_checkpoint(path):
            raise ModelReferenceError(text, f"not a checkpoint directory or model bundle ({_NEEDS})")
        return path
    if path.exists():
        raise ModelReferenceError(text, f"a file, not a checkpoint directory or model bundle ({_NEEDS})")
    parsed = parse_reference(text)
    if parsed is None:
        raise ModelReferenceError(
            text, "no such checkpoint directory, and not a registered model name (NAME[/VERSION])"
        )
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise ModelReferenceError(
            text,
            "no such checkpoint directory; to use a registered model give --tracking-uri or set MLFLOW_TRACKING_URI",
        )
    return _download(parsed, text, uri, Path(cache_dir) if cache_dir else default_cache_dir())


def _download(parsed: ModelReference, text: str, uri: str, cache: Path) -> Path:
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    if uri.startswith("sqlite:///") and not os.path.isfile(uri.removeprefix("sqlite:///")):
        raise ModelReferenceError(text, f"no MLflow database at {uri} (check --tracking-uri / MLFLOW_TRACKING_URI)")
    client = MlflowClient(uri)
    try:
        if parsed.version is None:
            versions = client.search_model_versions(f"name = '{parsed.name}'")
            if not versions:
                raise ModelReferenceError(text, f"registered model '{parsed.name}' has no versions at {uri}")
            version = str(max(int(v.version) for v in versions))
        else:
            version = parsed.version
            client.get_model_version(parsed.name, version)
        source = client.get_model_version_download_uri(parsed.name, version)
    except MlflowException as exc:
        raise ModelReferenceError(text, f"not found in the MLflow registry at {uri}: {exc.message}") from exc
    target = cache / parsed.name / version
    if is_checkpoint(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=target.parent))
    try:
        local = Path(download_artifacts(artifact_uri=source, dst_path=str(staging), tracking_uri=uri))
        if not is_checkpoint(local):
            raise ModelReferenceError(
                text, f"version {version} ({source}) holds no checkpoint or model bundle ({_NEEDS})"
            )
        shutil.rmtree(target, ignore_errors=True)
        os.replace(local, target)  # appears whole, or not at all
    except (MlflowException, OSError) as exc:
        raise ModelReferenceError(text, f"cannot download version {version} from {source}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def read_checkpoint_config(directory: Path) -> dict:
    """The training config saved beside the weights (a plain mapping)."""
    try:
        data = yaml.safe_load((directory / CONFIG).read_text())
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ModelReferenceError(directory, f"cannot read {CONFIG}: {' '.join(str(exc).split())}") from exc
    if not isinstance(data, dict) or "model" not in data or "targets" not in data:
        raise ModelReferenceError(directory, f"{CONFIG} has no `model` and `targets` sections")
    return data
