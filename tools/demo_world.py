#!/usr/bin/env python3
"""The demo's account in moto: set it up, show it, and check what keyguard did to it.

  demo_world.py setup ENDPOINT                          -> JSON with the key ids
  demo_world.py table ENDPOINT TITLE                    -> every key and role policy
  demo_world.py check ENDPOINT WORLD RESULTS DRY_RUN    -> exit 1 if an expected effect is missing
"""

import json
import sys

import boto3

REVOKE_POLICY = "keyguard-revoke-older-sessions"


def clients(endpoint):
    kw = dict(endpoint_url=endpoint, region_name="us-east-1",
              aws_access_key_id="testing", aws_secret_access_key="testing")
    return boto3.client("iam", **kw), boto3.client("dynamodb", **kw)


def setup(endpoint):
    iam, ddb = clients(endpoint)
    iam.create_user(UserName="alice", Tags=[{"Key": "UserType", "Value": "employee"}])
    leaked, spare = (iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"] for _ in range(2))
    iam.create_user(UserName="bob")
    bob_key = iam.create_access_key(UserName="bob")["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName="bob", AccessKeyId=bob_key, Status="Inactive")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName="app-role", AssumeRolePolicyDocument=json.dumps(trust))
    ddb.create_table(TableName="keyguard-ledger", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "idempotency_key", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "idempotency_key", "KeyType": "HASH"}])
    print(json.dumps({"alice_leaked": leaked, "alice_spare": spare, "bob_key": bob_key}))


def state(endpoint):
    iam, ddb = clients(endpoint)
    keys = {}
    for user in ("alice", "bob"):
        for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
            keys[k["AccessKeyId"]] = (user, k["Status"])
    policies = iam.list_role_policies(RoleName="app-role")["PolicyNames"]
    ledger = ddb.scan(TableName="keyguard-ledger")["Items"]
    return keys, policies, ledger


def table(endpoint, title):
    keys, policies, ledger = state(endpoint)
    print(f"\n-- {title}")
    print(f"   {'user':<8} {'access key':<22} status")
    for key, (user, status) in sorted(keys.items(), key=lambda kv: kv[1]):
        print(f"   {user:<8} {key:<22} {status}")
    print(f"   role app-role inline policies: {', '.join(policies) or '(none)'}")
    print(f"   ledger rows: {len(ledger)}")
    for row in ledger:
        print(f"     {row['action']['S']:<16} {row.get('key_id', {}).get('S', '-'):<22} {row['status']['S']}")


def check(endpoint, world_file, results_file, dry_run):
    world = json.load(open(world_file))
    results = {}
    for line in open(results_file):
        r = json.loads(line)
        results[r["act"]] = r["result"]
    dry = dry_run == "true"
    act_code = 202 if dry else 200
    applied = "planned" if dry else "applied"
    expect_acts = {
        "leaked-key": (act_code, [("deactivate_key", applied)]),
        # The key is already Inactive by then: nothing is even planned (dry run: still Active).
        "redelivery": (act_code, [("deactivate_key", "planned")] if dry else []),
        "already-inactive": (200, []),
        "missing-user": (404, []),
        "session-key": (act_code, [("revoke_sessions", applied)]),
        "root": (403, [("notify", applied)]),
    }
    failures, passed = [], 0

    def expect(ok, what):
        nonlocal passed
        if ok:
            passed += 1
        else:
            failures.append(what)

    for act, (code, steps) in expect_acts.items():
        r = results.get(act)
        expect(r is not None, f"{act}: no result")
        if r is None:
            continue
        got = [(s["action"]["type"], s["outcome"]) for s in r.get("steps", [])]
        expect(r["statusCode"] == code, f"{act}: statusCode {r['statusCode']}, expected {code}")
        expect(got == steps, f"{act}: steps {got}, expected {steps}")
    keys, policies, ledger = state(endpoint)
    leaked = "Active" if dry else "Inactive"
    expect(keys[world["alice_leaked"]][1] == leaked, f"alice's leaked key is {keys[world['alice_leaked']][1]}, expected {leaked}")
    expect(keys[world["alice_spare"]][1] == "Active", "alice's other key must stay Active")
    expect(keys[world["bob_key"]][1] == "Inactive", "bob's key must stay Inactive")
    expect((REVOKE_POLICY in policies) != dry, f"app-role policies {policies}")
    want_rows = 0 if dry else 3
    expect(len(ledger) == want_rows, f"{len(ledger)} ledger rows, expected {want_rows}")
    for f in failures:
        print(f"demo: MISSING: {f}")
    print(f"demo: {passed} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"setup": setup, "table": table, "check": check}[cmd](*args)
