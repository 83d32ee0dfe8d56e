"""`livewatch board`: a read-only web page for trust-and-safety analysts.

It reads the alerts topic (every worker's episodes) and asks the workers' HTTP APIs for the
riskiest anchors and an anchor's minutes (each worker routes an anchor to the one that owns it).
`ledger` and `filters` are plain Python; `workers` is the HTTP client, `charts` and `pages`
render, `service` is the aiohttp and aiokafka shell.
"""
