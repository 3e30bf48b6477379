"""One botocore data loader per process, shared by every botocore session this package makes.

A botocore session parses the JSON it needs (a service's model, the endpoints of every region) once per
data loader, and each session has a loader of its own. A task that submits a job made three sessions:
the hook's (for its clients), request validation's (for the service model) and the console links'
(for the region's partition), so it parsed the Batch model twice and botocore's endpoints file, its
largest, twice: after imports, the largest part of a submission's CPU in a fresh task process in a py-spy
profile (docs/benchmarks.md, "Through a real Airflow"). The files are read-only data, so one loader
serves every session.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import botocore.session


@functools.cache
def shared_loader() -> Any:
    """The process's loader: the one a default session makes, so AWS_DATA_PATH is honoured as botocore does."""
    import botocore.session

    return botocore.session.get_session().get_component("data_loader")


def share_loader(session: botocore.session.Session) -> botocore.session.Session:
    """Have `session` read botocore's data through the shared loader; call it before `session` makes a client."""
    session.register_component("data_loader", shared_loader())
    return session


def new_session() -> botocore.session.Session:
    """A botocore session (for a service model or a partition, not for credentials) on the shared loader."""
    import botocore.session

    return share_loader(botocore.session.get_session())
