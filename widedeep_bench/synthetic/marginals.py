"""What each Criteo Kaggle column looks like, as targets for the synthetic generator.

Numbers are the published statistics of Criteo's Kaggle display-advertising train set (missing rates,
medians, maxima, cardinalities); the largest vocabularies (millions of values) are scaled down to
10^4..10^5 so that 2 M rows are drawn in seconds and the vocabularies fit in a few MB. These are
targets, not per-world parameters: every world (``world_seed``) shares them, and the tests check the
generated marginals against them.
"""

from __future__ import annotations

from dataclasses import dataclass

from widedeep_bench import layout

POSITIVE_RATE = 0.256  # click-through rate of Criteo Kaggle; the planted model's bias is tuned to it


@dataclass(frozen=True)
class NumericMarginal:
    """An integer count column: missing, else 0 with ``zero_rate``, else a log-normal count >= 1."""

    missing_rate: float  # fraction of rows with an empty field
    zero_rate: float  # fraction of present values that are exactly 0
    median: float  # median of the non-zero present values
    log_sigma: float  # spread of log(value): the heaviness of the tail
    cap: int  # largest value (Criteo's maximum, or its order of magnitude)
    negative_rate: float = 0.0  # fraction of present values in -3..-1 (only I2 has them)


@dataclass(frozen=True)
class CategoricalMarginal:
    """A hashed-ID column: missing, else one of ``cardinality`` 8-hex-digit values with Zipf frequencies."""

    missing_rate: float
    cardinality: int
    missing_group: str = ""  # columns sharing a group go missing together, as C19/C20/C25/C26 do


NUMERIC = {
    "I1": NumericMarginal(0.454, 0.30, 2.0, 1.2, 1539),
    "I2": NumericMarginal(0.0, 0.15, 4.0, 2.0, 257675, negative_rate=0.08),
    "I3": NumericMarginal(0.215, 0.10, 7.0, 1.5, 65535),
    "I4": NumericMarginal(0.217, 0.05, 5.0, 1.0, 969),
    "I5": NumericMarginal(0.026, 0.02, 2800.0, 1.8, 23159456),
    "I6": NumericMarginal(0.224, 0.05, 35.0, 1.6, 431037),
    "I7": NumericMarginal(0.043, 0.15, 4.0, 1.4, 56311),
    "I8": NumericMarginal(0.0005, 0.05, 7.0, 1.0, 6047),
    "I9": NumericMarginal(0.043, 0.02, 40.0, 1.3, 29019),
    "I10": NumericMarginal(0.454, 0.40, 1.0, 0.6, 11),
    "I11": NumericMarginal(0.043, 0.20, 2.0, 0.9, 231),
    "I12": NumericMarginal(0.766, 0.60, 2.0, 1.2, 4008),
    "I13": NumericMarginal(0.217, 0.05, 5.0, 1.1, 7393),
}

# Criteo leaves C3/C12/C16/C21/C24 empty on the same ~3 % of rows ("rare"), C19/C20/C25/C26 on the same
# ~44 % ("often"); sharing the draw keeps that correlation.
CATEGORICAL = {
    "C1": CategoricalMarginal(0.0, 1460),
    "C2": CategoricalMarginal(0.0, 583),
    "C3": CategoricalMarginal(0.034, 100_000, "rare"),
    "C4": CategoricalMarginal(0.0, 60_000),
    "C5": CategoricalMarginal(0.0, 305),
    "C6": CategoricalMarginal(0.121, 24),
    "C7": CategoricalMarginal(0.0, 12_517),
    "C8": CategoricalMarginal(0.0, 633),
    "C9": CategoricalMarginal(0.0, 3),
    "C10": CategoricalMarginal(0.0, 40_000),
    "C11": CategoricalMarginal(0.0, 5_683),
    "C12": CategoricalMarginal(0.034, 90_000, "rare"),
    "C13": CategoricalMarginal(0.0, 3_194),
    "C14": CategoricalMarginal(0.0, 27),
    "C15": CategoricalMarginal(0.0, 14_992),
    "C16": CategoricalMarginal(0.034, 80_000, "rare"),
    "C17": CategoricalMarginal(0.0, 10),
    "C18": CategoricalMarginal(0.0, 5_652),
    "C19": CategoricalMarginal(0.44, 2_173, "often"),
    "C20": CategoricalMarginal(0.44, 4, "often"),
    "C21": CategoricalMarginal(0.034, 80_000, "rare"),
    "C22": CategoricalMarginal(0.766, 18),
    "C23": CategoricalMarginal(0.0, 15),
    "C24": CategoricalMarginal(0.034, 50_000, "rare"),
    "C25": CategoricalMarginal(0.44, 105, "often"),
    "C26": CategoricalMarginal(0.44, 40_000, "often"),
}

assert tuple(NUMERIC) == layout.NUMERIC_COLUMNS and tuple(CATEGORICAL) == layout.CATEGORICAL_COLUMNS
