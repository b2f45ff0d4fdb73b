"""The benchmarks, one module each, run by ``widedeep-bench bench NAME`` (``widedeep_bench.commands.bench``).

- ``preprocess_speed``: eval.csv -> tensors, the vectorised reader against ByteMLPerf's per-row loop;
- ``engine_throughput``: every runner in every precision it runs here, at batch 1024, 4096 and 16384, a SGEMM
  ceiling at each, the paired ONNX Runtime / TF ratio;
- ``paired_ratio``: that paired ratio measured N times, quiet or with one core busy: its spread;
- ``gpu_throughput``: the torch runner on a CUDA GPU, compute only and end to end.

Each module's name is the ``benchmark`` its profile ``[[target]]`` tables name; what they share is in
``inputs`` (models, rows, runners) and ``targets`` (the targets and their verdicts). All timing is
``widedeep_bench.measure``'s.
"""
