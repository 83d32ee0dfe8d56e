"""Synthetic live-commerce traffic with ground truth: for the demo, tests and rule tuning."""
