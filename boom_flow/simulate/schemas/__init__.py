"""Avro schemas the simulator writes with, built from facts (field names, types, order)
read off real packets' writer schemas, in the project's own code."""
