"""Ingest manifests from EMDB's metadata (``cryoray manifest emdb``).

Modules: :mod:`~cryoray.pipelines.emdb_manifest.header` (EMDB v3 XML headers, parsed safely),
:mod:`~cryoray.pipelines.emdb_manifest.mirror` (the EMDB and PDB mirror layouts, listing,
retried reads), :mod:`~cryoray.pipelines.emdb_manifest.entries` (filters, one entry -> one
row or a reason) and :mod:`~cryoray.pipelines.emdb_manifest.run` (the Ray driver; imports Ray,
so it is not imported here).
"""

from __future__ import annotations

from cryoray.pipelines.emdb_manifest.header import METHODS, EmdbHeader, HeaderFormatError, parse_header

__all__ = ["METHODS", "EmdbHeader", "HeaderFormatError", "parse_header"]
