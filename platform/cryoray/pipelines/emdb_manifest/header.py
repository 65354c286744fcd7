"""EMDB v3 XML headers (``emd-XXXX-v30.xml``): parsed safely, reduced to what a manifest needs.

Headers come from remote mirrors, so the parser trusts nothing: documents above
:data:`MAX_HEADER_BYTES` are refused before parsing, and so is any DOCTYPE, entity or notation
declaration (the parser stops at the declaration, before an entity could expand: no "billion
laughs", no external entities). ``defusedxml`` is not a dependency; the standard library's
expat feeds :class:`xml.etree.ElementTree.TreeBuilder` with those declarations refused.

Fields read (EMDB v3 schema; namespace prefixes are ignored):

- ``admin/key_dates/map_release`` -> :attr:`EmdbHeader.released`
- ``structure_determination_list/structure_determination/method`` -> :attr:`EmdbHeader.methods`
- ``.../final_reconstruction/resolution`` wherever it lies under a ``structure_determination``
  (``singleparticle_processing``, ``helical_processing``, ``subtomogram_averaging_processing``,
  ...); for electron crystallography without it, ``crystallography_statistics/high_resolution``
- ``crossreferences/pdb_list/pdb_reference/pdb_id`` -> :attr:`EmdbHeader.pdb_ids`
- ``map/file`` and ``map/pixel_spacing/{x,y,z}``
- ``interpretation/half_map_list/half_map/file`` -> :attr:`EmdbHeader.half_map_files`
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date
from xml.parsers import expat

from cryoray.errors import InputError

__all__ = ["MAX_HEADER_BYTES", "METHODS", "EmdbHeader", "HeaderFormatError", "parse_header", "parse_xml"]

#: EMDB headers are tens of kB (the largest a few hundred); anything far beyond is not a header.
MAX_HEADER_BYTES = 4 << 20
#: the values of ``structure_determination/method`` in the v3 schema
METHODS = ("singleParticle", "helical", "subtomogramAveraging", "tomography", "electronCrystallography")

_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # a plain file name: no folders, no '..' escapes
_PDB_ID = re.compile(r"^[0-9][a-z0-9]{3}$")


class HeaderFormatError(InputError):
    """An EMDB header that cannot be used: not well-formed XML, declarations refused, too large,
    not an EMDB v3 header, or a field whose value is malformed."""


@dataclass(frozen=True)
class EmdbHeader:
    """The fields of one EMDB header that a manifest uses (absent ones are None or empty).

    Attributes:
        entry_id: the root's ``emdb_id`` attribute, e.g. ``"EMD-3488"``.
        released: ``map_release`` date.
        methods: ``method`` of each structure determination, in document order.
        resolution: final reconstruction's resolution in Å (the first one given).
        pdb_ids: fitted PDB entries, lower case, in document order (ids that are not 4
            characters starting with a digit are left out).
        map_file: primary map's file name (in the entry's ``map/`` folder).
        pixel_spacing: voxel size ``(x, y, z)`` in Å.
        half_map_files: half maps' file names (in the entry's ``other/`` folder).
    """

    entry_id: str | None
    released: date | None
    methods: tuple[str, ...]
    resolution: float | None
    pdb_ids: tuple[str, ...]
    map_file: str | None
    pixel_spacing: tuple[float, float, float] | None
    half_map_files: tuple[str, ...]

    @property
    def method(self) -> str | None:
        """The first structure determination's method."""
        return self.methods[0] if self.methods else None


def _local(tag: str) -> str:
    """``{namespace}name`` or ``prefix:name`` -> ``name``."""
    return tag.rpartition("}")[2].rpartition(":")[2]


