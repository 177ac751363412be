"""The embedded stack: S3 store, Kafka-protocol broker, Triton and the services."""
