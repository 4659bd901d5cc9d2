"""User filters: MongoDB aggregation pipelines run on the in-memory batch."""
