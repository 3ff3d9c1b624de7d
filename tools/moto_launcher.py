#!/usr/bin/env python3
"""keyguard's local AWS: moto's own WSGI app in one process, plus test-only routes.

Why a launcher instead of `moto_server`: moto cannot back-date an access key (it reads
the system clock), so age tests could not age keys for real. Running moto's app in our
own process lets a route under /_keyguard/ reach into moto's IAM backend. Production
code never sees this route; it keeps the real clock.

Stand-ins for calls moto lacks (SSM Automation, Incident Manager) are in
moto_standins.py; requests for them are answered there, on the services' own protocols.

Routes added (all under /_keyguard/, never part of any AWS protocol):
  POST /_keyguard/iam/backdate-key
       {"account": "123456789012", "user": "alice", "key_id": "AKIA...",
        "create_date": "2026-08-30T09:00:00+00:00"}
       -> 200 {"key_id": ..., "create_date": ...} | 404 {"error": ...} | 400 {"error": ...}

  POST /_keyguard/ses/sandbox      {"region": "eu-west-3", "on": true}
       -> 200 {"sandbox": [regions]}: SES v2 SendEmail in that region refuses any recipient
          that is not a verified identity (MessageRejected), as the SES sandbox does

  --request-log PATH: every AWS request keyguard makes (a function, by its app name or
       an assumed member role; the runbook's stand-in) is described on one JSON line
       (tools/moto_requests.py), for check-requests.

  GET  /_keyguard/requests         -> 200 {"total": N, "by_action": {"iam:UpdateAccessKey": n, ...}}:
                                      AWS requests served since the last reset
  POST /_keyguard/requests/reset   -> 200 {"total": 0, "by_action": {}}
  GET  /_keyguard/standins
       -> 200 {"automation_executions": [...], "incidents": [{"record":..., "request":...}]}

  POST /_keyguard/webhooks/CHANNEL/...  -> 204: a stand-in for a Discord or Slack webhook
       (the demo's webhook secrets point here); the post is kept, minus the URL's token
  GET  /_keyguard/webhooks              -> 200 {"posts": [{"channel": ..., "body": ...}]}

  POST /_keyguard/cloudtrail/events {"region": "us-east-1", "events": [CloudTrail records]}
       -> 200 {"stored": N}: the event history CloudTrail LookupEvents (moto_cloudtrail.py)
          serves, per account (recipientAccountId, else the default) and region
  GET  /_keyguard/cloudtrail/lookups    -> 200 {"lookups": [{"at", "account", "region",
          "attribute", "throttled"}]}: every LookupEvents request, for pacing checks

On start it prints one line, `KEYGUARD_MOTO_READY http://HOST:PORT`, to stdout.
With --exit-on-stdin-eof it stops when its stdin closes, so a test process that dies
never leaves a moto behind.
"""

import argparse
import io
import json
import os
import sys
import threading
from datetime import datetime, timezone
from urllib.parse import parse_qs

import moto_cloudtrail
import moto_requests
import moto_standins

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

DEFAULT_ACCOUNT = "123456789012"


def _caller_account(environ):
    """The account a request acts in, as AWS (and moto) take it from its credentials: a
    role moto's STS issued answers as the role's account; any other key as the account
    that holds it, else moto's default. The stand-ins serve that account's state, so a
    member role's request never reads or writes the home account's."""
    from moto.iam.models import get_account_id_from

    key = moto_requests.access_key(environ)
    if not key:
        return DEFAULT_ACCOUNT
    role = moto_requests.assumed_role_arn(key)
    if role:
        return role.split(":")[4]
    return get_account_id_from(key)


# Organizations calls whose accounts lost their `Status` field on 9 September 2026.
RETIRED_STATUS_ACTIONS = {
    "AWSOrganizationsV20161128.ListAccounts",
    "AWSOrganizationsV20161128.DescribeAccount",
    "AWSOrganizationsV20161128.ListAccountsForParent",
}


