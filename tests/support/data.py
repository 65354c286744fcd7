"""The real test data in ../shared/data/real, the bad-input corpus, and ingest manifests of real entries."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REAL = REPO.parent / "shared" / "data" / "real"
BAD_INPUTS = REPO / "tests" / "bad_inputs"

#: label -> path of a real map (relative to REAL)
REAL_MAPS = {
    "3488": "EMD-3488_5ME2_haemoglobin/emd_3488.mrc",
    "3488-mask": "EMD-3488_5ME2_haemoglobin/emd_3488_contour_mask.mrc",
    "21457-origin": "EMD-21457_6VYB_spike-NTD-segment/emd_21457_seg.mrc",
    "21457-nstart": "EMD-21457_6VYB_spike-NTD-segment/emd_21457_seg_nstart.mrc",
    "21457-orig0": "EMD-21457_6VYB_spike-NTD-segment/emd_21457_seg_orig0.mrc",
    "0093-gz": "EMD-0093_6GYN_HCN4-masked/MAP_m4A.mrc.gz",
    "1883": "EMD-1883_RNA-PolII/emd_1883.map.mrc",
    "8249-negstart": "EMD-8249_5KHE_rubella-capsid/emd_8249.map",
    "3197": "EMD-3197_subtomo_header-edge-case/EMD-3197.map",
    "5170": "EMD-5170_actin-related/emd_5170.map",
    "2513": "EMD-2513_Frh_map+seq/emd_2513.mrc",
    "1461": "EMD-1461_rotavirus-VP6_map+seq/emd_1461.mrc",
    "3j9s": "3J9S-A_rotavirus-VP6_map+seq/3j9sA.mrc",
    "6824": "EMD-6824_map+seq/6824.mrc",
}

#: the real entries with a deposited model: entry -> (map, model, sequence, resolution), relative to REAL
ENTRIES = {
    "EMD-3488": (
        "EMD-3488_5ME2_haemoglobin/emd_3488.mrc",
        "EMD-3488_5ME2_haemoglobin/5me2.pdb",
        "EMD-3488_5ME2_haemoglobin/5me2_seqres.fasta",
        3.2,
    ),
    "EMD-8249": (
        "EMD-8249_5KHE_rubella-capsid/emd_8249.map",
        "EMD-8249_5KHE_rubella-capsid/regression_pdb5khe.pdb",
        "EMD-8249_5KHE_rubella-capsid/5khe_seqres.fasta",
        35.0,
    ),
    "EMD-21457": (
        "EMD-21457_6VYB_spike-NTD-segment/emd_21457_seg.mrc",
        "EMD-21457_6VYB_spike-NTD-segment/6vyb_Ndom.pdb",
        "EMD-21457_6VYB_spike-NTD-segment/6vyb_seqres.fasta",
        3.2,
    ),
    "EMD-0093": (
        "EMD-0093_6GYN_HCN4-masked/MAP_m4A.mrc.gz",
        "EMD-0093_6GYN_HCN4-masked/6gyn.pdb",
        "EMD-0093_6GYN_HCN4-masked/6gyn_seqres.fasta",
        3.4,
    ),
    "EMD-1883": (
        "EMD-1883_RNA-PolII/emd_1883.map.mrc",
        "EMD-1883_RNA-PolII/1WCM_map_fitted.pdb",
        "EMD-1883_RNA-PolII/1WCM.fasta",
        20.9,
    ),
}
#: the two small entries of ENTRIES (seconds to ingest)
SMALL = ("EMD-3488", "EMD-8249")


def real(relative: str) -> Path:
    """Path of a file under shared/data/real; fails (never skips) when shared/ is missing."""
    path = REAL / relative
    assert path.is_file(), f"missing test data {path}: ../shared must sit beside the repository"
    return path


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` by relative path, for byte-for-byte comparisons of stores."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def write_manifest(path: Path, rows: list[tuple[str, str, str, str, float]]) -> Path:
    """An ingest manifest (``entry_id,map,model,sequence,resolution``) of ``rows`` at ``path``."""
    lines = ["entry_id,map,model,sequence,resolution"] + [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def local_rows(names: Iterable[str]) -> list[tuple]:
    """Manifest rows of the named ENTRIES, with absolute local paths."""
    return [(e, *(REAL / p for p in ENTRIES[e][:3]), ENTRIES[e][3]) for e in names]
