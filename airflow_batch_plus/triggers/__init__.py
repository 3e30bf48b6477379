"""Triggers: wait for Batch jobs in the triggerer, through one shared poller per process."""
