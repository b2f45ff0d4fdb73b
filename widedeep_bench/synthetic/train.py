"""Train Wide & Deep weights with TensorFlow on synthetic training rows, deterministically.

The trained parameters have exactly the real model's shapes (``WideDeepWeights``) and the forward
pass is the frozen graph's: ``gather_nd`` on the ``[26*B, 2]`` categorical rows into the wide and
embedding tables, the 845-1024-512-256-1 ReLU tower, and ``logit = wide + deep``. Minimised: sigmoid
cross-entropy with Adam, for a fixed number of steps over reshuffled epochs.

Determinism: initial values and batch order come from NumPy generators seeded by ``seed``; TF's op
determinism is switched on for the duration of training (and restored), so the same tensors and
seed give the same weights, bit for bit, on one machine. Thread pools are TensorFlow's own (all
cores; they are process-wide and fixed at its first use): results were the same bit for bit across
runs on the 2-core CI machine, and a machine with another core count may round differently.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

from widedeep_bench import layout
from widedeep_bench.errors import WidedeepError
from widedeep_bench.model.weights import LAYER_DIMS, WideDeepWeights
from widedeep_bench.progress import progress


@dataclass(frozen=True)
class TrainingPlan:
    steps: int
    batch_size: int  # samples per step
    learning_rate: float  # Adam's
    seed: int = 0  # initial values and batch order

    def __post_init__(self) -> None:
        if self.steps < 10 or self.batch_size < 1 or not self.learning_rate > 0:
            raise WidedeepError(f"training plan {self.as_dict()}: expected steps >= 10 (the loss is "
                                "reported per tenth), batch_size >= 1 and learning_rate > 0")

    def as_dict(self) -> dict:
        return {"steps": self.steps, "batch_size": self.batch_size,
                "learning_rate": self.learning_rate, "seed": self.seed}


def _initial_weights(rng: np.random.Generator) -> WideDeepWeights:
    """The canned estimator's initialisers: zero wide table, embeddings N(0, 1/sqrt(32)) clipped at
    2 sigma, Glorot-uniform tower, zero biases."""
    std = 1.0 / np.sqrt(layout.EMBEDDING_DIM)
    embeddings = np.clip(rng.normal(0.0, std, (layout.NUM_FIELDS, layout.BUCKETS, layout.EMBEDDING_DIM)),
                         -2 * std, 2 * std)
    kernels = [rng.uniform(-1, 1, (fan_in, fan_out)) * np.sqrt(6.0 / (fan_in + fan_out))
               for fan_in, fan_out in zip(LAYER_DIMS[:-1], LAYER_DIMS[1:])]
    return WideDeepWeights(wide=np.zeros((layout.NUM_FIELDS, layout.BUCKETS, 1)), wide_bias=np.zeros(1),
                           embeddings=embeddings, kernels=kernels,
                           biases=[np.zeros(fan_out) for fan_out in LAYER_DIMS[1:]])


@contextlib.contextmanager
def _op_determinism():
    from tensorflow.python.framework import config

    was_enabled = config.is_op_determinism_enabled()
    config.enable_op_determinism()
    try:
        yield
    finally:
        if not was_enabled:
            config.disable_op_determinism()


def _check_tensors(categorical: np.ndarray, numeric: np.ndarray, labels: np.ndarray) -> int:
    """The feed checks every engine applies, plus labels: one 0 or 1 per sample. Returns N."""
    n = layout.check_feed(categorical, numeric)
    if labels.shape != (n,) or not np.isin(labels, (0, 1)).all():
        raise WidedeepError(f"training labels: expected {n} labels (one per numeric row), each 0 or 1; got "
                            f"shape {list(labels.shape)} with values {np.unique(labels)[:5].tolist()}")
    return n


def train_weights(categorical: np.ndarray, numeric: np.ndarray, labels: np.ndarray,
                  plan: TrainingPlan) -> tuple[WideDeepWeights, list[float]]:
    """Train on ``categorical [26*N, 2] int64``, ``numeric [N, 13] float32``, ``labels [N] int64``.

    Returns the trained weights and the mean training loss (nats) of each tenth of the steps.
    """
    import tensorflow as tf

    n = _check_tensors(categorical, numeric, labels)
    if n < plan.batch_size:
        raise WidedeepError(f"training rows: need at least one batch of {plan.batch_size}, got {n}")
    rng = np.random.default_rng([0x7247, plan.seed])
    start = _initial_weights(rng)
    params = {name: tf.Variable(value) for name, value in start.arrays().items()}
    kernels = [params[f"kernel_{i}"] for i in range(len(start.kernels))]
    biases = [params[f"bias_{i}"] for i in range(len(start.biases))]
    optimizer = tf.keras.optimizers.Adam(plan.learning_rate)
    buckets = categorical.reshape(n, layout.NUM_FIELDS, 2)

    @tf.function(reduce_retracing=True)
    def step(cat, num, y):
        with tf.GradientTape() as tape:
            wide = tf.reshape(tf.gather_nd(params["wide"], cat), [-1, layout.NUM_FIELDS])
            wide = tf.reduce_sum(wide, axis=1, keepdims=True) + params["wide_bias"]
            deep = tf.reshape(tf.gather_nd(params["embeddings"], cat),
                              [-1, layout.NUM_FIELDS * layout.EMBEDDING_DIM])
            deep = tf.concat([deep, num], axis=1)
            for i, (kernel, bias) in enumerate(zip(kernels, biases)):
                deep = tf.matmul(deep, kernel) + bias
                if i < len(kernels) - 1:
                    deep = tf.nn.relu(deep)
            logit = tf.squeeze(wide + deep, axis=1)
            loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logit))
        variables = list(params.values())
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    batches_per_epoch = n // plan.batch_size
    losses = []
    with _op_determinism():
        order = rng.permutation(n)
        bar = progress(range(plan.steps), desc="training Wide & Deep", unit="step")
        for k in bar:
            if k and k % batches_per_epoch == 0:
                order = rng.permutation(n)
            rows = order[(k % batches_per_epoch) * plan.batch_size:][:plan.batch_size]
            loss = float(step(buckets[rows].reshape(-1, 2), numeric[rows], labels[rows].astype(np.float32)))
            losses.append(loss)
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
    tenths = [float(np.mean(chunk)) for chunk in np.array_split(np.array(losses), 10)]
    trained = WideDeepWeights(**{name: params[name].numpy() for name in ("wide", "wide_bias", "embeddings")},
                              kernels=[k.numpy() for k in kernels], biases=[b.numpy() for b in biases])
    return trained, tenths
