"""The dataflow: streamz micro-batches processed on a Dask cluster, then committed."""
