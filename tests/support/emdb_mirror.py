"""An EMDB archive mirror and a PDB mirror on disk, from the real maps and models in shared/data/real.

:func:`emdb_header` writes an EMDB v3 header (``emd-XXXX-v30.xml``) from the schema's element
names; :func:`build_mirrors` lays out the real entries (maps gzip'ed under ``EMD-XXXX/map/``,
headers under ``EMD-XXXX/header/``), half maps for EMD-8249 (its map plus independent noise:
no real half-map pair is available), malformed entries, and a PDB mirror (``mmCIF/XX/xxxx.cif.gz``
converted from the real PDB files with gemmi, ``fasta/xxxx.fasta``). Maps, models,
resolutions and pixel sizes are the real ones; methods and release dates are illustrative,
chosen to exercise the filters, not copied from EMDB.
"""

from __future__ import annotations

import gzip
import shutil
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import gemmi
import numpy as np

from cryoray.io import read_map, write_map
from tests.support.data import REAL_MAPS, real

__all__ = ["EXPECTED", "MirrorEntry", "build_mirrors", "emdb_header", "upload_tree"]

_PROCESSING = {
    "singleParticle": "singleparticle_processing",
    "helical": "helical_processing",
    "subtomogramAveraging": "subtomogram_averaging_processing",
    "tomography": "tomography_processing",
    "electronCrystallography": "crystallography_processing",
}


@dataclass(frozen=True)
class MirrorEntry:
    """One entry of the test mirror: what its header says, and the files behind it."""

    entry_id: str
    method: str
    resolution: float | None
    released: str
    pixel: float
    map: str | None  # key of REAL_MAPS, or None for no map file
    pdb_ids: tuple[str, ...] = ()
    half_maps: bool = False


