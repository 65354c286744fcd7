"""States files: the three arrays, checked, with clear errors for bad ones."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from cryoray.errors import InputError, SourceError
from cryoray.modelbuild import HmmStates, StatesFormatError, read_states, write_states


def _arrays(n: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "xyz": rng.normal(size=(n, 3)),
        "aa_probs": rng.dirichlet(np.ones(20), n),
        "ca_prob": rng.uniform(0.4, 1, n),
    }


def test_round_trip(tmp_path) -> None:
    states = HmmStates.validated(**_arrays())
    write_states(tmp_path / "s.npz", states)
    back = read_states(tmp_path / "s.npz")
    for name in ("xyz", "aa_probs", "ca_prob"):
        np.testing.assert_array_equal(getattr(back, name), getattr(states, name))
    assert back.unnormalised_rows == 0


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a["xyz"].__setitem__((2, 1), np.nan), "xyz: 1 NaN/Inf values \\(first in state 2\\)"),
        (lambda a: a["aa_probs"].__setitem__((0, 3), -0.1), "aa_probs: probabilities must lie in \\[0, 1\\]"),
        (lambda a: a["ca_prob"].__setitem__(4, 1.5), "ca_prob: probabilities must lie"),
        (lambda a: a.__setitem__("aa_probs", a["aa_probs"][:, :19]), "aa_probs: expected shape \\(K, 20\\)"),
        (lambda a: a.__setitem__("ca_prob", a["ca_prob"][:3]), "disagree on the number of states"),
        (lambda a: a.update(xyz=np.zeros((0, 3)), aa_probs=np.zeros((0, 20)), ca_prob=np.zeros(0)), "no states"),
    ],
    ids=["nan", "negative-prob", "prob-above-1", "19-amino-acids", "length-mismatch", "empty"],
)
def test_bad_arrays_are_refused(tmp_path, change, message) -> None:
    arrays = _arrays()
    change(arrays)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(StatesFormatError, match=message) as info:
        read_states(tmp_path / "bad.npz")
    assert isinstance(info.value, InputError) and str(tmp_path / "bad.npz") in str(info.value)


def test_unnormalised_rows_are_accepted_and_counted() -> None:
    arrays = _arrays()
    arrays["aa_probs"][1] *= 0.5
    arrays["aa_probs"][2] = 0.0
    assert HmmStates.validated(**arrays).unnormalised_rows == 2


def test_missing_arrays_and_other_files(tmp_path) -> None:
    arrays = _arrays()
    del arrays["ca_prob"]
    np.savez(tmp_path / "two.npz", **arrays)
    with pytest.raises(StatesFormatError, match="missing arrays \\['ca_prob'\\]"):
        read_states(tmp_path / "two.npz")
    np.save(tmp_path / "one.npy", np.zeros(3))
    with pytest.raises(StatesFormatError, match=r"single \.npy array"):
        read_states(tmp_path / "one.npy")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(StatesFormatError, match=r"not a readable \.npz"):
        read_states(tmp_path / "text.npz")
    with pytest.raises(SourceError):
        read_states(tmp_path / "absent.npz")


def header_bomb_npz(path, shape: tuple[int, ...] = (10**12, 3)) -> None:
    """An .npz whose xyz.npy header declares ``shape`` float64 but holds 24 bytes (756 bytes in all)."""
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False, "shape": shape})
    member.write(np.zeros(3).tobytes())
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("xyz.npy", member.getvalue())
        for name, value in (("aa_probs", np.full((1, 20), 0.05)), ("ca_prob", np.ones(1))):
            body = io.BytesIO()
            np.save(body, value)
            archive.writestr(f"{name}.npy", body.getvalue())


def test_header_declaring_a_huge_array_is_refused_before_loading(tmp_path) -> None:
    path = tmp_path / "bomb.npz"
    header_bomb_npz(path)
    assert path.stat().st_size < 1000
    with pytest.raises(StatesFormatError, match=r"xyz: header declares shape \(1000000000000, 3\)") as info:
        read_states(path)
    assert "24 bytes are stored" in str(info.value)


def test_single_npy_with_a_huge_header_is_refused_without_loading(tmp_path) -> None:
    path = tmp_path / "one.npz"
    with path.open("wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    with pytest.raises(StatesFormatError, match=r"single \.npy array"):
        read_states(path)
