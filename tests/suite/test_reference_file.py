"""Reference files carry probabilities between machines and refuse to be used on other data."""

import numpy as np
import pytest

from widedeep_bench.errors import WidedeepError
from widedeep_bench.suite.reference import load_reference, save_reference


def probabilities(rows, seed):
    p1 = np.random.default_rng(seed).random(rows).astype(np.float32)
    return np.stack([1 - p1, p1], axis=1)


def test_saved_references_load_back_exactly(tmp_path):
    path = tmp_path / "reference.npz"
    tf, ort = probabilities(64, 1), probabilities(64, 2)
    save_reference(path, {"tensorflow": tf, "onnxruntime-fp32": ort}, eval_sha256="ab" * 32)
    loaded = load_reference(path, eval_sha256="ab" * 32, rows=64)
    assert set(loaded) == {"tensorflow", "onnxruntime-fp32"}
    np.testing.assert_array_equal(loaded["tensorflow"], tf)
    np.testing.assert_array_equal(loaded["onnxruntime-fp32"], ort)


def test_a_reference_from_another_eval_file_is_refused_with_both_digests(tmp_path):
    path = tmp_path / "reference.npz"
    save_reference(path, {"tensorflow": probabilities(64, 1)}, eval_sha256="ab" * 32)
    with pytest.raises(WidedeepError, match=f"{'ab' * 32}.*{'cd' * 32}"):
        load_reference(path, eval_sha256="cd" * 32, rows=64)


def test_a_reference_with_fewer_rows_than_the_run_scores_is_refused(tmp_path):
    path = tmp_path / "reference.npz"
    save_reference(path, {"tensorflow": probabilities(64, 1)}, eval_sha256="ab" * 32)
    with pytest.raises(WidedeepError, match=r"'tensorflow' has shape \[64, 2\], expected \[N, 2\] with N >= 1024"):
        load_reference(path, eval_sha256="ab" * 32, rows=1024)


def test_a_reference_saved_on_more_rows_of_the_same_eval_set_serves_its_first_rows(tmp_path):
    """A bundle's references cover every whole batch; a run that holds the last rows out for INT8 calibration
    scores the rows before them, the same rows in the same order."""
    path = tmp_path / "reference.npz"
    saved = probabilities(4096, 3)
    save_reference(path, {"tensorflow": saved}, eval_sha256="ab" * 32)
    loaded = load_reference(path, eval_sha256="ab" * 32, rows=1024)["tensorflow"]
    np.testing.assert_array_equal(loaded, saved[:1024])


def test_a_file_that_is_not_a_reference_is_refused(tmp_path):
    path = tmp_path / "reference.npz"
    path.write_bytes(b"not an npz")
    with pytest.raises(WidedeepError, match="not a reference file"):
        load_reference(path, eval_sha256="ab" * 32, rows=64)


def rewrite(path, **changes):
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    arrays.update(changes)
    arrays = {name: value for name, value in arrays.items() if value is not None}
    with path.open("wb") as handle:
        np.savez(handle, **arrays)


def test_a_reference_with_its_columns_swapped_is_refused(tmp_path):
    """Same shape, same size, other bytes: the failure that once passed a drop gate with a wrong TF Top-1."""
    path = tmp_path / "reference.npz"
    tf = probabilities(64, 1)
    save_reference(path, {"tensorflow": tf}, eval_sha256="ab" * 32)
    rewrite(path, tensorflow=tf[:, ::-1].copy())
    with pytest.raises(WidedeepError, match="'tensorflow' is not the array that was saved"):
        load_reference(path, eval_sha256="ab" * 32, rows=64)


def test_a_reference_without_digests_or_with_an_added_array_is_refused(tmp_path):
    path = tmp_path / "reference.npz"
    save_reference(path, {"tensorflow": probabilities(64, 1)}, eval_sha256="ab" * 32)
    rewrite(path, extra=probabilities(64, 3))
    with pytest.raises(WidedeepError, match=r"holds arrays \['extra', 'tensorflow'\] but recorded \['tensorflow'\]"):
        load_reference(path, eval_sha256="ab" * 32, rows=64)
    rewrite(path, digests=None, extra=None)
    with pytest.raises(WidedeepError, match="records no digests"):
        load_reference(path, eval_sha256="ab" * 32, rows=64)
