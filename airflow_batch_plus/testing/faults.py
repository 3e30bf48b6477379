"""A proxy on 127.0.0.1 that puts AWS's bad days between a client and the local AWS Batch.

Point a client's endpoint at `FaultProxy.endpoint_url` and say which calls fail how: throttling
answers, 5xx, connection resets and answers that never come, each either before the call reaches
Batch (nothing happened) or after Batch acted on it (the job exists, but the caller cannot know).
Calls are told apart by their operation name, read off the request the way AWS reads it: the
`X-Amz-Target` header of JSON-protocol services (CloudWatch Logs), the request path of REST ones
(Batch), mapped through botocore's service model. Everything not matched is passed on unchanged.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import socketserver
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "upgrade"}


class Fault(StrEnum):
    THROTTLE = "throttle"  # a throttling answer; Batch never saw the call
    UNAVAILABLE = "unavailable"  # 503; Batch never saw the call
    SERVER_ERROR = "server_error"  # Batch acted on the call, then the caller got a 500
    RESET = "reset"  # the connection is reset before the call reaches Batch
    RESET_AFTER = "reset_after"  # Batch acted on the call, then the connection is reset
    TIMEOUT_AFTER = "timeout_after"  # Batch acted on the call; its answer never comes (read timeout)

    @property
    def reaches_batch(self) -> bool:
        return self in (Fault.SERVER_ERROR, Fault.RESET_AFTER, Fault.TIMEOUT_AFTER)


@dataclass
class FaultRule:
    """The next `times` calls of `operation` ("SubmitJob", "FilterLogEvents", "*" for any) fail with `fault`."""

    operation: str
    fault: Fault
    times: int = 1


@cache
def _rest_operations(service: str) -> dict[tuple[str, str], str]:
    """(HTTP method, request path) -> operation name, from botocore's model of a REST service."""
    import botocore.session

    model = botocore.session.get_session().get_service_model(service)
    routes = {}
    for name in model.operation_names:
        http = model.operation_model(name).http
        routes[(http["method"], http["requestUri"].split("?")[0].lower())] = name
    return routes


def operation_of(method: str, path: str, headers: dict[str, str]) -> str:
    """The AWS operation a request calls: "FilterLogEvents", "SubmitJob", or "?" if none is known."""
    target = headers.get("x-amz-target")
    if target:
        return target.rsplit(".", 1)[-1]
    return _rest_operations("batch").get((method, urlsplit(path).path.lower()), "?")


class FaultProxy:
    """A threaded HTTP proxy on 127.0.0.1 in front of `upstream_url`, failing calls as its rules say.

    `seen` counts calls that arrived by operation, `injected` the faults dealt by (operation, fault).
    Use as a context manager; `timeout_seconds` is how long a TIMEOUT_AFTER answer is withheld.
    """

    def __init__(self, upstream_url: str, *, timeout_seconds: float = 5.0):
        parts = urlsplit(upstream_url)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.timeout_seconds = timeout_seconds
        self.rules: list[FaultRule] = []
        self.seen: Counter[str] = Counter()
        self.injected: Counter[tuple[str, Fault]] = Counter()
        self._lock = threading.Lock()
        self._server: socketserver.ThreadingTCPServer | None = None

    def add(self, operation: str, fault: Fault | str, times: int = 1) -> FaultProxy:
        with self._lock:
            self.rules.append(FaultRule(operation, Fault(fault), times))
        return self

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    @property
    def endpoint_url(self) -> str:
        assert self._server is not None, "the proxy is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FaultProxy:
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                proxy._serve_connection(self)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def report(self, path: str, label: str) -> None:
        """Append the faults dealt so far to `path` as one JSON line: {"label", "injected": [...]}."""
        injected = [
            {"operation": operation, "fault": fault.value, "count": count}
            for (operation, fault), count in sorted(self.injected.items())
        ]
        with open(path, "a") as out:
            out.write(json.dumps({"label": label, "injected": injected}) + "\n")

    def _take(self, operation: str) -> Fault | None:
        with self._lock:
            self.seen[operation] += 1
            for rule in self.rules:
                if rule.times > 0 and rule.operation in (operation, "*"):
                    rule.times -= 1
                    self.injected[(operation, rule.fault)] += 1
                    return rule.fault
        return None

    def _serve_connection(self, handler: socketserver.StreamRequestHandler) -> None:
        while True:
            request = _read_request(handler)
            if request is None:
                return
            method, path, headers, body = request
            operation = operation_of(method, path, headers)
            fault = self._take(operation)
            if fault in (Fault.RESET, Fault.THROTTLE, Fault.UNAVAILABLE):
                if fault is Fault.RESET:
                    _reset(handler.connection)
                    return
                _write(handler, *_error_answer(fault, headers))
                continue
            status, reason, answer_headers, answer = self._forward(method, path, headers, body)
            if fault is Fault.RESET_AFTER:
                _reset(handler.connection)
                return
            if fault is Fault.TIMEOUT_AFTER:
                time.sleep(self.timeout_seconds)
                _reset(handler.connection)
                return
            if fault is Fault.SERVER_ERROR:
                _write(handler, *_error_answer(fault, headers))
                continue
            _write(handler, status, reason, answer_headers, answer)

    def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            kept = [(name, value) for name, value in response.getheaders() if name.lower() not in HOP_BY_HOP]
            return response.status, response.reason, kept, answer
        finally:
            connection.close()


def _read_request(handler: socketserver.StreamRequestHandler) -> tuple[str, str, dict[str, str], bytes] | None:
    try:
        line = handler.rfile.readline()
        if not line.strip():
            return None
        method, path, _ = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while (header := handler.rfile.readline().decode("latin-1")) not in ("\r\n", "\n", ""):
            name, _, value = header.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = handler.rfile.read(int(headers.get("content-length") or 0))
    except (OSError, ValueError):
        return None
    return method, path, headers, body


def _error_answer(fault: Fault, headers: dict[str, str]) -> tuple[int, str, list[tuple[str, str]], bytes]:
    json_protocol = "x-amz-target" in headers  # CloudWatch Logs: 400 ThrottlingException; Batch: 429
    code, status = {
        Fault.THROTTLE: ("ThrottlingException", 400) if json_protocol else ("TooManyRequestsException", 429),
        Fault.UNAVAILABLE: ("ServiceUnavailableException", 503),
        Fault.SERVER_ERROR: ("InternalFailure", 500) if json_protocol else ("ServerException", 500),
    }[fault]
    body = json.dumps({"__type": code, "message": f"injected {fault.value}"}).encode()
    answer_headers = [("x-amzn-ErrorType", code), ("Content-Type", "application/x-amz-json-1.1")]
    return status, http.client.responses.get(status, "Error"), answer_headers, body


def _write(
    handler: socketserver.StreamRequestHandler, status: int, reason: str, headers: list[tuple[str, str]], body: bytes
) -> None:
    head = [f"HTTP/1.1 {status} {reason}", *(f"{name}: {value}" for name, value in headers)]
    head.append(f"Content-Length: {len(body)}")
    handler.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
    handler.wfile.flush()


def _reset(connection: Any) -> None:
    """Close with a TCP RST, as a dropped load balancer connection looks to the client."""
    try:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection.close()
    except OSError:
        pass
