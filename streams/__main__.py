"""`python -m streams` is the `livewatch` command."""

from streams.cli import main

main()
