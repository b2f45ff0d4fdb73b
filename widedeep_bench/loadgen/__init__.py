"""MLPerf LoadGen over the suite's runners: Offline, Server and SingleStream, in performance, accuracy and
compliance modes.

LoadGen owns the traffic and the clock; this package only answers its queries and reads its logs:

- ``sut``: the query sample library (the eval set's rows) and the system under test (a dynamic batcher
  feeding runner instances), LoadGen's two callbacks;
- ``workers``: the runner instances, in this process or in worker processes fed through shared memory (one
  per accelerator where asked);
- ``logs``: LoadGen's detail log and accuracy log, read back (nothing is timed here);
- ``scenarios``: one LoadGen run from its settings, the null runner's ceiling, the Server peak search and
  the compliance check, each as a result object.

``mlperf_loadgen`` (the ``loadgen`` extra) is imported when a run starts, never at import.
"""
