"""Request and response bodies: MRC bytes in and out, a ZIP of MRC maps, model-building JSON.

* ``/enhance`` and ``/segment`` take the map's bytes as the body (MRC/CCP4, optionally gzip).
* ``/enhance`` answers one MRC map (mode 2) on the input's grid: same shape, voxel size, origin.
* ``/segment`` answers a ZIP (``application/zip``) holding one MRC per output channel,
  ``HEAD_CLASS.mrc`` (e.g. ``atom_CA.mrc``), each a probability map on the input's grid.
* ``/build`` takes JSON ``{"map": "<base64 of the map's bytes>", "sequence": "<FASTA text>"}``
  and answers the Cα model as mmCIF text (``chemical/x-mmcif``).

Maps are parsed by :func:`cryoray.io.read_map` from a private temporary file, with the
configured voxel limit, so every check of the file reader applies (header against size,
truncation, corrupt or oversized gzip, NaN values).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Iterable

from cryoray.errors import InputError
from cryoray.io import read_map, read_map_header, write_map
from cryoray.io.density_map import DensityMap
from cryoray.io.sequences import parse_fasta
from cryoray.modelbuild import chains_from_records
from cryoray.serve.config import LimitsConfig
from cryoray.serve.limits import LimitError, check_chains, check_frame

__all__ = ["decode_build_request", "decode_map", "encode_map", "encode_maps_zip", "parse_chains"]


def decode_map(data: bytes, limits: LimitsConfig, voxel_size: float) -> DensityMap:
    """Parse a map's bytes, refusing maps above the limits before their voxels are read.

    Raises:
        InputError: not a usable map (:class:`~cryoray.errors.MapFormatError` etc.).
        LimitError / MapTooLargeError: above the limits.
    """
    fd, path = tempfile.mkstemp(prefix="cryoray-serve-", suffix=".mrc")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        header = read_map_header(path, max_voxels=limits.max_map_voxels)
        check_frame(header.frame, limits, voxel_size)
        density = read_map(path, max_voxels=limits.max_map_voxels)
    except InputError as exc:
        raise type(exc)("map", exc.reason) from None  # never name the temporary file
    finally:
        os.unlink(path)
    return density


def encode_map(density: DensityMap, *, label: str) -> bytes:
    """MRC2014 bytes (mode 2) of ``density`` with one provenance label."""
    with tempfile.TemporaryDirectory(prefix="cryoray-serve-") as folder:
        path = os.path.join(folder, "out.mrc")
        write_map(path, density, labels=(label,))
        with open(path, "rb") as f:
            return f.read()


def encode_maps_zip(maps: Iterable[tuple[str, DensityMap]], *, label: str) -> bytes:
    """A ZIP (deflate) of ``NAME.mrc`` members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, density in maps:
            archive.writestr(f"{name}.mrc", encode_map(density, label=label))
    return buffer.getvalue()


def parse_chains(text: str, limits: LimitsConfig) -> list[tuple[str, str]]:
    """``(chain_id, sequence)`` pairs from FASTA text, within the limits."""
    if len(text) > limits.max_sequence_length * 4 + 100_000:  # letters, headers, line breaks
        raise LimitError(
            "sequence",
            f"FASTA text of {len(text)} characters is too long for the limit of {limits.max_sequence_length} residues",
        )
    chains = chains_from_records(parse_fasta(text, source="sequence"), source="sequence")
    check_chains(chains, limits)
    return chains


def decode_build_request(body: bytes) -> tuple[bytes, str]:
    """``(map bytes, FASTA text)`` from ``{"map": base64, "sequence": text}``.

    Raises:
        InputError: not JSON, missing or mistyped fields, bad base64.
    """
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError("request", f'not JSON: send {{"map": base64, "sequence": FASTA}} ({exc})') from None
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("map"), str)
        or not isinstance(payload.get("sequence"), str)
    ):
        raise InputError("request", 'expected a JSON object {"map": "<base64 map bytes>", "sequence": "<FASTA text>"}')
    unknown = sorted(set(payload) - {"map", "sequence"})
    if unknown:
        raise InputError("request", f"unknown field(s) {unknown}; expected map and sequence")
    try:
        data = base64.b64decode(payload["map"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError("request", f"map: not base64 ({exc})") from None
    return data, payload["sequence"]
