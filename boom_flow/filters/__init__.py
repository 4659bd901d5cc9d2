"""User filters: MongoDB aggregation pipelines run on the in-memory batch.

- ``mql``: the evaluator (MongoDB's semantics in Python, compiled once per pipeline);
- ``documents``: the document each filter sees per alert, as the server would build it
  over the archive (history as of the alert, trimmed to the filter's rights);
- ``store``: the ``filters`` collection (versions, activation, validation, notices);
- ``live``: the active filters on a worker, reloaded when they change;
- ``evaluate``: every active filter over a batch (shared by the stage and backtests);
- ``results`` / ``publish``: result records to Kafka and per-filter Valkey streams;
- ``backtest``: a filter over the stored archive or a night of files.

The modules are imported where used (nothing here), so that importing the evaluator
does not pull in the database and broker clients.
"""
