"""Catalogs for the crossmatch: ingestion into HEALPix-partitioned Parquet (the HATS
layout), a per-process partition cache, and vectorised matching of a batch's positions.

- ``sky``: unit vectors, separations, HEALPix pixels (``cdshealpix``).
- ``tables``: reading a Parquet/CSV/FITS table and sorting its rows into usable and
  refused (with the reason).
- ``store``: writing and describing the partitioned catalogs (``hats.read_hats`` reads
  them).
- ``reader``: which partitions a set of cones touches, loaded once per process with a
  KD-tree each.
- ``matching``: one configured catalog (BOOM's keys) against many positions at once.
"""
