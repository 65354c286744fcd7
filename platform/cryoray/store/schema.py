"""The store's schema: versions, array kinds and dtypes, and validation of its metadata.

The JSON Schemas live in the repository's ``storage_schemas/`` (shipped with the package
through the ``schemas`` link); this module loads them and names the arrays they describe.
New stores are written in :data:`SCHEMA_VERSION`; stores of every version in
:data:`READABLE_VERSIONS` can be read.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import jsonschema

from cryoray.errors import InputError

__all__ = [
    "ARRAY_DTYPES",
    "CRYORES_LABEL_KINDS",
    "DEFAULT_LABEL_KINDS",
    "LABEL_KINDS",
    "READABLE_VERSIONS",
    "SCHEMA_VERSION",
    "StoreSchemaError",
    "array_dtypes",
    "check_index_entries",
    "validate_entry",
    "validate_index",
    "validate_record",
    "validate_root",
    "validate_splits",
]

#: the version new stores are written in
SCHEMA_VERSION = 2
#: versions this cryoray reads (v1: one root attribute list rewritten on every commit)
READABLE_VERSIONS = (1, 2)
#: label arrays a store may hold, with their dtypes; ``input`` is float16 or float32
ARRAY_DTYPES = {
    "atom": "uint8",
    "amino_acid": "uint8",
    "secondary_structure": "uint8",
    "atom_type": "uint8",
    "denoise_class": "uint8",
    "denoise_regression": "float16",
    "simulated": "float16",
    "global_resolution": "float16",
    "relative_resolution": "float16",
    "molecule_mask": "uint8",
    "ca_heatmap": "float16",
}
LABEL_KINDS = tuple(ARRAY_DTYPES)
#: CryoRes's label kinds (``relative_resolution`` needs the entry's half maps)
CRYORES_LABEL_KINDS = ("global_resolution", "relative_resolution", "molecule_mask")
#: what ingest stores unless told: every kind but CryoRes's
DEFAULT_LABEL_KINDS = tuple(kind for kind in LABEL_KINDS if kind not in CRYORES_LABEL_KINDS)


def array_dtypes(input_dtype: str) -> dict[str, str]:
    """dtype of every array an entry may hold: origins, input, the embedding and the label kinds."""
    return {"origins": "int32", "input": input_dtype, "embedding": "float32", **ARRAY_DTYPES}


class StoreSchemaError(InputError):
    """A store whose metadata breaks the schema, or whose schema version is not understood."""


@cache
def _schema(version: int) -> dict:
    text = resources.files(__package__).joinpath("schemas", f"subgrid_store.v{version}.schema.json").read_text()
    return json.loads(text)


def _inline(node: object, defs: dict) -> object:
    """``node`` with its references to ``$defs`` replaced by what they name (the schemas have no cycles)."""
    if isinstance(node, dict):
        if set(node) == {"$ref"} and node["$ref"].startswith("#/$defs/"):
            return _inline(defs[node["$ref"].removeprefix("#/$defs/")], defs)
        return {key: _inline(value, defs) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(value, defs) for value in node]
    return node


@cache
def _validator(version: int, definition: str) -> jsonschema.Draft202012Validator:
    # Inlined, an entry validates twice as fast as through jsonschema's reference resolution.
    schema = _schema(version)
    return jsonschema.Draft202012Validator(
        {"$schema": schema["$schema"], **_inline(schema["$defs"][definition], schema["$defs"])}
    )


def _validate(instance: object, definition: str, source: object, version: int = SCHEMA_VERSION) -> None:
    error = jsonschema.exceptions.best_match(_validator(version, definition).iter_errors(instance))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "<top>"
        raise StoreSchemaError(source, f"{definition} metadata breaks schema v{version} at {where}: {error.message}")


def validate_root(attrs: dict, *, source: object) -> int:
    """Check the root group's attributes (the version first, for a clear message); return the version."""
    version = (attrs.get("cryoray_store") or {}).get("schema_version") if isinstance(attrs, dict) else None
    if version is None:
        raise StoreSchemaError(source, "not a cryoray store (no cryoray_store attributes)")
    if version not in READABLE_VERSIONS:
        known = ", ".join(str(v) for v in READABLE_VERSIONS)
        raise StoreSchemaError(
            source, f"store schema version {version} is not understood by this cryoray (knows {known})"
        )
    _validate(attrs, "root", source, version)
    return int(version)


def validate_entry(attrs: dict, *, source: object, version: int = SCHEMA_VERSION) -> None:
    """Check an entry group's attributes."""
    _validate(attrs, "entry", source, version)


def validate_record(record: dict, *, source: object) -> None:
    """Check one v2 commit record (``records/<entry_id>.json``), the entry's attributes included."""
    _validate(record, "record", source)


def validate_splits(splits: dict | None, *, source: object) -> None:
    _validate(splits, "splits", source)


def validate_index(index: dict, *, source: object) -> None:
    """Check the v2 index, its entries only as :func:`check_index_entries` does.

    Validating every entry's attributes against the schema costs ~0.5 ms each (25 s for 50k
    entries), so opening a store checks their shape only; each entry is validated in full when
    its arrays are first read, and by ``check="all"`` (``cryoray store info --check``).
    """
    if not isinstance(index, dict):
        raise StoreSchemaError(source, "index metadata breaks schema v2 at <top>: not an object")
    _validate({**index, "entries": {}}, "index", source)
    check_index_entries(index["entries"], source=source)


def check_index_entries(entries: object, *, source: object) -> None:
    """What readers rely on before an entry is first read: an object of entry id -> attributes with ``n_subgrids``."""
    if not isinstance(entries, dict):
        raise StoreSchemaError(source, "index metadata breaks schema v2 at entries: not an object")
    for entry_id, attrs in entries.items():
        n = attrs.get("n_subgrids") if isinstance(attrs, dict) else None
        if not isinstance(n, int) or isinstance(n, bool) or n < 0 or attrs.get("entry_id") != entry_id:
            raise StoreSchemaError(
                f"{source}#{entry_id}", "index entry breaks schema v2: needs its entry_id and n_subgrids >= 0"
            )
