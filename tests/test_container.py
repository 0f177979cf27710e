"""The container image, built and run as the README shows: wheels made on the host, `podman build`
of the Containerfile with the base image as a build argument, `podman run` as the host user with
the state directory mounted from the host, then, from outside the container, a client-credentials
token over mTLS with the CA and client certificate the container wrote there; the README's CI
recipe (the CA and a new client certificate over the control plane, with curl and jq); the image's
HEALTHCHECK; a clean stop.

There is no image registry here, so the base image is Debian bookworm (Python 3.11, as in
`python:3.11-slim`) made with debootstrap from the machine's own Debian mirror (read from its apt
sources) and `podman import`ed. It is made once: podman's image store keeps it under a tag naming
what went into it, and later runs reuse it (debootstrap takes about a minute). Containers start with
runc, without raising rlimits (this machine refuses: `default_ulimits = []` in containers.conf),
on the host network (the build's too).

Needs root, podman, runc and debootstrap (`.ci/run` installs them); without them the test skips,
unless `MOCKWISE_REQUIRE_CONTAINER` is set (CI sets it), when it fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SUITE = "bookworm"  # its python3 is 3.11: the wheels built here (CPython 3.11) install in it
PACKAGES = "python3,python3-venv"  # what the Containerfile needs beyond Debian's minimal base
BASE = f"localhost/mockwise-test-base:{SUITE}-{hashlib.sha256(PACKAGES.encode()).hexdigest()[:8]}"
IMAGE_USER = 10001  # the Containerfile's user
HOST_USER = 12345  # `--user "$(id -u):$(id -g)"` for someone whose id is 12345, as the README runs it
README = (ROOT / "README.md").read_text(encoding="utf-8")
CI = next(
    yaml.safe_load(b)["jobs"]["test"]
    for b in re.findall(r"```yaml\n(.*?)```", README, flags=re.S)
    if "jobs:" in b
)
APT_SOURCES = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]


def _tool(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def _missing() -> str | None:
    absent = [name for name in ("podman", "runc", "debootstrap", "curl", "jq") if _tool(name) is None]
    if absent:
        return f"{', '.join(absent)} not installed (Debian packages; .ci/run installs them)"
    if os.geteuid() != 0:
        return "debootstrap and a rootful podman need root"
    if sys.version_info[:2] != (3, 11):
        version = ".".join(map(str, sys.version_info[:2]))
        return f"the wheels built here are for Python {version}; {SUITE}'s is 3.11"
    return None


MISSING = _missing()
needs_podman = pytest.mark.skipif(
    MISSING is not None and not os.environ.get("MOCKWISE_REQUIRE_CONTAINER"),
    reason=f"{MISSING} (set MOCKWISE_REQUIRE_CONTAINER=1 to fail instead)",
)


def debian_mirror(sources: list[Path] = APT_SOURCES) -> str:
    """The first Debian archive this machine's apt sources name (one-line `.list` or deb822
    `.sources` format), for its release rather than its security or updates suites."""
    for path in sources:
        if not path.is_file() or path.suffix not in (".list", ".sources", ""):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".sources":
            entries = []
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(
                    (key.strip().lower(), value.strip())
                    for key, _, value in (
                        line.partition(":") for line in stanza.splitlines() if line and line[0] not in "# "
                    )
                )
                if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
                    entries += [(uri, fields.get("suites", "")) for uri in fields.get("uris", "").split()]
        else:
            entries = []
            for line in text.splitlines():
                words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
                if len(words) >= 3 and words[0] == "deb":
                    entries.append((words[1], words[2]))
        for uri, suites in entries:
            if "security" not in uri and any("-" not in suite for suite in suites.split()):
                return uri
    raise AssertionError(f"no Debian archive in the apt sources ({', '.join(map(str, sources))})")


def test_debian_mirror_reads_both_source_formats(tmp_path: Path) -> None:
    deb822 = tmp_path / "debian.sources"
    deb822.write_text(
        "Types: deb\n# a comment\nURIs: http://security.example/debian-security\n"
        "Suites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
    )
    one_line = tmp_path / "sources.list"
    one_line.write_text(
        "# deb http://old.example/debian bookworm main\n"
        "deb [arch=amd64] http://one.example/debian bookworm main\n"
    )
    assert debian_mirror([deb822]) == "http://mirror.example/debian"
    assert debian_mirror([one_line]) == "http://one.example/debian"


@pytest.fixture(scope="module")
def podman_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    if MISSING is not None:
        pytest.fail(f"MOCKWISE_REQUIRE_CONTAINER is set but {MISSING}")
    conf = tmp_path_factory.mktemp("podman") / "containers.conf"
    conf.write_text("[containers]\ndefault_ulimits = []\n")  # this machine refuses to raise rlimits
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


def run(command: list[str], env: dict[str, str] | None = None, timeout: float = 300) -> str:
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command[:3])} failed ({done.returncode}):\n{done.stderr[-3000:]}"
    return done.stdout


def base_image(env: dict[str, str], scratch: Path) -> str:
    """Debian bookworm with python3 and its venv module, as a local image (made once)."""
    if subprocess.run([_tool("podman") or "podman", "image", "exists", BASE], env=env).returncode == 0:
        return BASE
    rootfs = scratch / "rootfs"
    debootstrap = _tool("debootstrap") or "debootstrap"
    mirror = debian_mirror()
    run([debootstrap, "--variant=minbase", f"--include={PACKAGES}", SUITE, str(rootfs), mirror], timeout=900)
    for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):  # not needed in an image
        for item in (rootfs / cache).glob("*"):
            if item.is_file():
                item.unlink()
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    imported = subprocess.run(
        ["podman", "import", "-", BASE], stdin=tar.stdout, capture_output=True, text=True, env=env
    )
    assert tar.stdout is not None
    tar.stdout.close()
    assert tar.wait() == 0 and imported.returncode == 0, imported.stderr
    shutil.rmtree(rootfs)
    return BASE


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def image(podman_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """The README's build: wheels on the host, then the Containerfile on the base image."""
    timings: dict[str, float] = {}
    began = time.monotonic()
    base = base_image(podman_env, tmp_path)
    timings["base image"] = time.monotonic() - began
    context = tmp_path / "context"
    context.mkdir()
    for name in ("Containerfile", ".dockerignore"):
        shutil.copy(ROOT / name, context / name)
    began = time.monotonic()
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(context / "wheels"), str(ROOT)])
    timings["pip wheel"] = time.monotonic() - began
    tag = f"localhost/mockwise-test:{uuid.uuid4().hex[:12]}"
    began = time.monotonic()
    build = ["podman", "build", "--quiet", "--layers=false", "--network", "host", "--runtime", "runc"]
    build += ["--format", "docker", "--build-arg", f"BASE={base}", "-t", tag, str(context)]
    run(build, podman_env, timeout=600)
    timings["podman build"] = time.monotonic() - began
    print(", ".join(f"{what} {seconds:.1f} s" for what, seconds in timings.items()))
    try:
        yield tag
    finally:
        subprocess.run(["podman", "rmi", "--force", tag], capture_output=True, env=podman_env)


