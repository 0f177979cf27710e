"""What the pytest plugin costs: the session's start-up, and `wise_sandbox` per test.

    python bench/fixtures.py

Start-up: a sandbox with its CA and server certificate, two TLS listeners, in a background thread.
Per test: a tenant created and deleted through the control plane (the fixture's work), then the
same with the partner's client certificate issued (made on first use of `client_cert`)."""

from __future__ import annotations

import statistics
import time

from mockwise.testing import WiseServer

ROUNDS = 300


def main() -> None:
    began = time.perf_counter()
    server = WiseServer.start()
    startup = time.perf_counter() - began
    try:
        for label, with_certificate in (("wise_sandbox", False), ("wise_sandbox + client certificate", True)):
            samples = []
            for _ in range(ROUNDS):
                t0 = time.perf_counter()
                sandbox = server.new_tenant()
                if with_certificate:
                    _ = sandbox.client_cert
                sandbox.close()
                samples.append(time.perf_counter() - t0)
            samples.sort()
            median, p95 = statistics.median(samples), samples[int(0.95 * len(samples))]
            print(f"{label:36} median {median * 1000:6.2f} ms   p95 {p95 * 1000:6.2f} ms   ({ROUNDS} rounds)")
    finally:
        server.stop()
    print(f"{'session start-up (CA, certificates, server)':36} {startup * 1000:6.1f} ms")


if __name__ == "__main__":
    main()
