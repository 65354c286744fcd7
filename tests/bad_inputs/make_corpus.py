"""Regenerate the corpus of broken and hostile inputs in this folder (files are committed).

Run from the repository root: ``python tests/bad_inputs/make_corpus.py``. Each file is listed
in ``manifest.json`` with the command that reads it, the error class it must raise and,
optionally, a ``match`` that its message must contain. Files already here are kept (their
bytes depend on the mrcfile and gzip versions); ``--force`` rewrites them all.
"""

from __future__ import annotations

import gzip
import io
import json
import sys
import zipfile
from pathlib import Path

import mrcfile
import numpy as np

HERE = Path(__file__).parent
RNG = np.random.default_rng(7)


def good_map_bytes(shape=(8, 8, 8), dtype=np.float32, **header) -> bytes:
    """A small valid map (voxel 2 Å, origin 0) as bytes, with header fields overridden."""
    path = HERE / "_tmp.mrc"
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(RNG.normal(size=shape).astype(dtype))
        mrc.voxel_size = 2.0
        for key, value in header.items():
            setattr(mrc.header, key, value)
    data = path.read_bytes()
    path.unlink()
    return data


def patch(data: bytes, offset: int, value: np.ndarray) -> bytes:
    raw = np.asarray(value).tobytes()
    return data[:offset] + raw + data[offset + len(raw) :]


def i32(v: int) -> np.ndarray:
    return np.array([v], dtype="<i4")


def f32(*v: float) -> np.ndarray:
    return np.array(v, dtype="<f4")


def pdb_atom(serial: int, x: float, y: float, z: float) -> bytes:
    """A fixed-column ATOM record of a Cα at (x, y, z); ``nan`` prints as such."""
    return f"ATOM  {serial:5d}  CA  ALA A{serial:4d}    {x:8.3f}{y:8.3f}{z:8.3f}  1.00 20.00           C\n".encode()


def npy_bytes(header: dict, body: bytes) -> bytes:
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, header)
    return member.getvalue() + body


