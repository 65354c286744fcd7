"""Train/val/test splits: resolution-stratified, with sequence-identity clusters kept whole.

Sequences of all entries are clustered with MMseqs2 (Debian's ``mmseqs2``) at the configured
identity and coverage, as the published datasets were. Entries that share a cluster form one
group (union-find), so no cluster spans two splits. Each group falls in the resolution stratum
of most of its entries; within a stratum, groups are shuffled (seeded) and each goes to the
split furthest below its target share. Deterministic for a given store and config.
MMseqs2 runs under ``splits.mmseqs_timeout`` seconds; a run that takes longer is stopped and
reported as a ConfigError naming that setting.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from cryoray.errors import ConfigError
from cryoray.pipelines.ingest_config import SplitConfig

__all__ = ["assign_splits", "sequence_groups"]

SPLITS = ("train", "val", "test")


def _run(cmd: list[str], timeout: float, what: str) -> subprocess.CompletedProcess[str]:
    """Run MMseqs2, stopping it after ``timeout`` seconds (ConfigError naming the setting)."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ConfigError(
            "splits.mmseqs_timeout", f"mmseqs {what} did not finish within {timeout:g} s (raise the timeout)"
        ) from None


def _mmseqs_version(exe: str, timeout: float) -> str:
    out = _run([exe, "version"], timeout, "version")
    return out.stdout.strip() or "unknown"


def sequence_groups(sequences: dict[str, list[str]], config: SplitConfig) -> tuple[list[list[str]], str]:
    """Groups of entry ids linked by shared MMseqs2 clusters, and the tool version used."""
    parent = {entry: entry for entry in sequences}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    with_seq = {e: s for e, s in sequences.items() if s}
    version = "none"
    if len(with_seq) > 1:
        exe = shutil.which("mmseqs")
        if exe is None:
            raise RuntimeError("mmseqs not found: install Debian's `mmseqs2` package (run.sh does)")
        version = f"mmseqs2 {_mmseqs_version(exe, config.mmseqs_timeout)}"
        with tempfile.TemporaryDirectory() as tmp:
            fasta = Path(tmp) / "all.fasta"
            fasta.write_text(
                "".join(f">{e}|{i}\n{s}\n" for e, seqs in sorted(with_seq.items()) for i, s in enumerate(seqs))
            )
            cmd = [
                exe,
                "easy-cluster",
                str(fasta),
                str(Path(tmp) / "out"),
                str(Path(tmp) / "work"),
                "--min-seq-id",
                str(config.identity),
                "-c",
                str(config.coverage),
                "--threads",
                "1",
                "-v",
                "1",
            ]
            result = _run(cmd, config.mmseqs_timeout, f"easy-cluster of {len(with_seq)} entries")
            if result.returncode != 0:
                raise RuntimeError(f"mmseqs easy-cluster failed: {result.stderr.strip()[-300:]}")
            for line in (Path(tmp) / "out_cluster.tsv").read_text().splitlines():
                rep, member = (name.rsplit("|", 1)[0] for name in line.split("\t"))
                parent[find(member)] = find(rep)
    groups: dict[str, list[str]] = {}
    for entry in sorted(sequences):
        groups.setdefault(find(entry), []).append(entry)
    return sorted(groups.values()), version


def assign_splits(
    resolutions: dict[str, float], sequences: dict[str, list[str]], config: SplitConfig
) -> tuple[dict[str, object], dict[str, str]]:
    """Split entries; returns (method record, entry -> "train" | "val" | "test")."""
    groups, tool = sequence_groups(sequences, config)
    strata: dict[int, list[list[str]]] = {}
    for group in groups:
        stratum = Counter(int(np.digitize(resolutions[e], config.resolution_edges)) for e in group).most_common(1)[0][0]
        strata.setdefault(stratum, []).append(group)
    assignment: dict[str, str] = {}
    for stratum, members in sorted(strata.items()):
        order = np.random.default_rng(config.seed + stratum).permutation(len(members))
        total = sum(len(g) for g in members)
        counts = dict.fromkeys(SPLITS, 0)
        for i in order:
            group = members[i]
            deficit = {s: f * total - counts[s] for s, f in zip(SPLITS, config.fractions, strict=True)}
            split = max(SPLITS, key=lambda s: (deficit[s], -SPLITS.index(s)))
            counts[split] += len(group)
            assignment.update(dict.fromkeys(group, split))
    method = {
        "resolution_edges": list(config.resolution_edges),
        "fractions": list(config.fractions),
        "identity": config.identity,
        "coverage": config.coverage,
        "seed": config.seed,
        "clustering": tool,
        "n_groups": len(groups),
    }
    return method, assignment
