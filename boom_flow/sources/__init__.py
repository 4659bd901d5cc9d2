"""Where packets come from: Kafka topics, or files replayed as if they were a stream."""