def emdb_header(entry: MirrorEntry) -> str:
    """An EMDB v3 header (the schema's elements and nesting) for ``entry``."""
    number = entry.entry_id.split("-")[1]
    processing = _PROCESSING[entry.method]
    if entry.resolution is None:
        resolution = ""
    elif entry.method == "electronCrystallography":  # only the crystallography statistics give it
        resolution = (
            f"<crystallography_statistics><number_intensities_measured>1000</number_intensities_measured>"
            f"<high_resolution units='Å'>{entry.resolution}</high_resolution></crystallography_statistics>"
        )
    else:
        resolution = (
            "<final_reconstruction><applied_symmetry><point_group>C1</point_group></applied_symmetry>"
            f"<resolution res_type='BY AUTHOR' units='Å'>{entry.resolution}</resolution>"
            "<resolution_method>FSC 0.143 CUT-OFF</resolution_method></final_reconstruction>"
        )
    pdb = "".join(
        f"<pdb_reference><pdb_id>{escape(p.upper())}</pdb_id><relationship><full_overlap/></relationship></pdb_reference>"
        for p in entry.pdb_ids
    )
    half_maps = "".join(
        f"<half_map format='CCP4' size_kbytes='60'><file>emd_{number}_half_map_{i}.map.gz</file>"
        f"<symmetry><space_group>1</space_group></symmetry></half_map>"
        for i in (1, 2)
        if entry.half_maps
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<emd emdb_id="{entry.entry_id}" version="3.0.9.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
     xsi:noNamespaceSchemaLocation="https://ftp.ebi.ac.uk/pub/databases/em_ebi/emdb_related/emdb-schemas/v3/v3_0_9_0/emdb.xsd">
  <admin>
    <current_status><code>REL</code><processing_site>PDBe</processing_site></current_status>
    <key_dates>
      <deposition>2000-01-01</deposition>
      <header_release>{entry.released}</header_release>
      <map_release>{entry.released}</map_release>
      <update>2024-01-01</update>
    </key_dates>
    <title>cryoray test entry {entry.entry_id}</title>
  </admin>
  <crossreferences>
    <citation_list><primary_citation><journal_citation published="true"><title>t</title></journal_citation>
    </primary_citation></citation_list>
    {f"<pdb_list>{pdb}</pdb_list>" if pdb else ""}
  </crossreferences>
  <sample><name>test sample</name></sample>
  <structure_determination_list>
    <structure_determination structure_determination_id="1">
      <method>{entry.method}</method>
      <aggregation_state>particle</aggregation_state>
      <{processing} image_processing_id="1">
        <image_recording_id>1</image_recording_id>
        {resolution}
      </{processing}>
    </structure_determination>
  </structure_determination_list>
  <map format="CCP4" size_kbytes="100">
    <file>emd_{number}.map.gz</file>
    <symmetry><space_group>1</space_group></symmetry>
    <data_type>IMAGE STORED AS FLOATING POINT NUMBER (4 BYTES)</data_type>
    <pixel_spacing>
      <x units="Å">{entry.pixel}</x><y units="Å">{entry.pixel}</y><z units="Å">{entry.pixel}</z>
    </pixel_spacing>
    <contour_list><contour primary="true"><level>0.1</level><source>AUTHOR</source></contour></contour_list>
  </map>
  <interpretation>
    {f"<half_map_list>{half_maps}</half_map_list>" if half_maps else ""}
  </interpretation>
</emd>
"""


#: the real entries: resolutions, pixel sizes and fitted models are the real ones
REAL_ENTRIES = (
    MirrorEntry("EMD-3488", "singleParticle", 3.2, "2016-11-23", 1.05, "3488", ("5me2", "5ni1")),
    MirrorEntry("EMD-0093", "singleParticle", 3.4, "2018-10-10", 1.34, "0093-gz", ("6gyn",)),
    MirrorEntry("EMD-21457", "singleParticle", 3.2, "2020-03-11", 1.05, "21457-origin", ("6vyb",)),
    MirrorEntry("EMD-1883", "singleParticle", 20.9, "2011-05-04", 3.71, "1883", ("1wcm",)),
    MirrorEntry("EMD-8249", "subtomogramAveraging", 35.0, "2016-12-21", 5.28, "8249-negstart", ("5khe",), True),
    MirrorEntry("EMD-5170", "helical", 6.6, "2010-06-09", 2.38, "5170"),
)
#: well-formed headers whose entries lack something: a map file, a model on the PDB mirror
ODD_ENTRIES = (
    MirrorEntry("EMD-9004", "singleParticle", 4.0, "2021-01-01", 1.0, None, ("5me2",)),
    MirrorEntry("EMD-9005", "electronCrystallography", 3.0, "2022-02-02", 5.28, "8249-negstart", ("9zzz",)),
)
#: headers that cannot be used: entry -> the header's bytes
BAD_HEADERS = {
    "EMD-9001": emdb_header(MirrorEntry("EMD-9001", "singleParticle", 3.0, "2019-01-01", 1.0, None))[:700],
    "EMD-9002": emdb_header(MirrorEntry("EMD-9002", "helical", None, "2019-01-01", 1.0, "8249-negstart")),
    "EMD-9003": (
        '<?xml version="1.0"?>\n<!DOCTYPE emd [\n<!ENTITY a "aaaaaaaaaa">\n'
        + "".join(f'<!ENTITY {n} "{("&" + p + ";") * 10}">\n' for p, n in zip("abcdefgh", "bcdefghi", strict=True))
        + ']>\n<emd emdb_id="EMD-9003"><admin><title>&i;</title></admin></emd>\n'
    ),
}
#: model file (relative to shared/data/real) and FASTA (None: not on the mirror) of each PDB id
PDB_FILES = {
    "5me2": ("EMD-3488_5ME2_haemoglobin/5me2.pdb", "EMD-3488_5ME2_haemoglobin/5me2_seqres.fasta"),
    "6gyn": ("EMD-0093_6GYN_HCN4-masked/6gyn.pdb", "EMD-0093_6GYN_HCN4-masked/6gyn_seqres.fasta"),
    "6vyb": ("EMD-21457_6VYB_spike-NTD-segment/6vyb_Ndom.pdb", None),
    "1wcm": ("EMD-1883_RNA-PolII/1WCM_map_fitted.pdb", "EMD-1883_RNA-PolII/1WCM.fasta"),
    "5khe": ("EMD-8249_5KHE_rubella-capsid/regression_pdb5khe.pdb", "EMD-8249_5KHE_rubella-capsid/5khe_seqres.fasta"),
}
#: what `cryoray manifest emdb` must decide for each entry without filters: True (kept) or the
#: start of the rejection's reason
EXPECTED: dict[str, bool | str] = {
    "EMD-3488": True,
    "EMD-0093": True,
    "EMD-21457": True,
    "EMD-1883": True,
    "EMD-8249": True,
    "EMD-5170": True,
    "EMD-9001": "emd-9001-v30.xml: not well-formed XML",
    "EMD-9002": "no final reconstruction resolution",
    "EMD-9003": "emd-9003-v30.xml: declares a DOCTYPE",
    "EMD-9004": "map emd_9004.map.gz not on the mirror",
    "EMD-9005": True,
}


def _gzip_to(dest: Path, data: bytes) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data if data[:2] == b"\x1f\x8b" else gzip.compress(data, compresslevel=1))


def _half_maps(map_path: Path, out_dir: Path, number: str) -> None:
    """Two half maps: the map plus independent Gaussian noise (0.3 σ), as shared/data/real's README advises."""
    density = read_map(map_path)
    sigma = float(density.data.std())
    for i, seed in ((1, 11), (2, 12)):
        noise = np.random.default_rng(seed).normal(scale=0.3 * sigma, size=density.data.shape)
        tmp = out_dir / f"half_{i}.mrc"
        write_map(tmp, density.with_data((density.data + noise).astype(np.float32)))
        _gzip_to(out_dir / f"emd_{number}_half_map_{i}.map.gz", tmp.read_bytes())
        tmp.unlink()


def build_mirrors(root: Path) -> tuple[Path, Path]:
    """Write the EMDB mirror to ``root/structures`` and the PDB mirror to ``root/pdb``; return both."""
    emdb, pdb = root / "structures", root / "pdb"
    for entry in (*REAL_ENTRIES, *ODD_ENTRIES):
        number = entry.entry_id.split("-")[1]
        folder = emdb / entry.entry_id
        (folder / "header").mkdir(parents=True)
        (folder / "header" / f"emd-{number}-v30.xml").write_text(emdb_header(entry), encoding="utf-8")
        if entry.map is not None:
            _gzip_to(folder / "map" / f"emd_{number}.map.gz", real(REAL_MAPS[entry.map]).read_bytes())
        if entry.half_maps:
            (folder / "other").mkdir()
            _half_maps(real(REAL_MAPS[entry.map]), folder / "other", number)
    for entry_id, text in BAD_HEADERS.items():
        header = emdb / entry_id / "header" / f"emd-{entry_id.split('-')[1]}-v30.xml"
        header.parent.mkdir(parents=True)
        header.write_text(text, encoding="utf-8")
    for pdb_id, (model, fasta) in PDB_FILES.items():
        structure = gemmi.read_structure(str(real(model)))
        structure.setup_entities()
        _gzip_to(pdb / "mmCIF" / pdb_id[1:3] / f"{pdb_id}.cif.gz", structure.make_mmcif_document().as_string().encode())
        if fasta is not None:
            (pdb / "fasta").mkdir(parents=True, exist_ok=True)
            shutil.copy(real(fasta), pdb / "fasta" / f"{pdb_id}.fasta")
    return emdb, pdb


def upload_tree(local: Path, bucket: str, prefix: str) -> str:
    """Copy ``local`` to ``s3://bucket/prefix`` (the bucket is created); return that URL."""
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        s3.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(local).as_posix()}")
    return f"s3://{bucket}/{prefix}"
