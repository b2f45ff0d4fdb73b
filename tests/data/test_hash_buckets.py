"""``bucketize`` is ``tf.strings.to_hash_bucket_fast`` without TensorFlow, hashing each distinct value once."""

from __future__ import annotations

import random

import farmhash
import numpy as np
import pytest

from widedeep_bench.data import hashing
from widedeep_bench.data.hashing import bucketize
from widedeep_bench.errors import WidedeepError


def sample_values(count: int, seed: int = 0) -> list[str]:
    """Criteo-like and awkward texts: 8-hex, digits-only with leading zeros, the empty string, UTF-8."""
    rng = random.Random(seed)
    values = ["", "0", "00012345", "12345", "café", "日本語", " ", ",", '"', "a" * 300, "\\", "NA", "null"]
    while len(values) < count:
        kind = rng.randrange(4)
        if kind == 0:
            values.append(f"{rng.getrandbits(32):08x}")
        elif kind == 1:
            values.append(f"{rng.randrange(10 ** 8):08d}")
        elif kind == 2:
            values.append("".join(chr(rng.randrange(0x20, 0x2FF)) for _ in range(rng.randrange(1, 12))))
        else:
            values.append(f"{rng.randrange(30):08x}")  # repeats
    return values


def test_buckets_equal_tensorflow_to_hash_bucket_fast():
    tf = pytest.importorskip("tensorflow", reason="tensorflow not importable: cannot compare with TF's own hash")
    values = sample_values(3000)
    expected = tf.strings.to_hash_bucket_fast(tf.constant(values), 1000).numpy()
    got = bucketize(values)
    assert got.dtype == np.int64 and got.shape == (3000,)
    np.testing.assert_array_equal(got, expected)
    assert got[0] == tf.strings.to_hash_bucket_fast([""], 1000).numpy()[0]  # the empty string is a value


def test_buckets_are_fingerprint64_modulo_the_bucket_count():
    values = sample_values(500, seed=1)
    for buckets in (1000, 7):
        expected = [farmhash.fingerprint64(value) % buckets for value in values]
        np.testing.assert_array_equal(bucketize(values, buckets), expected)


def test_each_distinct_value_is_hashed_once(monkeypatch):
    calls = []
    fingerprint64 = farmhash.fingerprint64

    def counting_fingerprint64(text):
        calls.append(text)
        return fingerprint64(text)

    monkeypatch.setattr(farmhash, "fingerprint64", counting_fingerprint64)
    values = ["a", "b", "", "a", "a", "", "c"] * 100
    buckets = bucketize(values)
    assert sorted(calls) == ["", "a", "b", "c"]
    assert buckets[0] == buckets[3] and buckets[2] == buckets[5] and buckets.shape == (700,)


def test_accepts_a_pyarrow_string_array():
    import pyarrow as pa

    values = sample_values(100, seed=2)
    np.testing.assert_array_equal(bucketize(pa.array(values)), bucketize(values))


def test_empty_input_gives_an_empty_array():
    assert bucketize([]).shape == (0,) and bucketize([]).dtype == np.int64


@pytest.mark.parametrize("values, message", [
    (["a", None, "b"], "value 1 is missing"),
    ([b"\xff"], "expected a sequence of strings"),
    ([1, 2], "expected a sequence of strings"),
])
def test_non_text_values_are_rejected(values, message):
    with pytest.raises(WidedeepError, match=message):
        bucketize(values)


def test_non_positive_bucket_count_is_rejected():
    with pytest.raises(WidedeepError, match="positive bucket count, got 0"):
        hashing.fingerprint_buckets(["a"], 0)


def dictionary_chunks(values: list[str], sizes: list[int]):
    """``values`` as a ChunkedArray of ``dictionary<int32, string>`` chunks of ``sizes`` rows, each with
    its own dictionary, as pyarrow's CSV reader gives them."""
    import pyarrow as pa

    chunks, start = [], 0
    for size in sizes:
        chunks.append(pa.array(values[start:start + size], pa.string()).dictionary_encode())
        start += size
    assert start == len(values)
    return pa.chunked_array(chunks, pa.dictionary(pa.int32(), pa.string()))


