"""Files only their owner can read: the demo's Airflow password and the local Batch's key pair."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

PRIVATE = 0o600


def write_private(path: Path, text: str) -> None:
    """Replace `path` with `text` through a temporary file that is 0600 from its creation.

    There is never a moment when anyone else could read it, and a file someone else put (or linked) there
    is replaced, never written through.
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # O_EXCL: a new file, never one someone else made (or linked) there; the mode applies as it is created.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    try:
        with os.fdopen(descriptor, "w") as file:
            os.fchmod(file.fileno(), PRIVATE)  # exactly 0600 whatever the umask (which could take the owner's bits)
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