def _json(start_response, status, body, error_type=None):
    data = b"" if body is None else json.dumps(body).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    if error_type:
        # REST-JSON services name the error in this header.
        headers.append(("x-amzn-ErrorType", error_type))
    start_response(status, headers)
    return [data]


def _iam_backend(account):
    from moto.iam.models import iam_backends

    backends = iam_backends[account]
    # moto 5 keys IAM by partition ("aws"); older releases used "global".
    for name in ("aws", "global"):
        try:
            return backends[name]
        except KeyError:
            continue
    raise KeyError("no IAM backend for account " + account)


def backdate_key(body):
    account = body.get("account") or DEFAULT_ACCOUNT
    user_name, key_id, when = body.get("user"), body.get("key_id"), body.get("create_date")
    if not (isinstance(user_name, str) and isinstance(key_id, str) and isinstance(when, str)):
        return "400 Bad Request", {"error": "user, key_id and create_date are required strings"}
    try:
        created = datetime.fromisoformat(when.replace("Z", "+00:00"))
    except ValueError:
        return "400 Bad Request", {"error": "create_date is not ISO 8601: " + when}
    if created.tzinfo is not None:
        # moto keeps naive UTC datetimes.
        created = created.astimezone(timezone.utc).replace(tzinfo=None)
    from moto.iam.exceptions import NoSuchEntity

    try:
        user = _iam_backend(account).get_user(user_name)
    except NoSuchEntity:
        return "404 Not Found", {"error": "no such user: " + user_name}
    for key in user.access_keys:
        if key.access_key_id == key_id:
            key.create_date = created
            return "200 OK", {"key_id": key_id, "create_date": created.isoformat() + "Z"}
    return "404 Not Found", {"error": "user " + user_name + " has no key " + key_id}


# Regions whose SES account is in the sandbox (as every new SES account is): each
# recipient must be a verified identity, or SendEmail is refused with MessageRejected, as
# AWS refuses it. moto checks only the sender. Off unless a test turns it on for a region.
SES_SANDBOX = set()


def ses_sandbox(body):
    region, on = body.get("region"), body.get("on")
    if not isinstance(region, str) or not isinstance(on, bool):
        return "400 Bad Request", {"error": "region (string) and on (boolean) are required"}
    (SES_SANDBOX.add if on else SES_SANDBOX.discard)((DEFAULT_ACCOUNT, region))
    return "200 OK", {"sandbox": sorted(r for _, r in SES_SANDBOX)}


def _sandbox_refusal(environ, region):
    """The MessageRejected a sandboxed SES v2 SendEmail gets for an unverified recipient,
    or None. The body is read and put back for moto."""
    if (DEFAULT_ACCOUNT, region) not in SES_SANDBOX:
        return None
    raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    environ["wsgi.input"] = io.BytesIO(raw)
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return None
    destination = body.get("Destination") or {}
    recipients = [a for field in ("ToAddresses", "CcAddresses", "BccAddresses")
                  for a in destination.get(field) or [] if isinstance(a, str)]
    from moto.ses.models import ses_backends

    backend = ses_backends[DEFAULT_ACCOUNT][region]
    unverified = [a for a in recipients if not backend._is_verified_address(a)]
    if not unverified:
        return None
    return ("Email address is not verified. The following identities failed the check in region %s: %s"
            % (region.upper(), ", ".join(unverified)))


WEBHOOK_POSTS = []


def _webhook(path, body):
    # /_keyguard/webhooks/<channel>/<token...>: the token is a secret, never kept.
    channel = path.split("/")[3] if path.count("/") >= 3 else ""
    WEBHOOK_POSTS.append({"channel": channel, "body": body})
    return "204 No Content", None


REQUESTS = {"total": 0, "by_action": {}}
REQUESTS_LOCK = threading.Lock()
# Security Hub's calls the launcher stands in for (moto_standins), by method and path.
SECURITY_HUB = {
    ("PATCH", "/findings/batchupdate"): moto_standins.batch_update_findings,
    ("POST", "/findings"): moto_standins.get_findings,
}

# --request-log: one JSON line per keyguard request (moto_requests.describe).
REQUEST_LOG = {"file": None}


