"""The ``boom-flow`` command line."""
