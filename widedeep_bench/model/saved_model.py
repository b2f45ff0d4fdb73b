"""Write Wide & Deep weights as a SavedModel laid out exactly like ``open_wide_deep_saved_model``.

The real model is a frozen TF1 graph imported under ``import/``: the two placeholders
``new_categorical_placeholder`` and ``new_numeric_placeholder`` sit outside it and are wired in with
``input_map``; the tables are constants read by ``GatherNd``; the head is the canned binary head
(``concat(zeros_like(logit), logit)`` then ``Softmax``). Signature ``serving_default``, tag ``serve``.
"""

from __future__ import annotations

from pathlib import Path

from widedeep_bench import layout
from widedeep_bench.cache import atomic_directory
from widedeep_bench.model.weights import WideDeepWeights

_INNER_CATEGORICAL = "categorical_input"
_INNER_NUMERIC = "numeric_input"


def _frozen_graph_def(weights: WideDeepWeights):
    """The inner inference graph (the part that lands under ``import/``), all weights constant."""
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        categorical = v1.placeholder(tf.int64, [None, 2], name=_INNER_CATEGORICAL)
        numeric = v1.placeholder(tf.float32, [None, layout.NUM_NUMERIC], name=_INNER_NUMERIC)
        with tf.name_scope("linear/linear_model"):
            wide_table = tf.constant(weights.wide, name="weights")
            wide_rows = tf.gather_nd(wide_table, categorical, name="GatherNd")
            wide_fields = tf.reshape(wide_rows, [-1, layout.NUM_FIELDS], name="Reshape")
            wide_sum = tf.reduce_sum(wide_fields, axis=1, keepdims=True, name="weighted_sum")
            wide_logit = tf.add(wide_sum, tf.constant(weights.wide_bias, name="bias_weights"),
                                name="weighted_sum_bias")
        with tf.name_scope("dnn/input_from_feature_columns/input_layer"):
            table = tf.constant(weights.embeddings, name="embedding_weights")
            rows = tf.gather_nd(table, categorical, name="GatherNd")
            flat = tf.reshape(rows, [-1, layout.NUM_FIELDS * layout.EMBEDDING_DIM], name="Reshape")
            net = tf.concat([flat, numeric], axis=1, name="concat")
        for i, (kernel, bias) in enumerate(zip(weights.kernels, weights.biases)):
            last = i == len(weights.kernels) - 1
            with tf.name_scope("dnn/logits" if last else f"dnn/hiddenlayer_{i}"):
                net = tf.matmul(net, tf.constant(kernel, name="kernel"), name="MatMul")
                net = tf.nn.bias_add(net, tf.constant(bias, name="bias"), name="BiasAdd")
                if not last:
                    net = tf.nn.relu(net, name="Relu")
        logit = tf.add(net, wide_logit, name="add")
        with tf.name_scope("head/predictions"):
            zeros = tf.zeros_like(logit, name="zeros_like")
            two_class = tf.concat([zeros, logit], axis=1, name="two_class_logits")
            tf.nn.softmax(two_class, name="probabilities")
    return graph.as_graph_def()


def write_saved_model(weights: WideDeepWeights, out_dir: Path) -> Path:
    """Write the SavedModel directory ``out_dir`` atomically and return it."""
    import tensorflow as tf

    v1 = tf.compat.v1
    inner = _frozen_graph_def(weights)
    out_dir = Path(out_dir)
    with atomic_directory(out_dir) as tmp:
        export_dir = tmp / "saved_model"
        graph = tf.Graph()
        with graph.as_default(), v1.Session(graph=graph) as session:
            categorical = v1.placeholder(tf.int64, [None, 2], name="new_categorical_placeholder")
            numeric = v1.placeholder(tf.float32, [None, layout.NUM_NUMERIC], name="new_numeric_placeholder")
            v1.import_graph_def(inner, name="import", input_map={
                f"{_INNER_CATEGORICAL}:0": categorical, f"{_INNER_NUMERIC}:0": numeric})
            probabilities = graph.get_tensor_by_name(layout.OUTPUT_KEY)
            signature = v1.saved_model.signature_def_utils.predict_signature_def(
                inputs={layout.CATEGORICAL_KEY: categorical, layout.NUMERIC_KEY: numeric},
                outputs={layout.OUTPUT_KEY: probabilities})
            builder = v1.saved_model.Builder(str(export_dir))
            builder.add_meta_graph_and_variables(session, [layout.TAG],
                                                 signature_def_map={layout.SIGNATURE: signature})
            builder.save()
        for item in export_dir.iterdir():
            item.rename(tmp / item.name)
        export_dir.rmdir()
    return out_dir
