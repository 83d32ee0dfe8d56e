"""Detection logic in plain Python: no Kafka, Faust, metrics or logging imports here.

The worker and the offline replay both drive `detector.Detector`, so they share one code path.
"""
