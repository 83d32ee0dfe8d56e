"""Tools for trying livewatch out and testing it: the simulator, a local Kafka, the demo."""
