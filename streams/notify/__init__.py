"""`livewatch notify`: abuse alerts from the `alerts` topic to Alertmanager.

`envelope` turns an alert record into what Alertmanager and CloudEvents consumers read (pure);
`episodes` tracks which label sets are active (pure); `alertmanager` posts with retries;
`service` is the Kafka and HTTP shell around them.
"""
