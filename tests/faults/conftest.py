"""The fault suite breaks the pipeline for real (SIGKILLs, wiped data, generated bad input)
and compares what comes out with `livewatch replay` of the same events. Every module is marked
`faults` (and `kafka`): `pytest -m faults` runs it apart; `make test` runs it with the rest."""
