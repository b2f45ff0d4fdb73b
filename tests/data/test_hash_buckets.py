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
