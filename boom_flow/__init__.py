"""boom_flow: a real-time alert broker for time-domain astronomy on Dask."""

__version__ = "0.1.0"