def test_dictionary_encoded_chunks_equal_tensorflow_to_hash_bucket_fast():
    tf = pytest.importorskip("tensorflow", reason="tensorflow not importable: cannot compare with TF's own hash")
    values = sample_values(3000, seed=3)
    expected = tf.strings.to_hash_bucket_fast(tf.constant(values), 1000).numpy()
    chunked = dictionary_chunks(values, [1000, 1, 0, 1999])
    np.testing.assert_array_equal(bucketize(chunked), expected)
    np.testing.assert_array_equal(bucketize(chunked, dtype=np.int16), expected)
    assert bucketize(chunked, dtype=np.int16).dtype == np.int16


def test_a_value_in_several_chunks_is_hashed_once(monkeypatch):
    calls = []
    fingerprint64 = farmhash.fingerprint64
    monkeypatch.setattr(farmhash, "fingerprint64", lambda text: calls.append(text) or fingerprint64(text))
    values = ["a", "b", "", "a", "c", "b", "a", ""] * 50
    buckets = bucketize(dictionary_chunks(values, [3, 5, 392]))
    assert sorted(calls) == ["", "a", "b", "c"]
    np.testing.assert_array_equal(buckets, [fingerprint64(value) % 1000 for value in values])


def test_before_hashing_sees_the_distinct_values_and_can_refuse_them(monkeypatch):
    calls, seen = [], []
    fingerprint64 = farmhash.fingerprint64
    monkeypatch.setattr(farmhash, "fingerprint64", lambda text: calls.append(text) or fingerprint64(text))
    values = dictionary_chunks(["x", "y", "x", "z", "y"], [2, 3])

    bucketize(values, before_hashing=lambda distinct: seen.append(sorted(distinct.to_pylist())))
    assert seen == [["x", "y", "z"]]

    calls.clear()

    def refuse(distinct):
        raise WidedeepError("refused")

    with pytest.raises(WidedeepError, match="refused"):
        bucketize(values, before_hashing=refuse)
    assert calls == []  # refused before anything was hashed


def test_missing_value_in_a_later_chunk_is_named_by_its_row():
    import pyarrow as pa

    values = pa.chunked_array([pa.array(["a", "b"]), pa.array(["c", None])])
    with pytest.raises(WidedeepError, match="value 3 is missing"):
        bucketize(values)
    null_entry = pa.DictionaryArray.from_arrays(pa.array([0, 1], pa.int32()), pa.array(["a", None]))
    with pytest.raises(WidedeepError, match="value 1 is missing"):
        bucketize(null_entry)


def test_a_bucket_count_the_output_type_cannot_hold_is_rejected():
    with pytest.raises(WidedeepError, match="40000 buckets do not fit int16"):
        bucketize(["a"], 40000, dtype=np.int16)


def test_the_csv_reader_hashes_through_bucketize(write_csv, random_lines, monkeypatch):
    """The eval.csv pipeline runs this module's ``bucketize`` (the function tested above), not a copy."""
    from widedeep_bench.data import criteo_csv

    calls = []

    def spying_bucketize(*args, **kwargs):
        calls.append(args[0])
        return bucketize(*args, **kwargs)

    monkeypatch.setattr(criteo_csv, "PARSE_BLOCK_BYTES", 32 << 10)  # several chunks per column
    monkeypatch.setattr(criteo_csv, "bucketize", spying_bucketize)
    lines = random_lines(1500, seed=11)
    tensors = criteo_csv.read_eval_csv(write_csv("eval.csv", lines))

    assert len(calls) == 1 and len(calls[0]) == 26 * 1500 and calls[0].num_chunks > 26
    from widedeep_bench import layout

    fields = [dict(zip(layout.CSV_COLUMNS, line.split(","))) for line in lines]
    expected = [[farmhash.fingerprint64(row[name]) % 1000 for name in layout.FIELD_ORDER] for row in fields]
    np.testing.assert_array_equal(tensors.categorical[:, 1].reshape(1500, 26), expected)