def header_bomb_npz() -> bytes:
    """xyz.npy declares 10¹² x 3 float64 (24 TB) but holds 24 bytes; the other arrays are fine."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(
            "xyz.npy", npy_bytes({"descr": "<f8", "fortran_order": False, "shape": (10**12, 3)}, bytes(24))
        )
        archive.writestr(
            "aa_probs.npy",
            npy_bytes({"descr": "<f8", "fortran_order": False, "shape": (1, 20)}, np.full(20, 0.05).tobytes()),
        )
        archive.writestr(
            "ca_prob.npy", npy_bytes({"descr": "<f8", "fortran_order": False, "shape": (1,)}, np.ones(1).tobytes())
        )
    return out.getvalue()


def main() -> None:
    good = good_map_bytes()
    files: dict[str, tuple[bytes, dict[str, str]]] = {}

    def add(name: str, data: bytes, command: str, error: str, why: str, match: str | None = None) -> None:
        case = {"file": name, "command": command, "error": error, "why": why}
        files[name] = (data, case if match is None else {**case, "match": match})

    add("empty_file.mrc", b"", "map", "MapFormatError", "zero-byte file")
    add("header_only_part.mrc", good[:500], "map", "MapFormatError", "file shorter than the 1024-byte header")
    add("truncated_data.mrc", good[:-700], "map", "MapFormatError", "data block cut short")
    add("extra_data.mrc", good + b"\0" * 4096, "map", "MapFormatError", "more data than the header describes")
    add(
        "mode_int16_but_float_data.mrc",
        patch(good, 12, i32(1)),
        "map",
        "MapFormatError",
        "mode disagrees with file size",
    )
    add("unknown_mode.mrc", patch(good, 12, i32(7)), "map", "MapFormatError", "mode 7 does not exist")
    add("complex_mode.mrc", patch(good, 12, i32(4)), "map", "UnsupportedMapError", "complex float mode")
    add("dims_disagree.mrc", patch(good, 0, i32(9)), "map", "MapFormatError", "NX 9 but data for 8")
    add(
        "absurd_dims.mrc",
        patch(patch(patch(good, 0, i32(100000)), 4, i32(100000)), 8, i32(100000)),
        "map",
        "MapTooLargeError",
        "10^15 voxels (petabytes) in the header",
    )
    add(
        "just_under_int_overflow.mrc",
        patch(patch(good, 0, i32(2**31 - 1)), 4, i32(2**31 - 1)),
        "map",
        "MapTooLargeError",
        "NX*NY overflows 32 bits",
    )
    add("negative_dims.mrc", patch(good, 0, i32(-8)), "map", "MapFormatError", "negative NX")
    add("zero_dims.mrc", patch(good, 8, i32(0))[:1024], "map", "MapValueError", "NZ = 0: a map with no voxels")
    add(
        "bad_axis_order.mrc",
        patch(good, 64, np.array([1, 1, 3], dtype="<i4")),
        "map",
        "MapFormatError",
        "MAPC/MAPR/MAPS not a permutation",
    )
    add("zero_cell.mrc", patch(good, 40, f32(0, 0, 0)), "map", "MapFormatError", "cell 0: voxel size unknown")
    add(
        "non_orthogonal.mrc",
        patch(good, 52, f32(90, 94.3, 90)),
        "map",
        "NonOrthogonalCellError",
        "beta 94.3 (like EMD-3001)",
    )
    add(
        "huge_extended_header.mrc",
        patch(good, 92, i32(2**30)),
        "map",
        "MapTooLargeError",
        "NSYMBT says 1 GiB of extended header, above the 16 MiB limit",
        match="extended header (NSYMBT) of 1073741824 bytes",
    )
    nan = np.frombuffer(good[1024:], dtype="<f4").copy()
    nan[5] = np.nan
    add("nan_values.mrc", good[:1024] + nan.tobytes(), "map", "MapValueError", "a NaN voxel")
    inf = nan.copy()
    inf[5] = np.inf
    add("inf_values.mrc", good[:1024] + inf.tobytes(), "map", "MapValueError", "an infinite voxel")
    gz = gzip.compress(good)
    add(
        "corrupt_gzip.mrc.gz",
        gz[:20] + bytes(RNG.integers(0, 256, 200, dtype=np.uint8)) + gz[220:],
        "map",
        "MapFormatError",
        "gzip body overwritten with noise",
    )
    add("truncated_gzip.mrc.gz", gz[: len(gz) // 2], "map", "MapFormatError", "gzip stream cut in half")
    add(
        "text_named_mrc.mrc",
        b"This is not a map, just some text.\n" * 40,
        "map",
        "MapFormatError",
        "a text file with a map name",
    )
    add(
        "gzip_bomb_dims.mrc.gz",
        gzip.compress(patch(patch(good, 0, i32(4096)), 4, i32(4096))[:1024] + b"\0" * 65536),
        "map",
        "MapFormatError",
        "gzip header says 4096x4096x8 floats, stream has 64 KiB",
    )
    add(
        "no_atoms.pdb",
        b"HEADER    EMPTY MODEL\nREMARK   1 nothing here\nEND\n",
        "model",
        "EmptyModelError",
        "PDB with no atom records",
    )
    add(
        "malformed.cif",
        b"data_broken\nloop_\n_atom_site.id\n_atom_site.type_symbol\n1 C 2 'unterminated\n",
        "model",
        "ModelFormatError",
        "mmCIF with a broken loop and quote",
    )
    add(
        "binary.cif.gz",
        gzip.compress(bytes(RNG.integers(0, 256, 3000, dtype=np.uint8))),
        "model",
        "ModelFormatError",
        "random bytes, gzip-compressed, named .cif.gz",
    )
    add(
        "outside_map.pdb",
        b"ATOM      1  CA  ALA A   1     500.000 500.000 500.000  1.00  0.00           C\nEND\n",
        "fit",
        "ModelPlacementError",
        "model entirely outside the map",
    )
    add(
        "no_ca.pdb",
        b"HETATM    1 FE   HEM A   1       1.000   1.000   1.000  1.00  0.00          FE\nEND\n",
        "fit",
        "EmptyModelError",
        "a model with atoms but no CA",
    )
    add(
        "no_sequence.fasta",
        b">1ABC_1|Chains A, B|header only\n",
        "sequence",
        "SequenceFormatError",
        "FASTA header with no sequence",
    )
    add(
        "not_fasta.fasta",
        b"MKVLAAGIV\nNo header line here\n",
        "sequence",
        "SequenceFormatError",
        "sequence without a '>' header",
    )
    add("bad_letters.fasta", b">x\nMKV1234LAA\n", "sequence", "SequenceFormatError", "digits in a sequence")
    add("empty.fasta", b"", "sequence", "SequenceFormatError", "empty FASTA file")
    add(
        "constant_map.mrc",
        good_map_bytes(dtype=np.float32)[:1024] + np.zeros(512, dtype="<f4").tobytes(),
        "prepare",
        "MapValueError",
        "all-zero map: nothing positive to normalise",
    )
    add(
        "huge_voxel_size.mrc",
        patch(good, 40, f32(8000, 8000, 8000)),
        "prepare",
        "MapTooLargeError",
        "8³ map of 1000 Å voxels: 7001³ voxels (1.25 TiB) at 1 Å",
        match="resampled to 1 Å would have about 3.43e+11 voxels",
    )
    add(
        "nan_coordinates.pdb",
        pdb_atom(1, 1.0, 2.0, 3.0) + pdb_atom(2, float("nan"), 2.0, 3.0) + b"END\n",
        "simulate",
        "ModelFormatError",
        "a Cα at x = nan",
        match="1 atoms have NaN or infinite coordinates",
    )
    add(
        "placeholder_atom.pdb",
        pdb_atom(1, 1.0, 2.0, 3.0) + pdb_atom(2, 9999.999, 9999.999, 9999.999) + b"END\n",
        "simulate",
        "MapTooLargeError",
        "a placeholder atom at 9999.999: the simulated box would be 10020³ voxels (3.66 TiB)",
        match="placeholder coordinates",
    )
    add(
        "npz_header_bomb.npz",
        header_bomb_npz(),
        "align",
        "StatesFormatError",
        "states file of 756 bytes whose xyz header declares 10¹² x 3 floats",
        match="header declares shape (1000000000000, 3)",
    )
    add(
        "gzip_huge_extended_header.mrc.gz",
        gzip.compress(patch(good, 92, i32(1_900_000_000))[:1024] + bytes(1 << 16), mtime=0),
        "map",
        "MapTooLargeError",
        "gzip'ed map whose NSYMBT declares a 1.9 GB extended header (was inflated and discarded)",
        match="extended header (NSYMBT) of 1900000000 bytes is above the limit",
    )

    force = "--force" in sys.argv[1:]
    written = 0
    for name, (data, _) in files.items():
        if force or not (HERE / name).exists():
            (HERE / name).write_bytes(data)
            written += 1
    manifest = [case for _, case in files.values()]
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{len(manifest)} cases, {written} files written")


if __name__ == "__main__":
    main()
