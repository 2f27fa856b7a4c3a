"""Every operation of the OpenAPI document under property-based requests (schemathesis over
hypothesis), valid and invalid, with a key of a role the route allows: no server error, and no
status code the document does not list. Bounded (examples per operation) and repeatable (a fixed
seed, no example database)."""

from __future__ import annotations

import math

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import status_code_conformance

from api.errors import api_routes
from api.main import create_app
from evidence.audit import Actor
from evidence.keys import ROLES, create_key
from evidence.runtime import Runtime
from evidence.settings import Settings
from workers.queue import RQWorkQueue

ADMIN = Actor("test-admin", "admin")
EXAMPLES = {GenerationMode.POSITIVE: 40, GenerationMode.NEGATIVE: 40}
STREAM_S = 0.05  # the live feeds (Server-Sent Events) stay open max_s seconds, or for good without it


def _short_stream(case: schemathesis.Case) -> None:
    """A live feed the case would hold open (no ``max_s``, or a valid one longer than STREAM_S) ends
    after STREAM_S: what is fuzzed is the answer, not how long it streams (it took 190 of the test's
    245 s). An invalid ``max_s`` (0, negative, past a day, inf, not a number) is sent as generated."""
    if case.operation.path not in ("/alerts/events", "/incidents/{incident_id}/events"):
        return
    query = dict(case.query or {})
    try:
        given = None if query.get("max_s") is None else float(query["max_s"])
    except (TypeError, ValueError):
        return
    if given is None or (math.isfinite(given) and STREAM_S < given <= 24 * 3600):
        query["max_s"] = STREAM_S
        case.query = query


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    data = tmp_path_factory.mktemp("fuzz") / "data"
    settings_ = Settings(data_dir=data, redis_url="redis://127.0.0.1:1/0", working_copy=False, plates=False,
                         auth_failures_per_min=10**6, link_requests_per_min=10**6, client_link_requests_per_min=10**6)
    app = create_app(settings_, RQWorkQueue(Runtime(settings_)))  # uploads stored and queued, not analysed
    rt = app.state.runtime
    app.state.keys = {role: create_key(rt, f"fuzz {role}", role, ADMIN)[1] for role in ROLES}
    return app


def _key_for(app, path: str, method: str) -> dict[str, str]:
    for route in api_routes(app.routes):
        if route.path == path and method.upper() in (route.methods or ()):
            roles = next((d.call.roles for d in route.dependant.dependencies if hasattr(d.call, "roles")), ())
            if roles:
                role = "admin" if "admin" in roles else roles[0]
                return {"Authorization": f"Bearer {app.state.keys[role]}"}
    return {}


def _fuzz(op, mode: GenerationMode, headers: dict[str, str], failures: list[str]) -> None:
    # /ready's documented answer when a check fails is 503 (here: no Redis at 127.0.0.1:1).
    checks = [status_code_conformance] if op.path == "/ready" else [not_a_server_error, status_code_conformance]

    @seed(20261201)
    @settings(max_examples=EXAMPLES[mode], deadline=None, database=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        _short_stream(case)
        response = case.call(headers=headers)
        try:
            case.validate_response(response, checks=checks)
        except (AssertionError, FailureGroup) as exc:
            failures.append(f"{op.method.upper()} {op.path} [{mode.value}] -> {response.status_code}: "
                            f"{type(exc).__name__} {response.text[:200]}\n{case.as_curl_command()[:300]}")

    try:
        run()
    except Unsatisfiable:  # nothing invalid to send (e.g. no parameters at all)
        assert mode is GenerationMode.NEGATIVE, op.label


def test_no_server_error_and_no_undocumented_status(app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 28
    for op in operations:
        for mode in EXAMPLES:
            _fuzz(op, mode, _key_for(app, op.path, op.method), failures)
    distinct = sorted({f.split(": ", 1)[0] for f in failures})
    assert not failures, (f"{len(failures)} failing requests, {len(distinct)} kinds:\n" + "\n".join(distinct)
                          + "\nfirst of each:\n" + "\n".join(next(f for f in failures if f.startswith(d))
                                                             for d in distinct))
