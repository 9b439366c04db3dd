"""The server's shared state, reachable from every route."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from standin.hosts import Hosts
from standin.scheduler import Scheduler


@dataclass
class StandinState:
    """Scheduler and model hosts of one server."""

    scheduler: Scheduler
    hosts: Hosts


def get_state(request: Request) -> StandinState:
    """The state of the app serving a request."""
    state: StandinState = request.app.state.standin
    return state
