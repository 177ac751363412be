"""Stage services: thin adapters that consume a topic, call a pure stage, write, produce, commit."""
