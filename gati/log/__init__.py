"""Adapters of the ``EventLog`` port: Kafka (aiokafka) and the embedded in-process log."""
