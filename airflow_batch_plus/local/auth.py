"""Who may use the local Batch server: only a client that signs its requests with the server's key pair.

The server runs every job's command as a local process of the user who started it, so on a shared
machine anyone who can reach 127.0.0.1 could otherwise run commands as that user. AWS refuses a request
whose Signature Version 4 was not made with a known key; so does this server, with the error code and
HTTP status AWS answers with, so boto3, the AWS CLI and the amazon provider's hooks show their usual
messages. The signature is recomputed with botocore's own `SigV4Auth` (canonical request, string to sign,
key derivation), fed the headers the client says it signed.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import re
import secrets
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

ACCESS_KEY_ENV = "LOCAL_BATCH_ACCESS_KEY_ID"
SECRET_KEY_ENV = "LOCAL_BATCH_SECRET_ACCESS_KEY"
# As AWS allows: a request signed more than 15 minutes before or after the server's clock is refused.
MAX_CLOCK_SKEW = timedelta(minutes=15)
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)
_KEY_ID_ALPHABET = string.ascii_uppercase + "234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass(frozen=True)
class AccessKey:
    """The one key pair the server accepts; `repr` hides the secret so it never reaches a log by accident."""

    access_key_id: str
    secret_access_key: str

    def __repr__(self) -> str:
        return f"AccessKey(access_key_id={self.access_key_id!r}, secret_access_key='***')"

    @classmethod
    def generate(cls) -> AccessKey:
        """A fresh pair shaped like AWS's (AKIA + 16, 40 characters of secret)."""
        key_id = "AKIA" + "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(16))
        return cls(key_id, "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40)))

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> AccessKey | None:
        """The pair in LOCAL_BATCH_ACCESS_KEY_ID / LOCAL_BATCH_SECRET_ACCESS_KEY, None if neither is set.

        Not AWS_ACCESS_KEY_ID: that would make a user's real AWS key the local server's key.
        """
        key_id, secret = environ.get(ACCESS_KEY_ENV, ""), environ.get(SECRET_KEY_ENV, "")
        if not key_id and not secret:
            return None
        return cls.of(key_id, secret, f"{ACCESS_KEY_ENV} and {SECRET_KEY_ENV}")

    @classmethod
    def of(cls, access_key_id: str, secret_access_key: str, source: str) -> AccessKey:
        """A pair given by the user; both halves are required and must be usable in a SigV4 header."""
        if not access_key_id or not secret_access_key:
            raise ValueError(f"{source}: give both the access key id and the secret access key, or neither")
        if not re.fullmatch(r"[A-Za-z0-9]{4,128}", access_key_id):
            raise ValueError(f"{source}: the access key id must be 4 to 128 letters and digits")
        return cls(access_key_id, secret_access_key)

    def environment(self) -> dict[str, str]:
        """The AWS_* variables that make boto3, the AWS CLI and Airflow's AWS connection use this pair."""
        return {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: a kind AWS distinguishes, worded as AWS words it."""

    kind: str  # "missing", "incomplete", "unknown key", "bad signature", "expired"
    detail: str = ""


# AWS's codes per protocol: JSON services (X-Amz-Target: CloudWatch Logs) answer 400 with `__type`;
# REST-JSON services (Batch) answer 403 with x-amzn-ErrorType; query services (form bodies) answer XML.
_JSON_CODES = {
    "missing": ("MissingAuthenticationTokenException", "Request is missing Authentication Token"),
    "incomplete": (
        "IncompleteSignatureException",
        "Authorization header requires Credential, SignedHeaders, Signature",
    ),
    "unknown key": ("UnrecognizedClientException", "The security token included in the request is invalid."),
    "bad signature": (
        "InvalidSignatureException",
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
    ),
    "expired": ("InvalidSignatureException", "Signature expired"),
}
_QUERY_CODES = {
    "missing": "MissingAuthenticationToken",
    "incomplete": "IncompleteSignature",
    "unknown key": "InvalidClientTokenId",
    "bad signature": "SignatureDoesNotMatch",
    "expired": "SignatureDoesNotMatch",
}


class _ClaimedHeadersSigV4(SigV4Auth):
    """botocore's signer, signing exactly the headers the client listed in SignedHeaders.

    botocore chooses headers itself when it signs; a verifier must use the client's list instead (another
    SDK may sign a header botocore would leave out).
    """

    def __init__(self, credentials: Credentials, service: str, region: str, signed: list[str]):
        super().__init__(credentials, service, region)
        self._signed = signed

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        chosen = HTTPHeaders()
        for name in self._signed:
            for value in request.headers.get_all(name) or []:
                chosen[name] = value
        return chosen


def check_signature(
    key: AccessKey,
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes,
    *,
    now: datetime | None = None,
) -> Refusal | None:
    """None when `key` signed this request as sent, else why not."""
    header_map = HTTPHeaders()
    for name, value in headers:
        header_map[name.lower()] = value
    authorization = header_map.get("authorization")
    if not authorization:
        return Refusal("missing")
    match = _AUTHORIZATION.match(authorization.strip())
    if match is None:
        return Refusal("incomplete")
    scope = match["credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        return Refusal("incomplete")
    key_id, date, region, service, _ = scope
    if not hmac.compare_digest(key_id, key.access_key_id):
        return Refusal("unknown key", key_id)
    timestamp = header_map.get("x-amz-date") or ""
    try:
        signed_at = datetime.strptime(timestamp, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        return Refusal("incomplete")
    if not timestamp.startswith(date):
        return Refusal("bad signature")
    if abs((now or datetime.now(UTC)) - signed_at) > MAX_CLOCK_SKEW:
        return Refusal("expired")
    claimed_hash = header_map.get("x-amz-content-sha256")
    if claimed_hash and claimed_hash != "UNSIGNED-PAYLOAD" and claimed_hash != hashlib.sha256(body).hexdigest():
        return Refusal("bad signature")
    request = AWSRequest(method=method, url=url, data=body)
    request.headers = header_map  # as received, repeated headers included
    request.context["timestamp"] = timestamp
    signer = _ClaimedHeadersSigV4(
        Credentials(key.access_key_id, key.secret_access_key), service, region, match["signed"].split(";")
    )
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if not hmac.compare_digest(expected, match["signature"]):
        return Refusal("bad signature")
    return None


def _request_headers(environ: Mapping[str, Any]) -> list[tuple[str, str]]:
    headers = [
        (name[5:].replace("_", "-").lower(), str(value)) for name, value in environ.items() if name.startswith("HTTP_")
    ]
    for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(name):
            headers.append((name.replace("_", "-").lower(), str(environ[name])))
    return headers


def _request_url(environ: Mapping[str, Any]) -> str:
    """The URL as the client wrote it (werkzeug's RAW_URI keeps the percent-encoding PATH_INFO decodes)."""
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not target:
        query = environ.get("QUERY_STRING")
        target = str(environ.get("PATH_INFO", "/")) + (f"?{query}" if query else "")
    return f"http://{environ.get('HTTP_HOST', '127.0.0.1')}{target}"


def refusal_answer(refusal: Refusal, headers: Mapping[str, str]) -> tuple[str, list[tuple[str, str]], bytes]:
    """The status line, headers and body AWS sends for this refusal, in the caller's protocol."""
    if "x-amz-target" in headers:
        code, message = _JSON_CODES[refusal.kind]
        body = json.dumps({"__type": code, "message": message}).encode()
        return "400 Bad Request", [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)], body
    if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        code, message = _QUERY_CODES[refusal.kind], _JSON_CODES[refusal.kind][1]
        body = (
            '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
            f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>local</RequestId></ErrorResponse>"
        ).encode()
        return "403 Forbidden", [("Content-Type", "text/xml")], body
    code, message = _JSON_CODES[refusal.kind]
    body = json.dumps({"message": message}).encode()
    return "403 Forbidden", [("Content-Type", "application/json"), ("x-amzn-ErrorType", f"{code}:")], body


class SignatureGate:
    """WSGI middleware: a request reaches the local Batch only if `key` signed it; counts what it refused."""

    def __init__(self, app: WsgiApp, key: AccessKey):
        self.app = app
        self.key = key
        self.refused = 0

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        headers = _request_headers(environ)
        refusal = check_signature(self.key, str(environ["REQUEST_METHOD"]), _request_url(environ), headers, body)
        if refusal is None:
            return self.app(environ, start_response)
        self.refused += 1
        status, answer_headers, answer = refusal_answer(refusal, dict(headers))
        start_response(status, [*answer_headers, ("Content-Length", str(len(answer)))])
        return [answer]
