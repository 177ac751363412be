"""Pure stage logic shared by the services and `quilt process`.

Nothing in this package reads the environment, Kafka or gRPC: clients (object
store, Triton) are passed in by the caller.
"""
