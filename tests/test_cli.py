"""The command line as a newcomer meets it: `--version`, a mistake answered in one line that names
the input and the fix (exit status 2, nothing written), and `serve`'s configuration from the
environment and `--set`."""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mockwise import __version__
from mockwise._standalone import cli

pytest_plugins = ["pytester"]


def fails(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run `mockwise argv` in this process; it must refuse with status 2 and one line on stderr."""
    try:
        status = cli.main(list(argv))
    except SystemExit as exc:  # argparse's own refusals
        status = int(exc.code or 0)
    captured = capsys.readouterr()
    assert status == 2, captured
    assert captured.out == "" and len(captured.err.splitlines()) == 1, captured.err
    assert "Traceback" not in captured.err
    return captured.err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0 and capsys.readouterr().out == f"mockwise {__version__}\n"


# serve: mistakes are reported before the state directory is written ------------------------------


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "state"
    yield where
    assert not where.exists(), "a refused start must not write the state directory"


def test_a_port_out_of_range(capsys: pytest.CaptureFixture[str], state: Path) -> None:
    line = fails(capsys, "serve", "--port", "99999", "--state-dir", str(state))
    assert "--port: 99999 is not a port: use 0-65535 (0 picks a free one)" in line
    line = fails(capsys, "serve", "--mtls-port", "https", "--state-dir", str(state))
    assert "--mtls-port: 'https' is not a port number" in line


@pytest.fixture
def taken() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_a_port_in_use_is_named_with_the_way_out(
    capsys: pytest.CaptureFixture[str], state: Path, taken: int
) -> None:
    line = fails(capsys, "serve", "--port", str(taken), "--mtls-port", "0", "--state-dir", str(state))
    assert f"--port {taken}: cannot listen on 127.0.0.1:{taken}, the port is in use" in line
    assert "(--port 0 picks a free one)" in line
    line = fails(capsys, "serve", "--port", "0", "--mtls-port", str(taken), "--state-dir", str(state))
    assert f"--mtls-port {taken}:" in line and "(--mtls-port 0 picks a free one)" in line
    line = fails(capsys, "serve", "--http", "--port", str(taken), "--state-dir", str(state))
    assert f"--port {taken}:" in line


def test_a_state_directory_this_user_cannot_write(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """As a container's user meets a host directory it does not own (root cannot be refused here)."""
    from mockwise._standalone.keystore import Keystore

    def refused(self: Keystore, names: tuple[str, ...] = ()) -> None:
        raise PermissionError(13, "Permission denied", str(self.directory / "ca.key"))

    monkeypatch.setattr(Keystore, "load_pki", refused)
    line = fails(capsys, "serve", "--port", "0", "--mtls-port", "0", "--state-dir", str(tmp_path))
    assert f"--state-dir {tmp_path}: cannot write {tmp_path}/ca.key as user " in line
    assert '--user "$(id -u):$(id -g)"' in line


def test_a_host_that_is_not_this_machine(capsys: pytest.CaptureFixture[str], state: Path) -> None:
    line = fails(capsys, "serve", "--host", "192.0.2.1", "--port", "0", "--state-dir", str(state))
    assert "--host 192.0.2.1: the host is not an address of this machine; use 127.0.0.1" in line


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"clients": [', "seed.json is not JSON: Expecting value (line 2, column 1)"),
        ("[]", "seed.json: a seed is a JSON object with clients and users"),
        ('{"clients": [{"name": "no id"}]}', "seed.json: clients[0]: missing 'client_id'"),
        ('{"clients": {"a": 1}}', "seed.json: 'clients' must be a list of objects"),
        (
            '{"users": [{"email": "a@example.com"}, {"email": "b@example.com", "profiles": '
            '[{"type": "personal"}, {"type": "business", "balances": [{"amount": 5}]}]}]}',
            "seed.json: users[1].profiles[1]: missing 'currency'",
        ),
        ('{"settings": ["oauth.refresh_token_rotation"]}', "seed.json: 'settings' must be an object"),
        ('{"settings": {"oauth.nope": 1}}', "seed.json: settings: unknown setting(s): oauth.nope"),
    ],
    ids=["not-json", "not-object", "client-without-id", "clients-not-list", "nested", "settings", "key"],
)
def test_a_bad_seed_file_says_which_file_and_where(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, state: Path, content: str, expected: str
) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(content + "\n")
    line = fails(
        capsys, "serve", "--seed", str(seed), "--http", "--port", "0", "--quiet", "--state-dir", str(state)
    )
    assert f"mockwise serve: --seed {tmp_path}/{expected}" in line


