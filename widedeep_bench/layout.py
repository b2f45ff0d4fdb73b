"""Facts of the real Wide & Deep model and of Criteo's eval.csv (SPEC sections 2 and 4).

Everything that must match the real ``open_wide_deep_saved_model`` lives here once: tensor names,
field and column orders, table sizes and the tower.
"""

NUM_FIELDS = 26
NUM_NUMERIC = 13
BUCKETS = 1000
EMBEDDING_DIM = 32
HIDDEN_UNITS = (1024, 512, 256)
DEEP_INPUT_DIM = NUM_FIELDS * EMBEDDING_DIM + NUM_NUMERIC  # 845

CATEGORICAL_KEY = "new_categorical_placeholder:0"  # int64 [26*N, 2]: row 26*r + j is (j, bucket)
NUMERIC_KEY = "new_numeric_placeholder:0"  # float32 [N, 13], min-max normalised
OUTPUT_KEY = "import/head/predictions/probabilities:0"  # float32 [N, 2] = softmax([0, logit])
ZEROS_LIKE_KEY = "import/head/predictions/zeros_like:0"  # float32 [N, 1]; a graph input after --cut-zeros-like
SIGNATURE = "serving_default"
TAG = "serve"

LABEL_COLUMN = "label"
NUMERIC_COLUMNS = tuple(f"I{i}" for i in range(1, NUM_NUMERIC + 1))
CATEGORICAL_COLUMNS = tuple(f"C{i}" for i in range(1, NUM_FIELDS + 1))
CSV_COLUMNS = (LABEL_COLUMN,) + NUMERIC_COLUMNS + CATEGORICAL_COLUMNS  # 40 fields; 39 without label

# The canned estimator sorts feature columns by name: I1, I10, I11, I12, I13, I2, ..., I9.
NUMERIC_ORDER = tuple(sorted(NUMERIC_COLUMNS))
# Field j of the categorical tensor; sorted by "C<k>_embedding", so C10..C19, C1, C20..C26, C2, ..., C9.
FIELD_ORDER = tuple(sorted(CATEGORICAL_COLUMNS, key=lambda name: f"{name}_embedding"))

FLOP_PER_SAMPLE = 2 * (DEEP_INPUT_DIM * 1024 + 1024 * 512 + 512 * 256 + 256)  # 3.04 MFLOP
