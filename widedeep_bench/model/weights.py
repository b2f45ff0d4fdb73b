"""Wide & Deep weights with the real model's shapes, and an independent NumPy forward pass.

Shapes (SPEC section 2): wide table ``[26, 1000, 1]`` + bias ``[1]``; embedding table
``[26, 1000, 32]``; tower kernels ``[845, 1024]``, ``[1024, 512]``, ``[512, 256]``, ``[256, 1]``
(TF's ``[in, out]`` layout) with their biases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from widedeep_bench import layout
from widedeep_bench.errors import WidedeepError

LAYER_DIMS = (layout.DEEP_INPUT_DIM, *layout.HIDDEN_UNITS, 1)


@dataclass
class WideDeepWeights:
    wide: np.ndarray  # [26, 1000, 1] float32
    wide_bias: np.ndarray  # [1] float32
    embeddings: np.ndarray  # [26, 1000, 32] float32
    kernels: list[np.ndarray] = field(default_factory=list)  # [in, out] float32, 4 of them
    biases: list[np.ndarray] = field(default_factory=list)  # [out] float32, 4 of them

    def __post_init__(self) -> None:
        expected = {
            "wide": (layout.NUM_FIELDS, layout.BUCKETS, 1),
            "wide_bias": (1,),
            "embeddings": (layout.NUM_FIELDS, layout.BUCKETS, layout.EMBEDDING_DIM),
        }
        for i, (fan_in, fan_out) in enumerate(zip(LAYER_DIMS[:-1], LAYER_DIMS[1:])):
            expected[f"kernel_{i}"] = (fan_in, fan_out)
            expected[f"bias_{i}"] = (fan_out,)
        for name, want in expected.items():
            got = self.arrays().get(name)
            if got is None or tuple(got.shape) != want:
                have = None if got is None else tuple(got.shape)
                raise WidedeepError(f"Wide & Deep weight {name!r}: expected shape {want}, got {have}")
        self.wide, self.wide_bias, self.embeddings = (
            np.asarray(a, np.float32) for a in (self.wide, self.wide_bias, self.embeddings))
        self.kernels = [np.asarray(k, np.float32) for k in self.kernels]
        self.biases = [np.asarray(b, np.float32) for b in self.biases]

    def arrays(self) -> dict[str, np.ndarray]:
        named = {"wide": self.wide, "wide_bias": self.wide_bias, "embeddings": self.embeddings}
        named.update({f"kernel_{i}": k for i, k in enumerate(self.kernels)})
        named.update({f"bias_{i}": b for i, b in enumerate(self.biases)})
        return named

    @property
    def parameter_count(self) -> int:
        return sum(a.size for a in self.arrays().values())

    @classmethod
    def random(cls, seed: int, scale: float = 1.0) -> "WideDeepWeights":
        """Glorot-uniform tower, small random tables; deterministic for ``seed``."""
        rng = np.random.default_rng(seed)
        kernels, biases = [], []
        for fan_in, fan_out in zip(LAYER_DIMS[:-1], LAYER_DIMS[1:]):
            limit = scale * np.sqrt(6.0 / (fan_in + fan_out))
            kernels.append(rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32))
            biases.append(rng.normal(0.0, 0.05 * scale, fan_out).astype(np.float32))
        return cls(
            wide=rng.normal(0.0, 0.3 * scale, (layout.NUM_FIELDS, layout.BUCKETS, 1)).astype(np.float32),
            wide_bias=np.array([-1.0], np.float32),
            embeddings=rng.normal(0.0, 0.5 * scale, (layout.NUM_FIELDS, layout.BUCKETS,
                                                    layout.EMBEDDING_DIM)).astype(np.float32),
            kernels=kernels, biases=biases)

    def save(self, path: Path) -> None:
        np.savez(path, **self.arrays())

    @classmethod
    def load(cls, path: Path) -> "WideDeepWeights":
        with np.load(path) as data:
            n = len(LAYER_DIMS) - 1
            return cls(wide=data["wide"], wide_bias=data["wide_bias"], embeddings=data["embeddings"],
                       kernels=[data[f"kernel_{i}"] for i in range(n)],
                       biases=[data[f"bias_{i}"] for i in range(n)])

    def logits(self, categorical: np.ndarray, numeric: np.ndarray) -> np.ndarray:
        """Logit per sample, ``[N]`` float64, from ``categorical [26*N, 2]`` and ``numeric [N, 13]``."""
        fields, buckets = categorical[:, 0], categorical[:, 1]
        n = numeric.shape[0]
        wide = self.wide[fields, buckets, 0].astype(np.float64).reshape(n, layout.NUM_FIELDS).sum(1)
        deep = np.concatenate([self.embeddings[fields, buckets].reshape(n, -1), numeric], axis=1)
        deep = deep.astype(np.float64)
        for i, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            deep = deep @ kernel.astype(np.float64) + bias
            if i < len(self.kernels) - 1:
                deep = np.maximum(deep, 0.0)
        return wide + self.wide_bias[0] + deep[:, 0]

    def probabilities(self, categorical: np.ndarray, numeric: np.ndarray) -> np.ndarray:
        """``softmax([0, logit])`` per sample, ``[N, 2]`` float64: the model's output, computed in NumPy."""
        p1 = 1.0 / (1.0 + np.exp(-self.logits(categorical, numeric)))
        return np.stack([1.0 - p1, p1], axis=1)
