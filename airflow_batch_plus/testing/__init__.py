"""Tools for tests of code that uses AWS Batch: the pytest fixtures of the local AWS Batch (`pytest_plugin`,
registered through the `pytest11` entry point), `wait_for_status`, fault injection in front of an endpoint
(`faults`) and counting a client's AWS calls (`calls`). Used by this project's tests and benchmarks.
"""
