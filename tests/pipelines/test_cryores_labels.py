"""CryoRes's labels at ingest: built from an entry's half maps and model, stored and read back.

EMD-3488 with synthetic halves (4 Å left of x index 50, 8 Å right; see tests/labels/test_cryores.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from cryoray.config.loading import load_config_with_sets
from cryoray.errors import MapValueError
from cryoray.io import read_map, write_map
from cryoray.labels import CRYORES_LABEL_KINDS
from cryoray.pipelines.entry import build_entry
from cryoray.pipelines.ingest_config import IngestConfig
from cryoray.pipelines.manifest import ManifestRow
from cryoray.preprocessing.synthetic_halves import synthetic_halves
from cryoray.store import StoreWriter, SubgridStore, write_entry
from cryoray.store.schema import CRYORES_LABEL_KINDS as STORE_CRYORES_KINDS
from cryoray.store.schema import DEFAULT_LABEL_KINDS
from cryoray.train import TrainConfig, example_config, plan_training
from tests.support.data import REAL_MAPS, real

KINDS = ("atom", *CRYORES_LABEL_KINDS)


@pytest.fixture(scope="module")
def row(tmp_path_factory) -> ManifestRow:
    density = read_map(real(REAL_MAPS["3488"]))
    x_index = np.broadcast_to(np.arange(density.frame.shape[2]), density.frame.shape)
    halves = synthetic_halves(density, (x_index >= 50).astype(np.int64), (4.0, 8.0), noise=3.0, seed=1)
    folder = tmp_path_factory.mktemp("halves")
    write_map(folder / "h1.mrc", halves.half1)
    write_map(folder / "h2.mrc", halves.half2)
    return ManifestRow(
        entry_id="EMD-3488",
        map=str(real(REAL_MAPS["3488"])),
        model=str(real("EMD-3488_5ME2_haemoglobin/5me2.pdb")),
        resolution=3.2,
        half_map_1=str(folder / "h1.mrc"),
        half_map_2=str(folder / "h2.mrc"),
    )


@pytest.fixture(scope="module")
def built(row):
    config = IngestConfig(labels=KINDS)
    return config, *build_entry(row, config)


def test_kinds_are_the_store_s_and_not_ingested_unless_asked() -> None:
    assert CRYORES_LABEL_KINDS == STORE_CRYORES_KINDS
    assert not set(DEFAULT_LABEL_KINDS) & set(CRYORES_LABEL_KINDS)
    assert IngestConfig().labels == DEFAULT_LABEL_KINDS


def test_entry_gets_the_three_labels_on_its_prepared_grid(built) -> None:
    _, metadata, entry = built
    shape = tuple(metadata["frame"]["shape"][::-1])
    grids = entry.grids
    assert all(grids[kind].shape == shape for kind in KINDS)
    np.testing.assert_array_equal(grids["global_resolution"], np.float32(3.2))
    mask = grids["molecule_mask"] == 1
    assert 0.02 < mask.mean() < 0.2
    assert np.all(grids["relative_resolution"][~mask] == 0)
    local = grids["relative_resolution"][mask] + 3.2
    assert local.min() >= 2.0 and np.median(local) < 8.0  # within what a 24 Å box on a 1 Å grid reads


def test_store_holds_and_returns_them(built, tmp_path) -> None:
    config, metadata, entry = built
    url = str(tmp_path / "store.zarr")
    layout = config.layout()
    with StoreWriter(url, layout) as writer:
        write_entry(url, layout, "EMD-3488", metadata, entry)
        writer.commit("EMD-3488")
    store = SubgridStore.open(url)
    assert set(CRYORES_LABEL_KINDS) <= set(store.array_names)
    n = min(4, metadata["n_subgrids"])
    block = store.read_block("EMD-3488", list(CRYORES_LABEL_KINDS), 0, n)
    assert block["molecule_mask"].dtype == np.uint8 and block["relative_resolution"].dtype == np.float16
    np.testing.assert_array_equal(block["global_resolution"], np.float16(3.2))
    # the shipped CryoRes training config plans against it (heads, labels, losses, channels agree)
    path = example_config("cryores")
    config = load_config_with_sets(TrainConfig, path, [f"data.store={url}", "model.img_size=32"])
    plan = plan_training(config, source=path)
    assert set(plan.class_counts) == {"global", "relative", "mask"} and plan.steps_per_epoch >= 1


def test_without_half_maps_relative_resolution_is_refused_but_the_mask_is_made(row) -> None:
    bare = row.model_copy(update={"half_map_1": None, "half_map_2": None})
    with pytest.raises(MapValueError, match="half maps"):
        build_entry(bare, IngestConfig(labels=("relative_resolution",)))
    _, entry = build_entry(bare, IngestConfig(labels=("global_resolution", "molecule_mask")))
    assert set(entry.grids) == {"input", "global_resolution", "molecule_mask"}