@pytest.mark.slow
@needs_podman
def test_the_image_serves_a_token_over_mtls_to_a_client_outside_it(
    image: str, podman_env: dict[str, str], tmp_path: Path
) -> None:
    inspected = json.loads(run(["podman", "image", "inspect", image], podman_env))[0]
    config = inspected["Config"]
    assert config["User"] == str(IMAGE_USER)  # not root
    assert {"8443/tcp", "8444/tcp"} <= set(config["ExposedPorts"]) and "/state" in config["Volumes"]
    assert inspected["Healthcheck"]["Test"] == ["CMD", "mockwise", "health"]

    state = tmp_path / "state"  # the host's end of the volume, the host user's directory
    state.mkdir()
    os.chown(state, HOST_USER, HOST_USER)
    api, mtls = free_port(), free_port()
    name = f"mockwise-test-{uuid.uuid4().hex[:12]}"
    began = time.monotonic()
    command = ["podman", "run", "--detach", "--name", name, "--runtime", "runc", "--network", "host"]
    command += ["--user", f"{HOST_USER}:{HOST_USER}", "--volume", f"{state}:/state"]
    environment = {"MOCKWISE_PORT": api, "MOCKWISE_MTLS_PORT": mtls, **CI["services"]["wise"]["env"]}
    command += [arg for key, value in environment.items() for arg in ("--env", f"{key}={value}")]
    run([*command, image], podman_env)
    try:
        deadline = time.monotonic() + 60
        while not (state / "sandbox.json").exists():
            running = run(["podman", "inspect", "--format", "{{.State.Running}}", name], podman_env)
            if running.strip() != "true" or time.monotonic() > deadline:
                pytest.fail("the container did not start:\n" + run(["podman", "logs", name], podman_env))
            time.sleep(0.1)
        ready = time.monotonic() - began

        # What a client outside the container holds: the files in the directory it mounted.
        partner = json.loads((state / "sandbox.json").read_text())["clients"][0]
        assert partner["client_id"] == "mockwise-partner" and partner["mtls_enforced"] is True
        trust = ssl.create_default_context(cafile=str(state / "ca.pem"))
        client_files = (
            state / "clients" / "mockwise-partner.pem",
            state / "clients" / "mockwise-partner.key",
        )
        trust.load_cert_chain(*client_files)
        token = httpx.post(
            f"https://127.0.0.1:{mtls}/oauth/token",
            auth=(partner["client_id"], partner["client_secret"]),
            data={"grant_type": "client_credentials"},
            verify=trust,
        )
        assert token.status_code == 200, token.text
        assert token.json()["expires_in"] == 43199 and token.json()["token_type"] == "bearer"
        assert all(path.stat().st_uid == HOST_USER for path in state.rglob("*"))  # the host user's files
        assert client_files[1].stat().st_mode & 0o777 == 0o600
        health = httpx.get(f"https://127.0.0.1:{api}/_mockwise/health", verify=trust)
        assert health.json()["status"] == "ok"

        # The README's CI recipe: the CA and a new client certificate over the control plane.
        ci = tmp_path / "ci"
        ci.mkdir()
        script = CI["steps"][1]["run"].replace("https://localhost:8443", f"https://localhost:{api}")
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script], cwd=ci, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        from_ci = ssl.create_default_context(cafile=str(ci / "wise-ca.pem"))
        from_ci.load_cert_chain(ci / "partner.pem", ci / "partner.key")
        again = httpx.post(
            f"https://localhost:{mtls}/oauth/token",
            auth=(partner["client_id"], partner["client_secret"]),
            data={"grant_type": "client_credentials"},
            verify=from_ci,
        )
        assert again.status_code == 200, again.text

        run(["podman", "healthcheck", "run", name], podman_env)  # the image's HEALTHCHECK passes

        run(["podman", "stop", "--time", "10", name], podman_env)
        exit_code = run(["podman", "inspect", "--format", "{{.State.ExitCode}}", name], podman_env)
        logs = subprocess.run(["podman", "logs", name], capture_output=True, text=True, env=podman_env)
        output = logs.stdout + logs.stderr
        assert exit_code.strip() == "0" and "mockwise stopped; its state is in" in output
        assert re.search(r"default +POST +/oauth/token 200 [\d.]+ms grant=client_credentials", output), output
        assert token.json()["access_token"] not in output and again.json()["access_token"] not in output
        print(f"container ready in {ready:.1f} s")
    finally:
        subprocess.run(["podman", "rm", "--force", name], capture_output=True, env=podman_env)
