"""The pytest plugin, tested the way pytest plugins are: running sample test files with pytester."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.standalone import serve

pytest_plugins = ["pytester"]

USES_SANDBOX = """
def test_a_fresh_tenant(wise_sandbox):
    import httpx
    with wise_sandbox.http_client() as http:
        token = http.post("/oauth/token", auth=(wise_sandbox.client_id, wise_sandbox.client_secret),
                          data={"grant_type": "client_credentials"})
    assert token.status_code == 200
    wise_sandbox.journal.assert_request_made(path="/oauth/token", times=1)
"""


def test_the_fixtures_are_there_without_configuration(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(USES_SANDBOX)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_each_test_gets_its_own_tenant_and_clock(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        SEEN = {}

        def test_one(wise_sandbox):
            SEEN["one"] = wise_sandbox.id
            wise_sandbox.clock.advance(hours=12)

        def test_two(wise_sandbox):
            assert wise_sandbox.id != SEEN["one"]
            assert abs(wise_sandbox.clock.now() - __import__("time").time()) < 60
            assert wise_sandbox.journal.entries() == []
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_a_failing_journal_assertion_explains_itself(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_expects_a_refresh(wise_sandbox):
            import httpx
            user = next(u for u in wise_sandbox.users if u.get("registration_code"))
            with wise_sandbox.http_client() as http:
                auth = (wise_sandbox.client_id, wise_sandbox.client_secret)
                tokens = http.post("/oauth/token", auth=auth, data={
                    "grant_type": "registration_code", "email": user["email"],
                    "registration_code": user["registration_code"]}).json()
                wise_sandbox.revoke_access(user["email"])
                http.get("/v1/me", headers={"Authorization": "Bearer " + tokens["access_token"]})
            wise_sandbox.journal.assert_request_made(path="/oauth/token", grant_type="refresh_token")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*expected path='/oauth/token', grant_type='refresh_token' at least once, found 0*",
            "*GET /v1/me -> 401 invalid_token*revoked (user_revoked_access)*",
        ]
    )


def test_xdist_workers_each_get_their_own_server(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        **{
            f"test_worker_{n}": USES_SANDBOX.replace("test_a_fresh_tenant", f"test_tenant_{n}")
            for n in range(4)
        }
    )
    result = pytester.runpytest_subprocess("-p", "xdist", "-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


def test_process_clock_moves_with_the_tenant(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import time

        def test_twelve_hours_pass_everywhere(wise_sandbox):
            before_process, before_tenant = time.time(), wise_sandbox.clock.now()
            wise_sandbox.clock.advance(hours=12, process=True)
            assert 43200 <= time.time() - before_process < 43260
            assert 43200 <= wise_sandbox.clock.now() - before_tenant < 43260
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_mockwise_url_uses_a_running_standalone_server(pytester: pytest.Pytester, tmp_path: Path) -> None:
    with serve(tmp_path / "state") as server:
        pytester.makepyfile(
            USES_SANDBOX
            + f"""
def test_it_is_the_running_server(wise_sandbox):
    assert wise_sandbox.api_url == {server.doc["api_url"]!r}
"""
        )
        pytester.makeini(f"[pytest]\nmockwise_url = {server.state}\n")
        pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_wise_client_runs_the_suites_as_tests(pytester: pytest.Pytester, tmp_path: Path) -> None:
    junit = tmp_path / "contract.xml"
    result = pytester.runpytest_subprocess(
        "--wise-client", "mockwise.contracts.mutants:SkipsStateCheck", "--wise-examples", "20",
        f"--wise-junit={junit}", "-p", "no:cacheprovider",
    )  # fmt: skip
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed") == 1 and outcomes.get("passed", 0) >= 15
    result.stdout.fnmatch_lines(["*STATE-CHECKED: The client sends an unguessable state*", "*tamper=*"])
    assert 'failures="1"' in junit.read_text()
