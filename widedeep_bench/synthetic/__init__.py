"""The embedded synthetic default: Criteo-format rows from a planted click model, and a TF original
trained on them (``default.ensure_default``), for users who have neither the real SavedModel nor
the real eval.csv.

``marginals`` (what Criteo's columns look like) -> ``world`` (vocabularies, Zipf frequencies, the
``planted`` model, fixed by a world seed) -> ``criteo_rows`` (rows as CSV text, drawn by a row seed)
-> ``train`` (TensorFlow) -> ``default`` (the cached SavedModel + eval.csv + provenance).
"""
