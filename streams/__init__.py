"""livewatch stream processing: the Faust shell around a plain-Python detection core."""

from streams.compiled import select

__version__ = "0.1.0"

select()  # before any module of the core is imported: compiled, or its sources (see there)
