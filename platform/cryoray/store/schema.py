"""The store's schema: version, array kinds and dtypes, and validation of its metadata.

The JSON Schema lives in the repository's ``storage_schemas/`` (shipped with the package
through the ``schemas`` link); this module loads it and names the arrays it describes.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import jsonschema

from cryoray.errors import InputError

__all__ = [
    "ARRAY_DTYPES",
    "LABEL_KINDS",
    "SCHEMA_VERSION",
    "StoreSchemaError",
    "array_dtypes",
    "validate_entry",
    "validate_root",
]

SCHEMA_VERSION = 1
#: label arrays a store may hold, with their dtypes; ``input`` is float16 or float32
ARRAY_DTYPES = {
    "atom": "uint8",
    "amino_acid": "uint8",
    "secondary_structure": "uint8",
    "atom_type": "uint8",
    "denoise_class": "uint8",
    "denoise_regression": "float16",
    "simulated": "float16",
}
LABEL_KINDS = tuple(ARRAY_DTYPES)


def array_dtypes(input_dtype: str) -> dict[str, str]:
    """dtype of every array an entry may hold: origins, input and the label kinds."""
    return {"origins": "int32", "input": input_dtype, **ARRAY_DTYPES}


class StoreSchemaError(InputError):
    """A store whose metadata breaks the schema, or whose schema version is not understood."""


@cache
def _schema() -> dict:
    text = resources.files(__package__).joinpath("schemas", f"subgrid_store.v{SCHEMA_VERSION}.schema.json").read_text()
    return json.loads(text)


def _validate(instance: object, definition: str, source: object) -> None:
    schema = _schema()
    validator = jsonschema.Draft202012Validator({**schema, "$ref": f"#/$defs/{definition}"})
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "<top>"
        raise StoreSchemaError(
            source, f"{definition} metadata breaks schema v{SCHEMA_VERSION} at {where}: {error.message}"
        )


def validate_root(attrs: dict, *, source: object) -> None:
    """Check the root group's attributes (the version first, for a clear message)."""
    version = (attrs.get("cryoray_store") or {}).get("schema_version") if isinstance(attrs, dict) else None
    if version is None:
        raise StoreSchemaError(source, "not a cryoray store (no cryoray_store attributes)")
    if version != SCHEMA_VERSION:
        raise StoreSchemaError(
            source, f"store schema version {version} is not understood by this cryoray (knows {SCHEMA_VERSION})"
        )
    _validate(attrs, "root", source)


def validate_entry(attrs: dict, *, source: object) -> None:
    _validate(attrs, "entry", source)
