"""What travels with an entry from its read task to the driver: typed, never JSON text."""

from __future__ import annotations

from dataclasses import dataclass

from cryoray.errors import InputError
from cryoray.io.density_map import GridFrame

__all__ = ["EntryFailure", "EntryMeta"]


@dataclass(frozen=True)
class EntryMeta:
    """What the read task learnt of an entry (every slab of the entry carries it).

    Args:
        map: the map's source.
        sequence: the FASTA source, when a model is built for the entry.
        source_frame: the input's grid (outputs are put back on it).
        frame: the prepared grid the boxes were cut from.
        normalization: how the prepared map was normalised (its ``to_dict``), if it was.
        n_boxes: boxes of the entry.
        n_slabs: slabs the entry was predicted in (1 unless its map is large).
        read_seconds: reading and preparing time.
    """

    map: str
    sequence: str | None
    source_frame: GridFrame
    frame: GridFrame
    normalization: dict[str, object] | None
    n_boxes: int
    n_slabs: int
    read_seconds: float

    def to_dict(self) -> dict[str, object]:
        """The entry's part of its ``summary.json``."""
        return {
            "map": self.map,
            "sequence": self.sequence,
            "source_frame": self.source_frame.to_dict(),
            "prepared_frame": self.frame.to_dict(),
            "normalization": self.normalization,
            "n_boxes": self.n_boxes,
            "n_slabs": self.n_slabs,
            "seconds_read": self.read_seconds,
        }


@dataclass(frozen=True)
class EntryFailure:
    """Why an entry failed, and whether its input is to blame.

    Args:
        entry_id: the entry.
        error: the error's type (``MapFormatError``, ...; ``InternalError`` for a bug).
        reason: one line.
        input_fault: the entry's own input (map, sequence) is unusable; False for anything else
            (an output that cannot be written, a task that crashed, a bug), which a run reports
            as its own failure.
    """

    entry_id: str
    error: str
    reason: str
    input_fault: bool

    @classmethod
    def of(cls, entry_id: str, exc: BaseException, *, input_stage: bool) -> EntryFailure:
        """From an exception: bad input (:class:`InputError`) raised while ``input_stage`` is the input's fault."""
        if isinstance(exc, InputError):
            return cls(entry_id, type(exc).__name__, exc.reason, input_stage)
        reason = " ".join(str(exc).split())[:300] or "(no message)"
        return cls(entry_id, "InternalError", f"{type(exc).__name__}: {reason}", False)

    def to_dict(self) -> dict[str, object]:
        return {"entry_id": self.entry_id, "error": self.error, "reason": self.reason, "input_fault": self.input_fault}
