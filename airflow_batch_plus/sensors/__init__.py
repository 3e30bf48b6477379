"""Sensors: wait on a Batch job submitted elsewhere, or on a job queue."""
