"""The few places where crawlpipe trades plain code for speed, measured, and nowhere else.

Every product record passes through here, so these were measured on the
2-core machine kind the project runs on (``ops/bench/instructions`` counts
instructions; ``ops/bench/e2e`` times the pipeline), November 2026:

- ``packing``: records of all messages in flight are appended to one open
  Kafka batch per partition (a ``BatchBuilder``, about 3 us a record) and the
  batch is handed to the producer whole, instead of aiokafka's per-record
  ``send`` (about 25 us of Python each, and a produce request per page). The
  parser produces ~40 records a page: this halved its CPU per page.
- ``partitions``: Kafka's default partitioner (murmur2 of the key, the same
  partitions as aiokafka's and the Java client's) with a compiled murmur2:
  aiokafka's pure-Python one took ~6 us a record, 3-4% of the parser's CPU.

Outside this package, hot-path types are plain named tuples (``Envelope``,
``Emit``) and the code reads plainly; an optimisation that needs a comment
quoting microseconds belongs here.
"""
