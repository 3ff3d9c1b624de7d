"""A stand-in for CloudTrail LookupEvents, which moto 5.2.5 does not implement (HTTP 500).

It speaks CloudTrail's JSON 1.1 protocol (X-Amz-Target CloudTrail_20131101.LookupEvents,
as the Rust SDK sends it, or with the com.amazonaws.cloudtrail.v20131101. prefix boto3
sends), so the real
aws-sdk-cloudtrail client serialises and parses as against AWS. It serves the events a
test put in through the test-only route, per account and region, and enforces what the
API reference documents:

- at most one lookup attribute, of the documented keys (InvalidLookupAttributesException);
- MaxResults 1-50, default 50 (InvalidMaxResultsException);
- StartTime not after EndTime (InvalidTimeRangeException);
- newest first; NextToken valid only with the parameters it was issued for
  (InvalidNextTokenException);
- two requests per second per account and region: a third within one second is refused
  with ThrottlingException, as AWS refuses it.

Every request is recorded (time, account, region, attribute, throttled or not), for tests
to check the caller's pacing: GET /_keyguard/cloudtrail/lookups.
"""

import base64
import hashlib
import json
import threading
import time
from datetime import datetime

TARGETS = {"CloudTrail_20131101.LookupEvents",
           "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"}
ATTRIBUTE_KEYS = {"EventId", "EventName", "ReadOnly", "Username", "ResourceType", "ResourceName",
                  "EventSource", "AccessKeyId"}
RATE = 2  # requests per second, per account and region
PAGE = 50

LOCK = threading.Lock()
EVENTS = {}  # (account, region) -> [record]
ACCEPTED = {}  # (account, region) -> [monotonic times of requests served]
LOOKUPS = []  # every request: {"at", "account", "region", "attribute", "throttled"}
DISABLED = set()  # (account, region) not enabled for the account: every request refused
FAILING = set()  # (account, region) whose service is failing: every request a 500


class Refused(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


def reset():
    with LOCK:
        EVENTS.clear()
        ACCEPTED.clear()
        LOOKUPS.clear()
        DISABLED.clear()
        FAILING.clear()


def put_events(body, default_account):
    """POST /_keyguard/cloudtrail/events {"region": ..., "account"?: ..., "events": [records]}:
    the event history of that account (default: the launcher's) and region. With
    "disabled": true the region is one the account has not enabled: AWS refuses every
    request there as it does for an opt-in region left off; "failing": true (false)
    makes (stops making) every request there fail as a service fault."""
    events = body.get("events")
    region = body.get("region") or "us-east-1"
    account = body.get("account") or default_account
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        return "400 Bad Request", {"error": "events must be a list of CloudTrail records"}
    with LOCK:
        EVENTS.setdefault((account, region), []).extend(events)
        if body.get("disabled") is True:
            DISABLED.add((account, region))
        if "failing" in body:
            (FAILING.add if body["failing"] is True else FAILING.discard)((account, region))
    return "200 OK", {"stored": len(events)}


def lookups(_body=None):
    with LOCK:
        return "200 OK", {"lookups": list(LOOKUPS)}


def _time(record):
    raw = record.get("eventTime") or "1970-01-01T00:00:00Z"
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _value(record, key):
    identity = record.get("userIdentity") or {}
    if key == "AccessKeyId":
        return [identity.get("accessKeyId")]
    if key == "Username":
        issuer = (identity.get("sessionContext") or {}).get("sessionIssuer") or {}
        return [identity.get("userName") or issuer.get("userName")]
    if key == "EventName":
        return [record.get("eventName")]
    if key == "EventSource":
        return [record.get("eventSource")]
    if key == "EventId":
        return [record.get("eventID")]
    if key == "ReadOnly":
        return [str(record.get("readOnly", False)).lower()]
    resources = record.get("resources") or []
    field = "type" if key == "ResourceType" else "ARN"
    return [r.get(field) for r in resources if isinstance(r, dict)]


def _check(body):
    attributes = body.get("LookupAttributes") or []
    if len(attributes) > 1:
        raise Refused("InvalidLookupAttributesException",
                      "You cannot specify more than one lookup attribute.")
    for a in attributes:
        if a.get("AttributeKey") not in ATTRIBUTE_KEYS or not a.get("AttributeValue"):
            raise Refused("InvalidLookupAttributesException",
                          "Invalid lookup attribute: %r" % (a.get("AttributeKey"),))
    size = body.get("MaxResults", PAGE)
    if not isinstance(size, int) or not 1 <= size <= PAGE:
        raise Refused("InvalidMaxResultsException", "MaxResults must be from 1 to 50.")
    try:
        start, end = (None if body.get(k) is None else float(body[k]) for k in ("StartTime", "EndTime"))
    except (TypeError, ValueError):
        raise Refused("SerializationException", "StartTime and EndTime are epoch seconds.") from None
    if start is not None and end is not None and start > end:
        raise Refused("InvalidTimeRangeException", "Start time is after end time.")
    return attributes, size, start, end


def _fingerprint(body):
    kept = {k: v for k, v in body.items() if k not in ("NextToken", "MaxResults")}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def _offset(body):
    token = body.get("NextToken")
    if token is None:
        return 0
    try:
        fingerprint, offset = base64.b64decode(token.encode()).decode().split(":", 1)
        if fingerprint != _fingerprint(body):
            raise ValueError
        return int(offset)
    except ValueError:
        raise Refused("InvalidNextTokenException", "Invalid NextToken.") from None


def _throttled(account, region):
    now = time.monotonic()
    served = [t for t in ACCEPTED.get((account, region), []) if now - t < 1.0]
    if len(served) >= RATE:
        ACCEPTED[(account, region)] = served
        return True
    ACCEPTED[(account, region)] = served + [now]
    return False


def _summary(record):
    identity = record.get("userIdentity") or {}
    return {
        "EventId": record.get("eventID"),
        "EventName": record.get("eventName"),
        "ReadOnly": str(record.get("readOnly", False)).lower(),
        "AccessKeyId": identity.get("accessKeyId"),
        "EventTime": _time(record),
        "EventSource": record.get("eventSource"),
        "Username": identity.get("userName"),
        "Resources": [],
        "CloudTrailEvent": json.dumps(record),
    }


def lookup_events(body, account, region):
    """(status, reply) for one LookupEvents request."""
    with LOCK:
        attribute = (body.get("LookupAttributes") or [None])[0]
        throttled = _throttled(account, region)
        LOOKUPS.append({"at": time.time(), "account": account, "region": region,
                        "attribute": attribute, "throttled": throttled})
        if throttled:
            return 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
        if (account, region) in FAILING:
            return 500, {"__type": "InternalFailure", "message": "the stand-in fails this region"}
        if (account, region) in DISABLED:
            return 400, {"__type": "UnrecognizedClientException",
                         "message": "The security token included in the request is invalid."}
        try:
            attributes, size, start, end = _check(body)
            offset = _offset(body)
        except Refused as err:
            return 400, {"__type": err.code, "message": err.message}
        found = []
        for record in EVENTS.get((account, region), []):
            at = _time(record)
            if start is not None and at < start:
                continue
            if end is not None and at > end:
                continue
            if any(a["AttributeValue"] not in _value(record, a["AttributeKey"]) for a in attributes):
                continue
            found.append(record)
        found.sort(key=_time, reverse=True)
        page = found[offset:offset + size]
        reply = {"Events": [_summary(r) for r in page]}
        if offset + size < len(found):
            token = "%s:%d" % (_fingerprint(body), offset + size)
            reply["NextToken"] = base64.b64encode(token.encode()).decode()
        return 200, reply

