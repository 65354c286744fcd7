"""Written models: chains, numbering, confidence columns, formats."""

from __future__ import annotations

import dataclasses

import gemmi
import numpy as np
import pytest

from cryoray.errors import SourceError
from cryoray.io.models import read_model
from cryoray.modelbuild import ModelOutputError, write_model
from cryoray.modelbuild.output import residue_confidence


@pytest.mark.parametrize("name", ["model.cif", "model.pdb", "model.cif.gz"])
def test_model_reads_back_with_numbering_and_confidence(tmp_path, haemoglobin_result, name) -> None:
    result = haemoglobin_result
    write_model(tmp_path / name, result)
    model = read_model(tmp_path / name)
    assert model.chain_names == [c.chain_id for c in result.chains]
    for index, chain in enumerate(result.chains):
        gchain = model.structure[0][chain.chain_id]
        numbers = [r.seqid.num for r in gchain]
        assert numbers == list(range(1, len(chain.sequence) + 1))
        assert "".join(gemmi.find_tabulated_residue(r.name).one_letter_code.upper() for r in gchain) == chain.sequence
        ca_prob, aa_conf = residue_confidence(result, index)
        atoms = [r[0] for r in gchain]
        np.testing.assert_allclose([a.b_iso for a in atoms], 100 * ca_prob, atol=0.01)
        np.testing.assert_allclose([a.occ for a in atoms], aa_conf, atol=0.01)
        np.testing.assert_allclose([a.pos.tolist() for a in atoms], result.states.xyz[chain.states], atol=1e-3)


def test_unplaced_residues_leave_gaps_and_the_full_sequence_stays(tmp_path, haemoglobin_result) -> None:
    chain = haemoglobin_result.chains[0]
    states = chain.states.copy()
    states[[0, 10, 11]] = -1
    result = dataclasses.replace(haemoglobin_result, chains=[dataclasses.replace(chain, states=states)])
    write_model(tmp_path / "gaps.cif", result)
    structure = gemmi.read_structure(str(tmp_path / "gaps.cif"))
    numbers = [r.seqid.num for r in structure[0][chain.chain_id]]
    assert 1 not in numbers and 11 not in numbers and 12 not in numbers and len(numbers) == len(chain.sequence) - 3
    assert len(structure.entities[0].full_sequence) == len(chain.sequence)


def test_output_errors(tmp_path, haemoglobin_result) -> None:
    write_model(tmp_path / "m.cif", haemoglobin_result)
    with pytest.raises(SourceError, match="already exists"):
        write_model(tmp_path / "m.cif", haemoglobin_result)
    write_model(tmp_path / "m.cif", haemoglobin_result, overwrite=True)
    with pytest.raises(ModelOutputError, match="unknown model format"):
        write_model(tmp_path / "m.txt", haemoglobin_result)
    long_ids = dataclasses.replace(
        haemoglobin_result,
        chains=[dataclasses.replace(c, chain_id=f"LONG{n}") for n, c in enumerate(haemoglobin_result.chains)],
    )
    with pytest.raises(ModelOutputError, match="do not fit PDB"):
        write_model(tmp_path / "m.pdb", long_ids)
    write_model(tmp_path / "long.cif", long_ids)
    assert read_model(tmp_path / "long.cif").chain_names == ["LONG0", "LONG1", "LONG2", "LONG3"]