def test_a_missing_seed_file(capsys: pytest.CaptureFixture[str], state: Path) -> None:
    line = fails(capsys, "serve", "--seed", "nowhere.json", "--state-dir", str(state))
    assert line == "mockwise serve: --seed nowhere.json: no such file\n"


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("nosuch=1", "--set: unknown setting(s): nosuch; `mockwise settings` lists every one"),
        ("refresh_token_rotaton=1", "refresh_token_rotaton (did you mean oauth.refresh_token_rotation?)"),
        (
            "oauth.qqqq=1",
            "oauth.qqqq (oauth has oauth.access_token_lifetime, oauth.bound_token_lists_only_its_profile, ",
        ),
        ("oauth.refresh_token_rotation=yes", "--set: 'oauth.refresh_token_rotation' must be bool, not str"),
        ("sca.pin=1234", "'sca.pin' must be str, not int (a value that reads as JSON is taken as JSON"),
        ("oauth.client_credentials_token_format=jwt", "format' must be one of 'uuid', 'jwe'"),
        ("rate_limits.per_second=0", "--set: 'rate_limits.per_second' must be a whole number from 1"),
        ("no-equals-sign", "'no-equals-sign' is not KEY=VALUE: e.g. --set oauth.refresh_token_rotation=true"),
    ],
)
def test_a_bad_setting(capsys: pytest.CaptureFixture[str], state: Path, setting: str, expected: str) -> None:
    assert expected in fails(
        capsys, "serve", "--http", "--port", "0", "--quiet", "--set", setting, "--state-dir", str(state)
    )


def test_a_state_directory_that_is_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    line = fails(capsys, "serve", "--port", "0", "--mtls-port", "0", "--state-dir", str(tmp_path / "afile"))
    assert f"--state-dir {tmp_path}/afile: is a file, not a directory; give a directory" in line


def test_one_port_for_both_listeners(capsys: pytest.CaptureFixture[str], state: Path) -> None:
    line = fails(capsys, "serve", "--port", "18443", "--mtls-port", "18443", "--state-dir", str(state))
    assert "--port 18443 and --mtls-port 18443: the API and the mTLS API need a port each; choose two" in line
    line = fails(capsys, "serve", "--port", "8444", "--state-dir", str(state))  # the mTLS default
    assert "--port 8444 and --mtls-port 8444" in line


def test_an_mtls_port_with_http(capsys: pytest.CaptureFixture[str], state: Path) -> None:
    line = fails(capsys, "serve", "--http", "--port", "0", "--mtls-port", "9444", "--state-dir", str(state))
    assert (
        "--mtls-port 9444: --http serves plain HTTP on one port (--port) and no mTLS; leave --mtls-port"
        in line
    )


def test_an_unknown_option_points_at_its_command(capsys: pytest.CaptureFixture[str]) -> None:
    line = fails(capsys, "serve", "--bogus")
    assert line == "mockwise serve: unrecognized arguments: --bogus (see `mockwise serve --help`)\n"
    line = fails(capsys, "serve", "--prot", "3")
    assert "unrecognized arguments: --prot 3; did you mean --port? (see `mockwise serve --help`)" in line
    assert "(see `mockwise health --help`)" in fails(capsys, "health", "--verbose")


def test_every_command_has_a_description() -> None:
    parser = cli.build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                assert sub.description, f"`mockwise {name} --help` has no description"
    contract = cli._subparser(parser, "contract").format_help()
    assert "--profile" in contract and "strict" in contract and "exit status: 0" in " ".join(contract.split())
    assert "docs/contracts.md" in contract
    certs = cli._subparser(parser, "certs").format_help()
    assert "memory" not in certs and "state.db" in certs


def test_settings_lists_every_setting(capsys: pytest.CaptureFixture[str]) -> None:
    from mockwise._domain.settings import Settings

    assert cli.main(["settings"]) == 0
    listed = capsys.readouterr().out
    for key, value in Settings().items():
        assert f"{key} = {json.dumps(value)}\n" in listed


