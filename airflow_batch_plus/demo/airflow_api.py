"""Just enough of Airflow's REST API for the demo, its tests and benchmarks."""

from __future__ import annotations

import json
import urllib.error
import urllib.request


def get_json(url: str) -> dict[str, dict[str, str]] | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # our own 127.0.0.1 URL
            return json.loads(response.read())  # type: ignore[no-any-return]
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
        return None


class AirflowApi:
    """Just enough of Airflow's REST API for the demo and benchmarks: a simple auth manager token, JSON calls."""

    def __init__(self, url: str, username: str, password: str):
        self.url = url
        self.credentials = {"username": username, "password": password}
        self.token: str | None = None

    def call(self, method: str, path: str, body: object = None) -> dict[str, object] | None:
        """The JSON answer, or None for an error answer or no answer (yet)."""
        try:
            if self.token is None:
                self.token = str(self._send("POST", "/auth/token", self.credentials, {})["access_token"])
            return self._send(method, path, body, {"Authorization": f"Bearer {self.token}"})
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError, KeyError):
            return None

    def _send(self, method: str, path: str, body: object, headers: dict[str, str]) -> dict[str, object]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}{path}", data=data, method=method, headers={**headers, "Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # our own 127.0.0.1 URL
            return json.loads(response.read())  # type: ignore[no-any-return]
