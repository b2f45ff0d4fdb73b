"""The embedded synthetic default: a trained TF original laid out like the real one, built once.

The tests marked slow share the cache with the rest of the suite: the weights are trained once per
machine (about a minute) for every row count, and the default of ``SMALL_ROWS`` is built once.
"""

import hashlib
import json
import shutil

import pytest

from widedeep_bench import layout
from widedeep_bench.cache_entry import CacheWarning
from widedeep_bench.digests import tree_sha256
from widedeep_bench.errors import WidedeepError
from widedeep_bench.synthetic import default
from widedeep_bench.synthetic.default import ensure_default

SMALL_ROWS = 32 * 1024


@pytest.fixture(scope="module")
def small_default():
    return ensure_default(SMALL_ROWS)


@pytest.fixture
def no_building(monkeypatch):
    """Fail the test if the default or its weights would be built rather than reused."""
    def refuse(*args):
        raise AssertionError(f"built again: {args}")

    monkeypatch.setattr(default, "_build_default", refuse)
    monkeypatch.setattr(default, "_build_trained", refuse)


@pytest.mark.slow
def test_signature_has_exactly_the_real_keys(small_default):
    import tensorflow as tf

    serve = tf.saved_model.load(str(small_default.saved_model), tags=[layout.TAG]).signatures[layout.SIGNATURE]
    assert set(serve.structured_input_signature[1]) == {layout.CATEGORICAL_KEY, layout.NUMERIC_KEY}
    assert set(serve.structured_outputs) == {layout.OUTPUT_KEY}


@pytest.mark.slow
def test_graph_has_the_zeros_like_node_the_vendor_cuts(small_default):
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel.FromString((small_default.saved_model / "saved_model.pb").read_bytes())
    nodes = {node.name for node in proto.meta_graphs[0].graph_def.node}
    assert "import/head/predictions/zeros_like" in nodes


@pytest.mark.slow
def test_tf_original_is_criteo_like_and_beats_the_all_negative_baseline(small_default):
    metrics = small_default.metrics
    assert metrics["rows"] == SMALL_ROWS
    assert 0.76 <= metrics["top1"] <= 0.85
    assert metrics["top1"] >= metrics["all_negative_top1"] + 0.02
    assert metrics["all_negative_top1"] == pytest.approx(1 - metrics["positive_rate"])
    assert 0.22 <= metrics["positive_rate"] <= 0.30
    assert metrics["auc"] >= 0.75


@pytest.mark.slow
def test_metrics_are_the_saved_models_on_the_eval_csv(small_default):
    from widedeep_bench.data.criteo_csv import read_eval_csv
    from widedeep_bench.metrics import accuracy
    from widedeep_bench.tf_reference import tf_probabilities

    rows = read_eval_csv(small_default.eval_csv)
    assert rows.rows == SMALL_ROWS
    fresh = accuracy(tf_probabilities(small_default.saved_model, rows.categorical, rows.numeric), rows.labels)
    assert {key: small_default.metrics[key] for key in fresh.as_dict()} == pytest.approx(fresh.as_dict())


@pytest.mark.slow
def test_provenance_records_seeds_rows_versions_training_and_the_csv_digest(small_default):
    provenance = json.loads((small_default.directory / "provenance.json").read_text())
    assert provenance["eval_csv_sha256"] == hashlib.sha256(small_default.eval_csv.read_bytes()).hexdigest()
    assert (provenance["world_seed"], provenance["eval_row_seed"], provenance["rows"]) == (0, 1, SMALL_ROWS)
    assert provenance["metrics"] == small_default.metrics
    training = provenance["training"]
    assert training["row_seed"] != provenance["eval_row_seed"]
    assert training["rows"] == default.TRAINING_ROWS
    losses = training["loss_by_tenth_of_steps"]
    assert losses[-1] < losses[0] - 0.03  # trained, not copied from the planted model
    assert {"tensorflow", "numpy", "pyarrow"} <= set(provenance["versions"])


@pytest.mark.slow
def test_second_call_reuses_the_cache(small_default, no_building):
    again = ensure_default(SMALL_ROWS)
    assert again == small_default


@pytest.mark.slow
def test_another_row_count_reuses_the_trained_weights(small_default, monkeypatch):
    monkeypatch.setattr(default, "_build_trained", lambda *args: pytest.fail("trained again"))
    other = ensure_default(2048)
    assert other.directory != small_default.directory
    assert tree_sha256(other.saved_model) == tree_sha256(small_default.saved_model)
    assert other.metrics["rows"] == 2048


def flip_first_label(entry):  # same size, other bytes: a size check cannot see it
    with (entry / "eval.csv").open("r+b") as handle:
        label = handle.read(1)
        handle.seek(0)
        handle.write(b"1" if label == b"0" else b"0")


def remove_the_graph(entry):
    (entry / "saved_model" / "saved_model.pb").unlink()


@pytest.mark.slow
@pytest.mark.parametrize("corrupt, differed", [(flip_first_label, "eval.csv has XXH3-128"),
                                               (remove_the_graph, "saved_model/saved_model.pb is missing")])
def test_a_changed_entry_is_detected_and_rebuilt(small_default, tmp_path, monkeypatch, corrupt, differed):
    trained = default.trained_weights_directory(0)  # the shared cache's: its copy spares the training
    monkeypatch.setenv("WIDEDEEP_CACHE", str(tmp_path))
    shutil.copytree(trained, tmp_path / "default" / "trained" / trained.name)
    copy = shutil.copytree(small_default.directory, tmp_path / "default" / small_default.directory.name)
    corrupt(copy)
    builds = []
    build_default = default._build_default
    monkeypatch.setattr(default, "_build_default", lambda *args: builds.append(args) or build_default(*args))
    monkeypatch.setattr(default, "_build_trained", lambda *args: pytest.fail("trained again"))
    with pytest.warns(CacheWarning, match=f"^cache entry {copy}: {differed}.*; rebuilding it$"):
        rebuilt = ensure_default(SMALL_ROWS)
    assert len(builds) == 1 and rebuilt.directory == copy
    assert rebuilt.eval_csv.read_bytes() == small_default.eval_csv.read_bytes()
    assert rebuilt.metrics == pytest.approx(small_default.metrics)


@pytest.mark.parametrize("rows", [1023, 0, -1, 2.5, True, "4096"])
def test_row_counts_below_one_accuracy_batch_or_not_integers_are_refused(rows, no_building):
    with pytest.raises(WidedeepError, match="synthetic default rows: expected an integer >= 1024"):
        ensure_default(rows)


@pytest.mark.parametrize("seed", [-1, 0.5, None])
def test_seeds_must_be_non_negative_integers(seed, no_building):
    with pytest.raises(WidedeepError, match="synthetic default seed: expected an integer >= 0"):
        ensure_default(seed=seed)


def test_default_rows_are_whole_accuracy_batches():
    assert default.DEFAULT_ROWS % 1024 == 0
