"""livewatch stream processing: the Faust shell around a plain-Python detection core."""

__version__ = "0.1.0"
