"""The worker: the Faust shell around the core (app wiring, batches, tables, web, metrics)."""