def _log_request(environ, service, action, region):
    if REQUEST_LOG["file"] is None or service is None:
        return
    raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    environ["wsgi.input"] = io.BytesIO(raw)
    record = moto_requests.describe(environ, raw, service, action, region, DEFAULT_ACCOUNT)
    if record is not None:
        with REQUESTS_LOCK:
            REQUEST_LOG["file"].write(json.dumps(record) + "\n")
            REQUEST_LOG["file"].flush()


def _counts():
    with REQUESTS_LOCK:
        return {"total": REQUESTS["total"], "by_action": dict(REQUESTS["by_action"])}


def _count_reset(_body):
    with REQUESTS_LOCK:
        REQUESTS["total"] = 0
        REQUESTS["by_action"] = {}
    return "200 OK", _counts()


def _action(environ):
    """The API action of a request: X-Amz-Target for the JSON protocols, the Action
    field of a query-protocol form (the body is read and put back for moto)."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return target.rsplit(".", 1)[-1]
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if "Action" in query:
        return query["Action"][0]
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        form = parse_qs(raw.decode("utf-8", "replace"))
        if "Action" in form:
            return form["Action"][0]
    return environ.get("REQUEST_METHOD", "?") + " " + environ.get("PATH_INFO", "")


ROUTES = {
    ("GET", "/_keyguard/requests"): lambda _body: ("200 OK", _counts()),
    ("POST", "/_keyguard/requests/reset"): _count_reset,
    ("POST", "/_keyguard/iam/backdate-key"): backdate_key,
    ("POST", "/_keyguard/ses/sandbox"): ses_sandbox,
    ("GET", "/_keyguard/standins"): lambda _body: ("200 OK", moto_standins.snapshot()),
    ("GET", "/_keyguard/webhooks"): lambda _body: ("200 OK", {"posts": list(WEBHOOK_POSTS)}),
    ("POST", "/_keyguard/cloudtrail/events"): lambda body: moto_cloudtrail.put_events(body, DEFAULT_ACCOUNT),
    ("GET", "/_keyguard/cloudtrail/lookups"): moto_cloudtrail.lookups,
}

STATUS = {200: "200 OK", 400: "400 Bad Request", 404: "404 Not Found", 409: "409 Conflict"}


def _scope(environ):
    """(region, service) from a SigV4 Authorization header's credential scope."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    try:
        _, _, region, service, _ = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        return region, service
    except (IndexError, ValueError):
        return "us-east-1", None


def _body(environ):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    return json.loads(raw or b"{}")


