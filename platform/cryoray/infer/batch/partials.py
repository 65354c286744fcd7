"""An entry's slab outputs between its predictor actor and its finish task: files under ``OUTPUT/.partial/``.

A predictor actor stitches one slab of an entry (:class:`~cryoray.infer.Slab`: the whole map,
unless the map is large) into a memory-mapped ``.npy`` on its node's disk and uploads it, with
the slab's Cα candidates, under the output prefix, which every node can reach (the output must
be shared storage on a cluster anyway). The driver learns only that the slab is done
(:class:`SlabResult`); the entry's finish task reads the slabs back, one channel at a time, and
removes them. Voxels never pass through the driver.

Layout: ``OUTPUT/.partial/ENTRY/slab-KKKK.maps.npy`` (map channels ``(C, dz, ny, nx)`` float32)
and ``slab-KKKK.candidates.npz`` (indices on the whole prepared grid, P(Cα), amino-acid rows).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import fsspec
import numpy as np
from fsspec.implementations.local import LocalFileSystem

from cryoray.infer.batch.entries import EntryMeta
from cryoray.infer.batch.locations import join
from cryoray.infer.stitching import CandidateSink, Slab

__all__ = ["PARTIAL", "SlabResult", "load_candidates", "open_slab_maps", "remove_partials", "save_slab"]

#: the output prefix's folder of slab outputs in flight (removed as entries finish and at the run's end)
PARTIAL = ".partial"


@dataclass(frozen=True)
class SlabResult:
    """A slab predicted and saved: what the driver gets back from a predictor actor (no voxels).

    Args:
        entry_id: the entry.
        meta: what the read task learnt of the entry.
        slab: which z-sections of the prepared map.
        maps: URL of the slab's map channels (None when no maps are written).
        candidates: URL of the slab's Cα candidates (None when no model is built).
        seconds: predicting and stitching time.
        peak_private_mib: the predictor actor's highest private resident memory so far (its whole
            life; sampled after every batch of boxes).
        predictor: which actor predicted it (``host:pid``).
    """

    entry_id: str
    meta: EntryMeta
    slab: Slab
    maps: str | None
    candidates: str | None
    seconds: float
    peak_private_mib: float
    predictor: str


def slab_url(output: str, entry_id: str, index: int, what: str) -> str:
    """Where slab ``index`` of ``entry_id`` keeps ``what`` (``maps.npy``, ``candidates.npz``)."""
    return join(output, PARTIAL, entry_id, f"slab-{index:04d}.{what}")


def save_slab(
    output: str, entry_id: str, slab: Slab, maps: str | None, candidates: CandidateSink | None
) -> tuple[str | None, str | None]:
    """Upload a slab's maps (the local ``.npy`` at ``maps``) and candidates; their URLs."""
    fs, _ = fsspec.core.url_to_fs(output)
    maps_url = cand_url = None
    if maps is not None:
        maps_url = slab_url(output, entry_id, slab.index, "maps.npy")
        _put(fs, maps, maps_url)
    if candidates is not None:
        cand_url = slab_url(output, entry_id, slab.index, "candidates.npz")
        index, value, rows = candidates.result()
        with tempfile.TemporaryDirectory(prefix="cryoray-slab-") as tmp:
            local = os.path.join(tmp, "candidates.npz")
            np.savez(local, index=index, value=value, rows=rows, highest=np.float64(candidates.highest))
            _put(fs, local, cand_url)
    return maps_url, cand_url


def _put(fs: fsspec.AbstractFileSystem, local: str, url: str) -> None:
    _, path = fsspec.core.url_to_fs(url)
    if isinstance(fs, LocalFileSystem):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    fs.put_file(local, path)


@contextlib.contextmanager
def _local(url: str) -> Iterator[str]:
    """A local path holding ``url``'s file (itself, or a temporary download)."""
    fs, path = fsspec.core.url_to_fs(url)
    if isinstance(fs, LocalFileSystem):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="cryoray-slab-") as tmp:
        local = os.path.join(tmp, os.path.basename(path))
        fs.get_file(path, local)
        yield local


@contextlib.contextmanager
def open_slab_maps(urls: Sequence[str]) -> Iterator[list[np.ndarray]]:
    """The slabs' map arrays ``(C, dz, ny, nx)``, memory-mapped (read a channel at a time to bound memory)."""
    with contextlib.ExitStack() as stack:
        yield [np.load(stack.enter_context(_local(url)), mmap_mode="r") for url in urls]


def load_candidates(urls: Sequence[str], keep: Sequence[int]) -> CandidateSink:
    """The slabs' candidates in one :class:`CandidateSink` (for :func:`~cryoray.infer.clustered_states`)."""
    sink = CandidateSink(0, 0.0, keep)
    for url in urls:
        with _local(url) as local, np.load(local) as saved:
            sink.highest = max(sink.highest, float(saved["highest"]))
            if len(saved["index"]):
                sink.add_kept(saved["index"], saved["value"], saved["rows"])
    return sink


def remove_partials(output: str, entry_id: str | None = None) -> None:
    """Remove an entry's slab files, or (``entry_id`` None) the whole partial folder."""
    fs, path = fsspec.core.url_to_fs(join(output, PARTIAL, *([entry_id] if entry_id else [])))
    with contextlib.suppress(FileNotFoundError):
        fs.rm(path, recursive=True)