def test_a_bad_environment_variable_is_named(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOCKWISE_PORT", "99999")
    assert "mockwise serve: MOCKWISE_PORT=99999: 99999 is not a port" in fails(capsys, "serve")
    monkeypatch.setenv("MOCKWISE_PORT", "0")
    monkeypatch.setenv("MOCKWISE_HTTP", "maybe")
    assert "MOCKWISE_HTTP=maybe: use 1 or 0 (true or false)" in fails(capsys, "serve")
    monkeypatch.delenv("MOCKWISE_HTTP")
    monkeypatch.setenv("MOCKWISE_LOG_LEVEL", "loud")
    assert "MOCKWISE_LOG_LEVEL=loud: choose from critical" in fails(capsys, "serve")
    # ...and only `serve` reads them: other commands are not refused for them
    assert cli.main(["certs", "--state-dir", "nowhere", "ca"]) == 1


# contract, replay and the pytest plugin: the client and the sandbox are checked first -----------


def test_contract_with_a_missing_sandbox(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = fails(
        capsys, "contract", "--client", "mockwise.contracts.reference:factory", "--sandbox", "/nonexistent"
    )
    assert line.startswith(
        "mockwise contract: --sandbox /nonexistent: no such state directory or sandbox.json;"
    )
    assert "start `mockwise serve`" in line
    line = fails(
        capsys, "contract", "--client", "mockwise.contracts.reference:factory", "--sandbox", str(tmp_path)
    )
    assert f"no sandbox.json in it; is `mockwise serve --state-dir {tmp_path}` running?" in line


def test_a_sandbox_json_whose_server_stopped(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    api = f"http://127.0.0.1:{port}"
    (tmp_path / "sandbox.json").write_text(json.dumps({"api_url": api, "control_url": f"{api}/_mockwise"}))
    (tmp_path / "x.json").write_text("{}")
    replay = ["replay", str(tmp_path / "x.json"), "--client", "mockwise.contracts.reference:factory"]
    line = fails(capsys, *replay, "--sandbox", str(tmp_path))
    assert f"--sandbox {tmp_path}: nothing answers at {api}" in line and "start `mockwise serve" in line


def test_replay_of_a_missing_scenario_file(capsys: pytest.CaptureFixture[str]) -> None:
    line = fails(capsys, "replay", "nowhere.json", "--client", "mockwise.contracts.reference:factory")
    assert line.startswith("mockwise replay: nowhere.json: no such scenario file; ")
    assert "`mockwise contract --scenarios DIR` writes them" in line


def test_contract_with_a_missing_client(capsys: pytest.CaptureFixture[str]) -> None:
    line = fails(capsys, "contract", "--client", "nosuchmod:factory")
    assert line.startswith("mockwise contract: --client nosuchmod:factory: no module named 'nosuchmod'")
    assert "PYTHONPATH" in line
    assert "module 'json' has no function 'factory'" in fails(capsys, "contract", "--client", "json:factory")
    line = fails(capsys, "contract", "--client-cmd", "nosuchbinary --flag")
    assert "--client-cmd 'nosuchbinary --flag': 'nosuchbinary' is not on PATH" in line


def test_a_client_module_that_raises_on_import(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_wise_client.py").write_text("import os\n\nCONFIG = os.environ['NOT_SET_HERE']\n")
    monkeypatch.chdir(tmp_path)
    line = fails(capsys, "contract", "--client", "broken_wise_client:factory")
    sys.modules.pop("broken_wise_client", None)
    assert (
        "--client broken_wise_client:factory: importing 'broken_wise_client' raised KeyError: 'NOT_SET_HERE'"
        in line
    )
    assert f"({tmp_path}/broken_wise_client.py:3)" in line
    assert 'is given as --client-cmd "python3 path/to/it.py"' in line


def test_a_client_that_is_not_a_module_name(capsys: pytest.CaptureFixture[str]) -> None:
    line = fails(capsys, "contract", "--client", "client.py")
    assert "--client client.py: no module named 'client' here" in line
    line = fails(capsys, "contract", "--client", "./my-client.py:factory")
    assert (
        "'./my-client.py' is not a module name; --client takes MODULE:FACTORY, e.g. my_client:factory" in line
    )
    line = fails(capsys, "contract", "--client", "nocolon")
    assert "--client takes MODULE:FACTORY" in line


def test_health_names_the_url_and_asks_for_serve(tmp_path: Path) -> None:
    status, err = health(tmp_path / "nowhere")
    assert status == 1 and err == (
        f"mockwise health: no {tmp_path}/nowhere/sandbox.json: is `mockwise serve --state-dir "
        f"{tmp_path}/nowhere` running? (it writes sandbox.json once it is ready)\n"
    )
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    api = f"http://127.0.0.1:{port}"
    (tmp_path / "sandbox.json").write_text(json.dumps({"api_url": api, "control_url": f"{api}/_mockwise"}))
    status, err = health(tmp_path)
    assert status == 1 and err.startswith(f"mockwise health: nothing answers at {api}/_mockwise/health (")
    assert err.endswith(f"is `mockwise serve --state-dir {tmp_path}` running?\n")
    (tmp_path / "sandbox.json").write_text("[]")
    assert "is not a sandbox.json written by `mockwise serve`" in health(tmp_path)[1]


def health(state: Path) -> tuple[int, str]:
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = cli.main(["health", "--state-dir", str(state)])
    return status, err.getvalue()


def test_a_client_module_in_the_current_directory_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_wise_client.py").write_text("def factory(config):\n    raise NotImplementedError\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    args = cli.build_parser().parse_args(["contract", "--client", "my_wise_client:factory"])
    cli._check_client(args)  # as `mockwise contract` does before judging: no UsageError
    sys.modules.pop("my_wise_client", None)


def test_pytest_with_a_missing_mockwise_url(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(wise_sandbox):\n    pass\n")
    result = pytester.runpytest_subprocess("--mockwise-url", "/nonexistent", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # pytest's status for a bad option (2: interrupted)
    errors = [line for line in result.errlines if line.strip()]
    assert errors == [
        "ERROR: --mockwise-url /nonexistent: no such state directory or sandbox.json; start `mockwise serve`"
        " (it writes .mockwise/) and give its state directory, or its https:// URL"
    ]


# Configuration from the environment -------------------------------------------------------------


def serve_args(*argv: str) -> dict[str, Any]:
    args = cli.build_parser().parse_args(["serve", *argv])
    assert not args.environment_problems
    return {k: v for k, v in vars(args).items() if k not in ("command", "environment_problems")}


ENVIRONMENT = {  # every serve option, as an environment variable, and what it becomes
    "MOCKWISE_HOST": ("0.0.0.0", "0.0.0.0"),  # noqa: S104 - a value, not a bind
    "MOCKWISE_PORT": ("0", 0),
    "MOCKWISE_MTLS_PORT": ("9444", 9444),
    "MOCKWISE_HTTP": ("true", True),
    "MOCKWISE_SERVER_NAME": ("mockwise, wise.test", ["mockwise", "wise.test"]),
    "MOCKWISE_MISSING_CLIENT_CERT": ("http", "http"),
    "MOCKWISE_STATE_DIR": ("/state", Path("/state")),
    "MOCKWISE_SEED": ("/seed.json", Path("/seed.json")),
    "MOCKWISE_SET": (
        "oauth.refresh_token_rotation=true authorize.access_denied_description='No thanks'",
        [("oauth.refresh_token_rotation", True), ("authorize.access_denied_description", "No thanks")],
    ),
    "MOCKWISE_QUIET": ("1", True),
    "MOCKWISE_LOG_LEVEL": ("info", "info"),
    "MOCKWISE_ADMIN_TOKEN": ("s3cret", "s3cret"),
    "MOCKWISE_FRESH": ("1", True),
    "MOCKWISE_IN_MEMORY": ("true", True),
}


def test_every_serve_option_can_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    defaults = serve_args()
    assert {f"MOCKWISE_{dest.upper()}" for dest in defaults} == set(ENVIRONMENT)  # no option left out
    for name, (raw, _) in ENVIRONMENT.items():
        monkeypatch.setenv(name, raw)
    configured = serve_args()
    for dest in defaults:
        expected = ENVIRONMENT[f"MOCKWISE_{dest.upper()}"][1]
        assert configured[dest] == expected != defaults[dest], dest
    # the command line wins; repeatable options add to the environment's
    flags = serve_args("--port", "8443", "--set", "oauth.refresh_token_rotation=false", "--server-name", "x")
    assert flags["port"] == 8443 and flags["set"][-1] == ("oauth.refresh_token_rotation", False)
    assert flags["server_name"] == ["mockwise", "wise.test", "x"]
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert all(f"[{name}]" in help_text for name in ENVIRONMENT)


def test_set_reads_json_values_and_falls_back_to_text() -> None:
    given = ["a=true", "b=5", "c=text", 'd="1234"', "e=", "f=x=y", "g=[1, 2]"]
    parsed = dict(serve_args(*(arg for value in given for arg in ("--set", value)))["set"])
    assert parsed == {"a": True, "b": 5, "c": "text", "d": "1234", "e": "", "f": "x=y", "g": [1, 2]}


def test_serve_takes_settings_from_the_seed_then_set_and_logs_requests(tmp_path: Path) -> None:
    """A real `mockwise serve`: settings from its seed file and `--set` (which wins), reported by the
    control plane; its console log; `mockwise health`."""
    from tests.standalone import context, serve

    bundled = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "default.json").read_text())
    seed = tmp_path / "seed.json"
    settings = {"rate_limits.per_minute": 500, "rate_limits.per_second": 50, "sca.user_tokens": True}
    seed.write_text(json.dumps(bundled | {"settings": settings | {"oauth.refresh_token_rotation": True}}))
    args = ["--seed", str(seed), "--set", "rate_limits.per_second=7"]
    args += ["--set", "oauth.client_credentials_reuse=true"]
    with serve(tmp_path / "state", *args) as served:
        import httpx

        doc = served.doc
        with httpx.Client(base_url=f"{doc['control_url']}/tenants/default", verify=context(doc)) as control:
            shown = {key: item["value"] for key, item in control.get("/settings").json().items()}
            control.post("/reset")
            after_reset = {key: item["value"] for key, item in control.get("/settings").json().items()}
        expected = {
            "rate_limits.enabled": True,  # the served tenant's, as Wise's
            "rate_limits.per_second": 7,  # --set wins over the seed's 50
            "rate_limits.per_minute": 500,
            "sca.user_tokens": True,
            "sca.personal_tokens": False,
            "oauth.refresh_token_rotation": True,
            "oauth.client_credentials_reuse": True,
        }
        assert {key: shown[key] for key in expected} == expected
        assert {key: after_reset[key] for key in expected} == expected  # they are the tenant's seed
        (banner,) = [line for line in served.read_banner().splitlines() if line.startswith("  settings ")]
        for key in expected.keys() - {"sca.personal_tokens"}:  # the banner shows what differs from defaults
            assert f"{key}={json.dumps(expected[key])}" in banner

        healthy = subprocess.run(
            [sys.executable, "-m", "mockwise", "health", "--state-dir", str(served.state)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert healthy.returncode == 0 and json.loads(healthy.stdout)["status"] == "ok"
        client = doc["clients"][0]
        token = httpx.post(
            f"{doc['mtls_api_url']}/oauth/token?client_secret=LEAKED",
            auth=(client["client_id"], client["client_secret"]),
            data={"grant_type": "client_credentials"},
            verify=context(doc, client["cert"], client["key"]),
        )
        assert token.status_code == 200
        logged = served.log_lines(count=5)  # GET and POST on the control plane, health, then the token
        controls = [text for text in logged if " [control] " in text]
        assert [text.split()[2:5] for text in controls] == [
            ["GET", "/_mockwise/tenants/default/settings", "200"],
            ["POST", "/_mockwise/tenants/default/reset", "200"],
            ["GET", "/_mockwise/tenants/default/settings", "200"],
            ["GET", "/_mockwise/health", "200"],
        ]
        (line,) = [text for text in logged if text not in controls]
        assert " default  POST   /oauth/token 200 " in line and line.endswith("grant=client_credentials")
        assert "LEAKED" not in line and token.json()["access_token"] not in line
    unhealthy = subprocess.run(
        [sys.executable, "-m", "mockwise", "health", "--state-dir", str(served.state)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert unhealthy.returncode == 1 and "Connection refused" in unhealthy.stderr
    assert f"is `mockwise serve --state-dir {served.state}` running?" in unhealthy.stderr


def test_quiet_serve_logs_nothing(tmp_path: Path) -> None:
    from tests.standalone import context, serve

    with serve(tmp_path / "state", "--quiet") as served:
        import httpx

        assert httpx.get(f"{served.doc['api_url']}/v1/me", verify=context(served.doc)).status_code == 401
        output = served.stop()
    assert "Press Ctrl-C to stop." in output
    assert output.split("Press Ctrl-C to stop.\n", 1)[1].startswith("mockwise stopped; its state is in ")
