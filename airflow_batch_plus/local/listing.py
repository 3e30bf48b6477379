"""ListJobs with the rules of the API reference: exactly one scope, a status or one filter, and pages.

A page token names the submission number of the last job returned, not a position, so paging stays right
while jobs are submitted or change status between pages.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from moto.batch.exceptions import ClientException

from airflow_batch_plus.local import rules
from airflow_batch_plus.local.model import LocalJob

SCOPES = ("jobQueue", "arrayJobId", "multiNodeJobId")


def check_list_request(request: Mapping[str, Any]) -> str:
    """The request's one scope key, once its scope and filter are valid; needs no job, so no lock."""
    scopes = [key for key in SCOPES if request.get(key)]
    if len(scopes) != 1:
        raise ClientException("Specify exactly one of jobQueue, arrayJobId or multiNodeJobId")
    filters = request.get("filters") or []
    if len(filters) > 1:
        raise ClientException("Only one filter can be used at a time")
    for item in filters:
        if item.get("name") not in rules.LIST_FILTERS:
            raise ClientException(f"Invalid filter name {item.get('name')!r}; use one of {rules.LIST_FILTERS}")
        if len(item.get("values") or []) != 1:
            raise ClientException(f"Filter {item['name']} takes exactly one value")
    return scopes[0]


def list_page(
    jobs: Mapping[str, LocalJob], request: Mapping[str, Any], scope: str
) -> tuple[list[dict[str, Any]], str | None]:
    """(job summaries, nextToken) of a request `check_list_request` accepted (the caller holds the engine's lock)."""
    candidates = _in_scope(jobs, scope, str(request[scope]))
    filters = request.get("filters") or []
    if filters:
        name, value = filters[0]["name"], filters[0]["values"][0]
        selected = [job for job in candidates if rules.filter_matches(name, value, job.summary())]
        page_limit = 100
    else:
        wanted = request.get("jobStatus") or "RUNNING"
        selected = [job for job in candidates if job.status == wanted]
        page_limit = 1000
    start = _decode_token(request.get("nextToken"), selected)
    size = min(int(request.get("maxResults") or page_limit), page_limit)
    page = selected[start : start + size]
    token = _encode_token(page[-1]) if start + size < len(selected) else None
    return [job.summary() for job in page], token


def _in_scope(jobs: Mapping[str, LocalJob], scope: str, value: str) -> list[LocalJob]:
    """A queue's own jobs, newest first (never array children or nodes), or one parent's children in order."""
    if scope == "jobQueue":
        found = [job for job in jobs.values() if job.parent is None and value in (job.queue_name, job.queue_arn)]
        return sorted(found, key=lambda job: job.seq, reverse=True)
    parent = jobs.get(value)
    if parent is None:
        return []
    if (scope == "arrayJobId") != parent.is_array_parent:
        return []
    return list(parent.children)


def _encode_token(last: LocalJob) -> str:
    return base64.urlsafe_b64encode(f"seq:{last.seq}".encode()).decode()


def _decode_token(token: str | None, selected: list[LocalJob]) -> int:
    """Where the next page starts: just past the last job returned, even if jobs changed meanwhile."""
    if not token:
        return 0
    try:
        kind, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        last_seq = int(value)
    except ValueError as error:
        raise ClientException("nextToken is invalid") from error
    if kind != "seq":
        raise ClientException("nextToken is invalid")
    descending = len(selected) > 1 and selected[0].seq > selected[-1].seq
    for position, job in enumerate(selected):
        if (job.seq < last_seq) if descending else (job.seq > last_seq):
            return position
    return len(selected)
