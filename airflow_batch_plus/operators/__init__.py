"""Operators: submit a Batch job and follow it; stop many jobs at once."""
