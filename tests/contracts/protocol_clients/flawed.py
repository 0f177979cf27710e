"""A client that speaks the protocol with one flaw, for tests/contracts/test_protocol.py; it makes no
request of the sandbox. Its flaw is its first argument:

- quiet-secret: never answers update_client_secret (the old docs said it answers nothing);
- bad-outcome: answers user_call with an outcome whose status is not one of the three;
- chatty: prints a log line on stdout before it starts;
- late: answers user_call six seconds late;
- no-reset: answers reset "unsupported" (fine: it is started again for every story);
- lingers: answers close, and does not exit.
"""

import json
import sys
import time

flaw = sys.argv[1]
if flaw == "chatty":
    print("starting the Wise client...", flush=True)


def answer(message, **reply):
    print(json.dumps({"id": message["id"], **reply}), flush=True)


for line in sys.stdin:
    message = json.loads(line)
    op = message["op"]
    if op == "update_client_secret":
        if flaw != "quiet-secret":
            answer(message, ok=True)
    elif op == "reset":
        if flaw == "no-reset":
            answer(message, outcome={"status": "error", "kind": "unsupported"})
        else:
            answer(message, ok=True)
    elif op == "close":
        answer(message, ok=True)
        if flaw == "lingers":
            time.sleep(60)
        break
    elif op == "start_link":
        answer(message, url="https://localhost/oauth/authorize/?state=0123456789abcdef")
    elif op == "user_call" and flaw == "bad-outcome":
        answer(message, outcome={"status": "fine"})
    else:
        if op == "user_call" and flaw == "late":
            time.sleep(6)
        answer(message, outcome={"status": "ok", "kind": None, "data": {}})