class Launcher:
    """WSGI middleware: our routes first, everything else to moto."""

    def __init__(self, moto_app):
        self.moto_app = moto_app

    def _without_status(self, environ, start_response):
        """moto's Organizations answer, as AWS answers since 9 September 2026: accounts
        carry `State` and no longer the retired `Status`, so code that reads only
        `Status` finds no ACTIVE account here, as it would in a real organisation."""
        captured = {}

        def keep(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        raw = b"".join(self.moto_app(environ, keep))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            start_response(captured["status"], captured["headers"])
            return [raw]
        accounts = body.get("Accounts") or ([body["Account"]] if isinstance(body.get("Account"), dict) else [])
        for account in accounts:
            account.pop("Status", None)
        out = json.dumps(body).encode()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(out))))
        start_response(captured["status"], headers)
        return [out]

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith(("/_keyguard/", "/moto-api/")):
            # Every AWS call, for the benchmark's "API calls" columns.
            action = _action(environ)
            name = "%s:%s" % (_scope(environ)[1], action)
            with REQUESTS_LOCK:
                REQUESTS["total"] += 1
                REQUESTS["by_action"][name] = REQUESTS["by_action"].get(name, 0) + 1
            _log_request(environ, _scope(environ)[1], action, _scope(environ)[0])
        if path == "/moto-api/reset":
            moto_standins.reset()
            moto_cloudtrail.reset()
            WEBHOOK_POSTS.clear()
            SES_SANDBOX.clear()
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        region, service = _scope(environ)
        ssm_action = target[10:] if target.startswith("AmazonSSM.") else None
        if ssm_action in moto_standins.AUTOMATION_ACTIONS or service == "ssm-incidents":
            try:
                body = _body(environ) if environ.get("REQUEST_METHOD") == "POST" else {}
            except ValueError as err:
                reply = {"__type": "SerializationException", "message": str(err)}
                return _json(start_response, "400 Bad Request", reply, "SerializationException")
            if ssm_action:
                status, reply = moto_standins.ssm(ssm_action, body, _caller_account(environ), region)
                code = None
            else:
                query = parse_qs(environ.get("QUERY_STRING", ""))
                method = environ.get("REQUEST_METHOD")
                status, reply, code = moto_standins.incidents(method, path, query, body,
                                                                _caller_account(environ), region)
            return _json(start_response, STATUS.get(status, "500 Internal Server Error"), reply, code)
        hub_call = SECURITY_HUB.get((environ.get("REQUEST_METHOD"), path)) if service == "securityhub" else None
        if hub_call:
            try:
                body = _body(environ)
            except ValueError as err:
                return _json(start_response, "400 Bad Request", {"Message": str(err)}, "InvalidInputException")
            status, reply, code = hub_call(body if isinstance(body, dict) else {}, _caller_account(environ), region)
            return _json(start_response, STATUS.get(status, "500 Internal Server Error"), reply, code)
        if target in moto_cloudtrail.TARGETS:
            try:
                body = _body(environ)
            except ValueError as err:
                reply = {"__type": "SerializationException", "message": str(err)}
                return _json(start_response, "400 Bad Request", reply, "SerializationException")
            status, reply = moto_cloudtrail.lookup_events(body if isinstance(body, dict) else {},
                                                          _caller_account(environ), region)
            return _json(start_response, STATUS.get(status, "500 Internal Server Error"), reply,
                         reply.get("__type"))
        if target in RETIRED_STATUS_ACTIONS:
            return self._without_status(environ, start_response)
        if target == "secretsmanager.RotateSecret":
            raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(raw)
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {}
            refusal = moto_standins.rotate_secret_as_aws(body.get("SecretId"), _caller_account(environ), region,
                                                         body.get("RotationLambdaARN"))
            if refusal:
                return _json(start_response, "400 Bad Request",
                             {"__type": "InvalidRequestException", "message": refusal},
                             "InvalidRequestException")
        if path == "/v2/email/outbound-emails" and environ.get("REQUEST_METHOD") == "POST":
            refusal = _sandbox_refusal(environ, region)
            if refusal:
                return _json(start_response, "400 Bad Request", {"message": refusal}, "MessageRejected")
        if not path.startswith("/_keyguard/"):
            return self.moto_app(environ, start_response)
        handler = ROUTES.get((environ.get("REQUEST_METHOD"), path))
        if handler is None and path.startswith("/_keyguard/webhooks/"):
            handler = lambda body: _webhook(path, body)  # noqa: E731
        if handler is None:
            return _json(start_response, "404 Not Found", {"error": "no route " + path})
        try:
            body = _body(environ)
        except ValueError as err:
            return _json(start_response, "400 Bad Request", {"error": "bad JSON body: " + str(err)})
        if not isinstance(body, dict):
            return _json(start_response, "400 Bad Request", {"error": "body must be a JSON object"})
        status, reply = handler(body)
        return _json(start_response, status, reply)


def _exit_when_stdin_closes():
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    parser.add_argument("--request-log", help="append one JSON line per keyguard request here")
    args = parser.parse_args(argv)

    app = Launcher(DomainDispatcherApplication(create_backend_app))
    if args.request_log:
        os.makedirs(os.path.dirname(os.path.abspath(args.request_log)), exist_ok=True)
        REQUEST_LOG["file"] = open(args.request_log, "a", encoding="utf-8")
    server = make_server(args.host, args.port, app, threaded=True)
    moto_standins.SELF["endpoint"] = f"http://{args.host}:{server.server_port}"
    if args.exit_on_stdin_eof:
        threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()
    print(f"KEYGUARD_MOTO_READY http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