def parse_xml(data: bytes, *, source: object) -> ET.Element:
    """Parse an XML document from an untrusted source into an element tree (tags without namespaces).

    Raises:
        HeaderFormatError: more than :data:`MAX_HEADER_BYTES`, not well-formed, or declaring a
            DOCTYPE, an entity or a notation.
    """
    if len(data) > MAX_HEADER_BYTES:
        raise HeaderFormatError(source, f"larger than the limit of {MAX_HEADER_BYTES} bytes for a header")
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()

    def refuse(what: str):
        def handler(*_: object) -> None:
            raise HeaderFormatError(source, f"declares {what}; refused (headers need none, and entities can expand)")

        return handler

    parser.StartDoctypeDeclHandler = refuse("a DOCTYPE")
    parser.EntityDeclHandler = refuse("an entity")
    parser.UnparsedEntityDeclHandler = refuse("an entity")
    parser.NotationDeclHandler = refuse("a notation")
    parser.ExternalEntityRefHandler = refuse("an external entity")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = lambda tag, attrs: builder.start(_local(tag), {_local(k): v for k, v in attrs.items()})
    parser.EndElementHandler = lambda tag: builder.end(_local(tag))
    parser.CharacterDataHandler = builder.data
    parser.buffer_text = True
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        reason = expat.ErrorString(exc.code) if exc.code is not None else str(exc)
        raise HeaderFormatError(source, f"not well-formed XML: {reason} (line {exc.lineno})") from exc
    return builder.close()


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if child.tag == name]


def _path(element: ET.Element, path: str) -> list[ET.Element]:
    """Elements at ``a/b/c`` below ``element`` (every match at every step)."""
    found = [element]
    for name in path.split("/"):
        found = [child for parent in found for child in _children(parent, name)]
    return found


def _text(element: ET.Element | None) -> str | None:
    text = (element.text or "").strip() if element is not None else ""
    return text or None


def _texts(element: ET.Element, path: str) -> list[str]:
    return [t for t in (_text(e) for e in _path(element, path)) if t is not None]


def _number(text: str, what: str, source: object) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise HeaderFormatError(source, f"{what} {text[:40]!r} is not a positive number")
    return value


def _resolution(root: ET.Element, source: object) -> float | None:
    """The first final reconstruction's resolution, wherever it lies under a structure determination."""
    determinations = _path(root, "structure_determination_list/structure_determination")
    for kind in ("final_reconstruction/resolution", "crystallography_statistics/high_resolution"):
        parent_name, _, name = kind.partition("/")
        for determination in determinations:
            for parent in determination.iter(parent_name):
                text = _text(next(iter(_children(parent, name)), None))
                if text is not None:
                    return _number(text, "resolution", source)
    return None


def _file_name(text: str | None, what: str, source: object) -> str | None:
    if text is None:
        return None
    if not _FILE_NAME.match(text) or ".." in text:
        raise HeaderFormatError(source, f"{what} {text[:80]!r} is not a plain file name")
    return text


def parse_header(data: bytes, *, source: object) -> EmdbHeader:
    """Parse an EMDB v3 header's bytes (see the module's docstring for the fields).

    Raises:
        HeaderFormatError: unsafe or malformed XML, a root element other than ``emd``, or a
            malformed value (date, resolution, pixel spacing, file name).
    """
    root = parse_xml(data, source=source)
    if root.tag != "emd":
        raise HeaderFormatError(source, f"not an EMDB v3 header: the root element is <{root.tag}>, not <emd>")
    released = None
    if (text := next(iter(_texts(root, "admin/key_dates/map_release")), None)) is not None:
        try:
            released = date.fromisoformat(text[:10])
        except ValueError as exc:
            raise HeaderFormatError(source, f"map_release {text[:40]!r} is not a date (YYYY-MM-DD)") from exc
    spacing = None
    if found := _path(root, "map/pixel_spacing"):
        axes = [next(iter(_texts(found[0], axis)), None) for axis in "xyz"]
        if None in axes:
            raise HeaderFormatError(source, "map/pixel_spacing lacks x, y or z")
        spacing = tuple(_number(t, f"pixel spacing {axis}", source) for t, axis in zip(axes, "xyz", strict=True))
    pdb_ids = [t.lower() for t in _texts(root, "crossreferences/pdb_list/pdb_reference/pdb_id")]
    return EmdbHeader(
        entry_id=root.get("emdb_id"),
        released=released,
        methods=tuple(_texts(root, "structure_determination_list/structure_determination/method")),
        resolution=_resolution(root, source),
        pdb_ids=tuple(dict.fromkeys(i for i in pdb_ids if _PDB_ID.match(i))),
        map_file=_file_name(next(iter(_texts(root, "map/file")), None), "map file", source),
        pixel_spacing=spacing,  # type: ignore[arg-type]
        half_map_files=tuple(
            _file_name(t, "half map file", source)  # type: ignore[misc]
            for t in _texts(root, "interpretation/half_map_list/half_map/file")
        ),
    )
