"""Hooks: the only modules that talk to AWS (Batch, and CloudWatch Logs for job output)."""
