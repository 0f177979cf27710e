#!/usr/bin/env python3
"""A small Wise client, written the way a partner might, judged by mockwise as a subprocess.

It imports nothing from mockwise (only the standard library) and speaks the suites' JSON-lines
protocol on stdin/stdout (docs/contracts.md), `reset` included, so one process serves every
story; the same approach works for a client in Go, Java or Node. Run:

    mockwise contract --client-cmd "python3 examples/partner_client.py"

It has two bugs on purpose, for the README's verdict: it refreshes a user's token only after the
API refuses it (never before it expires), and it never checks the `state` that comes back from the
authorize page.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import ssl
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

lock = threading.Lock()
partner: dict = {}  # {"token": ..., "expires_at": ...}
users: dict = {}  # key -> {"access": ..., "refresh": ..., "email": ..., "code": ...}
pending: dict = {}  # key -> (state, date_of_birth)
CONFIG: dict = {}


def configure(config):
    """Use this configuration (at start, and on `reset`: a new story, so everything is forgotten)."""
    global API, TLS
    CONFIG.clear()
    CONFIG.update(config)
    API = CONFIG["mtls_api_url"] or CONFIG["api_url"]
    TLS = ssl.create_default_context(cafile=CONFIG["ca_cert"] or None)
    if CONFIG["client_cert"]:
        TLS.load_cert_chain(CONFIG["client_cert"], CONFIG["client_key"])
    partner.clear()
    users.clear()
    pending.clear()


with open(os.environ["MOCKWISE_CONFIG"]) as config_file:
    configure(json.load(config_file))


def call(method, path, body=None, token=None, form=None):
    """One HTTP request; returns (status, parsed JSON or None)."""
    headers, data = {}, None
    if form is not None:
        secret = f"{CONFIG['client_id']}:{CONFIG['client_secret']}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(secret).decode()
        data = urllib.parse.urlencode(form).encode()
    elif body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(API + path, data=data, headers=headers, method=method)  # noqa: S310 - https from config
    try:
        with urllib.request.urlopen(request, context=TLS, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.loads(error.read() or b"null")
        except ValueError:
            return error.code, None
    except (urllib.error.URLError, OSError, ValueError):
        return 0, None


def partner_token(refused=None):
    with lock:
        if not partner or partner["token"] == refused or time.time() > partner["expires_at"] - 300:
            status, body = call("POST", "/oauth/token", form={"grant_type": "client_credentials"})
            if status != 200:
                return None
            partner.update(token=body["access_token"], expires_at=time.time() + body["expires_in"])
        return partner["token"]


def outcome(status, kind=None, data=None):
    return {"status": status, "kind": kind, "data": data}


def partner_call():
    token = partner_token()
    status, body = call("POST", "/v1/users/exists", {"email": "nobody@example.com"}, token)
    if status == 401:
        status, body = call("POST", "/v1/users/exists", {"email": "nobody@example.com"}, partner_token(token))
    return outcome("ok", data=body) if status == 200 else outcome("error", "rejected")


def user_tokens(key, form):
    status, body = call("POST", "/oauth/token", form=form)
    if status != 200:
        return False
    users[key].update(access=body["access_token"], refresh=body.get("refresh_token") or users[key]["refresh"])
    return True


def create_user(user):
    signup = {"email": user["email"], "registrationCode": user["registration_code"]}
    status, _ = call("POST", "/v1/user/signup/registration_code", signup, partner_token())
    if status != 200:
        return outcome("error", "rejected")
    users[user["key"]] = {
        "access": None,
        "refresh": None,
        "email": user["email"],
        "code": user["registration_code"],
    }
    registration = {"grant_type": "registration_code", "client_id": CONFIG["client_id"],
                    "email": user["email"], "registration_code": user["registration_code"]}  # fmt: skip
    return outcome("ok") if user_tokens(user["key"], registration) else outcome("error", "rejected")


def start_link(key, date_of_birth):
    state = secrets.token_urlsafe(24)
    pending[key] = (state, date_of_birth)
    query = urllib.parse.urlencode({"client_id": CONFIG["client_id"], "redirect_uri": CONFIG["redirect_uri"],
                                    "state": state})  # fmt: skip
    return CONFIG["authorize_url"] + "?" + query


def finish_link(key, callback_url):
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(callback_url).query))
    _, date_of_birth = pending.pop(key, (None, None))  # BUG: the state that came back is never checked
    if "code" not in query:
        return outcome("error", "rejected")
    users[key] = {"access": None, "refresh": None, "email": None, "code": None}
    exchange = {"grant_type": "authorization_code", "client_id": CONFIG["client_id"], "code": query["code"],
                "redirect_uri": CONFIG["redirect_uri"]}  # fmt: skip
    if not user_tokens(key, exchange):
        return outcome("error", "rejected")
    status, profile = call("GET", f"/v2/profiles/{query.get('profileId')}", token=users[key]["access"])
    if status != 200 or profile.get("dateOfBirth") != date_of_birth:
        del users[key]
        return outcome("error", "dob_mismatch")
    return outcome("ok")


def user_call(key):
    user = users.get(key)
    if user is None:
        return outcome("relink_needed")
    with lock:
        status, body = call("GET", "/v1/me", token=user["access"])
        if status == 401:  # BUG: refreshes only once the API refuses the token, never before expiry
            refreshed = user["refresh"] and user_tokens(
                key, {"grant_type": "refresh_token", "refresh_token": user["refresh"]}
            )
            if not refreshed and user["code"]:
                user["refresh"] = None
                registration = {"grant_type": "registration_code", "client_id": CONFIG["client_id"],
                                "email": user["email"], "registration_code": user["code"]}  # fmt: skip
                refreshed = user_tokens(key, registration)
                user["code"] = user["code"] if refreshed else None
            if not refreshed:
                del users[key]
                return outcome("relink_needed")
            status, body = call("GET", "/v1/me", token=user["access"])
    return outcome("ok", data=body) if status == 200 else outcome("error", "rejected")


def answer(message):
    try:
        reply = dispatch(message)
    except Exception as exc:  # every request gets an answer, even when this client fails
        print(f"{message['op']} failed: {exc!r}", file=sys.stderr, flush=True)
        reply = {"outcome": outcome("error", "exception", {"error": repr(exc)})}
    with out:
        print(json.dumps({"id": message["id"], **reply}), flush=True)


def dispatch(message):
    op = message["op"]
    if op == "partner_call":
        reply = {"outcome": partner_call()}
    elif op == "create_user":
        reply = {"outcome": create_user(message["user"])}
    elif op == "start_link":
        reply = {"url": start_link(message["user"], message["date_of_birth"])}
    elif op == "finish_link":
        reply = {"outcome": finish_link(message["user"], message["callback_url"])}
    elif op == "user_call":
        reply = {"outcome": user_call(message["user"])}
    elif op == "update_client_secret":
        CONFIG["client_secret"] = message["client_secret"]
        reply = {"ok": True}
    else:
        reply = {"outcome": outcome("error", "unknown_op")}
    return reply


out = threading.Lock()
for line in sys.stdin:
    message = json.loads(line)
    if message["op"] in ("close", "reset"):  # between stories: nothing is in flight
        if message["op"] == "reset":
            configure(message["config"])
        with out:
            print(json.dumps({"id": message["id"], "ok": True}), flush=True)
        if message["op"] == "close":
            break
        continue
    threading.Thread(target=answer, args=(message,), daemon=True).start()
