"""Per-entry structural embeddings: the built-in embedder on real models, plug-ins, refusals, and the store's array."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import zarr

from cryoray.errors import ConfigError, ModelFormatError
from cryoray.io.models import AtomicModel, AtomTable, read_model
from cryoray.io.sequences import ChainSequence
from cryoray.labels.embeddings import (
    STRUCTURE_FEATURES,
    EmbeddingConfig,
    StructureEmbedder,
    build_embedder,
    embed_model,
)
from cryoray.pipelines.ingest_config import IngestConfig
from cryoray.store import StoreSchemaError, SubgridStore, store_info
from tests.support.data import ENTRIES, real
from tests.support.embeddings import SMALL_STORE, ingest_in_process
from tests.support.embeddings import embedded_store as make_embedded_store


class ConstantEmbedder:
    """A plug-in embedder for the tests: ``value`` repeated ``dim`` times."""

    name = "constant"

    def __init__(self, dim: int = 3, value: float = 0.5) -> None:
        self.dim, self.value = dim, value

        self.size = dim  # values given, which a test may make disagree with `dim`

    def embed(self, model: AtomicModel, atoms: AtomTable, sequences: Sequence[ChainSequence]) -> np.ndarray:
        return np.full(self.size, self.value)


def structure_embedding(entry: str) -> np.ndarray:
    model = read_model(real(ENTRIES[entry][1]))
    return embed_model(StructureEmbedder(), model, model.atoms(), [])


@pytest.fixture(scope="module")
def haemoglobin() -> np.ndarray:
    return structure_embedding("EMD-3488")


def test_structure_features_describe_the_model(haemoglobin) -> None:
    features = dict(zip(STRUCTURE_FEATURES, haemoglobin.tolist(), strict=True))
    assert haemoglobin.shape == (StructureEmbedder.dim,) == (29,) and haemoglobin.dtype == np.float32
    composition = [v for k, v in features.items() if k.startswith("fraction_") and k[9:].isupper()]
    assert len(composition) == 20 and sum(composition) == pytest.approx(1, abs=1e-5)
    assert features["fraction_coil"] + features["fraction_helix"] + features["fraction_strand"] == pytest.approx(1)
    assert features["fraction_helix"] > 0.75 and features["fraction_strand"] == 0  # haemoglobin: all α
    model = read_model(real(ENTRIES["EMD-3488"][1]))
    ca = model.atoms().select(model.atoms().is_ca)
    assert features["log10_residues_over_4"] == pytest.approx(np.log10(len(ca.xyz)) / 4, rel=1e-6)
    assert features["log10_chains_over_2"] == pytest.approx(np.log10(4) / 2, rel=1e-6)  # α2β2
    rg = np.sqrt(((ca.xyz - ca.xyz.mean(0)) ** 2).sum(1).mean())
    assert features["radius_of_gyration_over_100A"] == pytest.approx(rg / 100, rel=1e-5)
    assert 0.8 < features["radius_of_gyration_over_globular"] < 1.2  # a compact, globular tetramer
    assert 0 < features["principal_axis_ratio_3_1"] <= features["principal_axis_ratio_2_1"] <= 1


def test_a_beta_rich_domain_embeds_differently(haemoglobin) -> None:
    spike = dict(zip(STRUCTURE_FEATURES, structure_embedding("EMD-21457").tolist(), strict=True))
    assert spike["fraction_strand"] > spike["fraction_helix"]
    assert not np.allclose(haemoglobin, list(spike.values()))


def test_plug_in_embedder_by_import_path() -> None:
    embedder = build_embedder(
        EmbeddingConfig(name="tests.labels.test_embeddings:ConstantEmbedder", options={"dim": 4, "value": 2})
    )
    model = read_model(real(ENTRIES["EMD-3488"][1]))
    assert embedder.dim == 4
    np.testing.assert_array_equal(embed_model(embedder, model, model.atoms(), []), np.full(4, 2, np.float32))


@pytest.mark.parametrize(
    ("config", "where", "needle"),
    [
        ({"name": "nope"}, "embedding.name", "unknown embedder 'nope'"),
        ({"name": "no_such_module_x:Thing"}, "embedding.name", "cannot import"),
        ({"name": "builtins:dict"}, "embedding.name", "does not make an embedder"),
        ({"name": "structure", "options": {"colour": 1}}, "embedding.options", "colour"),
        ({"name": "esm_if1"}, "embedding.options.weights", "cryoray never downloads"),
        ({"name": "esm_if1", "options": {"weights": "/no/such/esm_if1.pt"}}, "embedding.options.weights", "not found"),
    ],
)
def test_bad_embedder_settings_are_refused_clearly(config: dict, where: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_embedder(EmbeddingConfig(**config))
    assert info.value.source == where and needle in info.value.reason


def test_esm_if1_with_weights_but_without_the_package_names_it(tmp_path) -> None:
    weights = tmp_path / "esm_if1_gvp4_t16_142M_UR50.pt"
    weights.write_bytes(b"not really weights")
    try:
        import esm.inverse_folding  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="fair-esm"):
            build_embedder(EmbeddingConfig(name="esm_if1", options={"weights": str(weights)}))
    else:
        assert build_embedder(EmbeddingConfig(name="esm_if1", options={"weights": str(weights)})).dim == 512


@pytest.mark.parametrize(
    ("embedder", "needle"),
    [(ConstantEmbedder(value=np.nan), "not 3 finite values"), (ConstantEmbedder(dim=2), "a (2,) vector")],
    ids=["nan", "shape"],
)
def test_an_embedder_giving_a_bad_vector_is_refused(embedder: ConstantEmbedder, needle: str) -> None:
    embedder.dim = 3  # what it claims; the shape case gives 2 values
    model = read_model(real(ENTRIES["EMD-3488"][1]))
    with pytest.raises(ModelFormatError, match=re.escape(needle)):
        embed_model(embedder, model, model.atoms(), [])


@pytest.fixture(scope="module")
def embedded_store(tmp_path_factory) -> Path:
    return make_embedded_store(tmp_path_factory.mktemp("emb") / "samu.zarr")


def test_ingest_stores_the_entry_embedding(embedded_store, haemoglobin) -> None:
    store = SubgridStore.open(embedded_store, check="all")
    assert store.settings["embedding"] == {"name": "structure", "dim": 29} and store.embedding_dim == 29
    np.testing.assert_array_equal(store.read_embedding("EMD-3488"), haemoglobin)
    assert store.array_names == ["origins", "input", "simulated"]  # per-sub-grid arrays only
    info = store_info(embedded_store, check=True)
    assert info["embedding"] == {"name": "structure", "dim": 29}


def test_a_store_without_embeddings_keeps_its_settings(tmp_path) -> None:
    config = IngestConfig(**SMALL_STORE)
    assert "embedding" not in config.layout().to_attrs()
    store = SubgridStore.open(ingest_in_process(tmp_path / "plain.zarr", config))
    assert store.embedding_dim is None and store_info(store.url)["embedding"] is None
    with pytest.raises(ValueError, match="no embeddings"):
        store.read_embedding("EMD-3488")


def test_a_tampered_embedding_array_is_refused(embedded_store, tmp_path) -> None:
    import shutil

    copy = tmp_path / "tampered.zarr"
    shutil.copytree(embedded_store, copy)
    group = zarr.open_group(str(copy / "entries" / "EMD-3488"), mode="r+")
    del group["embedding"]
    group.create_array("embedding", shape=(7,), dtype="float32")
    with pytest.raises(StoreSchemaError, match=r"array embedding is \(7,\) float32, schema says \(29,\) float32"):
        SubgridStore.open(copy, check="all")


def test_settings_with_an_embedding_validate_against_the_schema(embedded_store) -> None:
    settings = json.loads((embedded_store / "zarr.json").read_text())["attributes"]["cryoray_store"]
    assert settings["schema_version"] == 2 and settings["embedding"]["dim"] == 29
