#!/usr/bin/env python3
"""The demo's account in moto: set it up, show it, and check what keyguard did to it.

  demo_world.py setup ENDPOINT                          -> JSON with the key ids
  demo_world.py table ENDPOINT TITLE                    -> every key and role policy
  demo_world.py check ENDPOINT WORLD RESULTS DRY_RUN    -> exit 1 if an expected effect is missing
"""

import base64
import json
import sys
import urllib.request
from datetime import datetime, timedelta, timezone

import boto3

REVOKE_POLICY = "keyguard-revoke-older-sessions"
# What the translator does for a finding on a user's key, in order.
TRANSLATOR_STEPS = ("deactivate_key", "revoke_sessions", "start_runbook", "open_incident", "notify")
RUNBOOK = "keyguard-RotateCompromisedKey"
USERS = ("ci-deployer", "admin", "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan")
# The webhook secrets createkey-detector reads; their URLs point at the launcher's sink.
WEBHOOK_SECRETS = {"discord": "keyguard/discord-webhook", "slack": "keyguard/slack-webhook"}
SENDER = "keyguard@example.com"
# age-rotation's fleet: (user, UserType, key age in days, Active?)
AGED = (("erin", "employee", 85, True), ("frank", "employee", 95, False),
        ("grace", "machine", 95, True), ("heidi", "employee", 71, True), ("ivan", None, 100, True))
TOPIC = "keyguard-notices"


def clients(endpoint):
    kw = dict(endpoint_url=endpoint, region_name="us-east-1",
              aws_access_key_id="testing", aws_secret_access_key="testing")
    return boto3.client("iam", **kw), boto3.client("dynamodb", **kw)


def secret_key(endpoint, arn, stage):
    kw = dict(endpoint_url=endpoint, region_name="us-east-1",
              aws_access_key_id="testing", aws_secret_access_key="testing")
    value = boto3.client("secretsmanager", **kw).get_secret_value(SecretId=arn, VersionStage=stage)
    return json.loads(value["SecretString"])["AccessKeyId"]


def mail(endpoint):
    with urllib.request.urlopen(endpoint + "/moto-api/data.json") as reply:
        return json.load(reply).get("ses", {}).get("Message", [])


def notices(endpoint):
    with urllib.request.urlopen(endpoint + "/moto-api/data.json") as reply:
        data = json.load(reply)
    return [n for t in data.get("sns", {}).get("Topic", []) if t.get("arn", "").endswith(TOPIC)
            for n in t.get("sent_notifications", [])]


def webhook_posts(endpoint):
    with urllib.request.urlopen(endpoint + "/_keyguard/webhooks") as reply:
        return json.load(reply)["posts"]


def standins(endpoint):
    with urllib.request.urlopen(endpoint + "/_keyguard/standins") as reply:
        return json.load(reply)


def security_hub_findings(endpoint):
    """keyguard's findings in this account's Security Hub."""
    hub = boto3.client("securityhub", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    return [f for f in hub.get_findings()["Findings"] if f.get("Id", "").startswith("keyguard/")]


def member_client(endpoint, account):
    """IAM in member `account`, as a fixture's session of the member role."""
    kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    creds = boto3.client("sts", **kw).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/keyguard-member", RoleSessionName="keyguard-fixture")["Credentials"]
    return boto3.client("iam", **{**kw, "aws_access_key_id": creds["AccessKeyId"],
                                  "aws_secret_access_key": creds["SecretAccessKey"],
                                  "aws_session_token": creds["SessionToken"]})


def setup(endpoint):
    iam, ddb = clients(endpoint)
    kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    # Seed 004: ci-deployer's key leaked; with it, the attacker made a key for admin.
    iam.create_user(UserName="ci-deployer", Tags=[{"Key": "UserType", "Value": "machine"}])
    ci_leaked = iam.create_access_key(UserName="ci-deployer")["AccessKey"]["AccessKeyId"]
    iam.create_user(UserName="admin", Tags=[{"Key": "UserType", "Value": "employee"}])
    admin_own = iam.create_access_key(UserName="admin")["AccessKey"]["AccessKeyId"]
    admin_backdoor = iam.create_access_key(UserName="admin")["AccessKey"]["AccessKeyId"]
    sm = boto3.client("secretsmanager", **kw)
    for channel, name in WEBHOOK_SECRETS.items():
        sm.create_secret(Name=name, SecretString=f"{endpoint}/_keyguard/webhooks/{channel}/demo-token")
    iam.create_user(UserName="alice", Tags=[{"Key": "UserType", "Value": "employee"}])
    leaked, spare = (iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"] for _ in range(2))
    iam.create_user(UserName="bob")
    bob_key = iam.create_access_key(UserName="bob")["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName="bob", AccessKeyId=bob_key, Status="Inactive")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName="app-role", AssumeRolePolicyDocument=json.dumps(trust))
    # carol's key is the one GuardDuty finds; the runbook comes from infra/.
    iam.create_user(UserName="carol", Tags=[{"Key": "UserType", "Value": "employee"}])
    carol_keys = [iam.create_access_key(UserName="carol")["AccessKey"] for _ in range(2)]
    carol_leaked, carol_spare = (k["AccessKeyId"] for k in carol_keys)
    # The attacker used carol's key (IAM records its last use): once it is contained and
    # its sessions denied, a later finding about it has no session left to end.
    boto3.client("iam", **{**kw, "aws_access_key_id": carol_leaked,
                           "aws_secret_access_key": carol_keys[0]["SecretAccessKey"]}).get_user()
    boto3.client("ssm", **kw).create_document(
        Name=RUNBOOK, DocumentType="Automation", DocumentFormat="YAML",
        Content=open("infra/shared/runbook-rotate-compromised-key.yaml").read())
    # As infra/shared's table: the key, and the indexes `keyguard audit` and `undo` query.
    indexed = ("key_id", "user_key", "event_id", "day")
    ddb.create_table(TableName="keyguard-ledger", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"}
                                           for a in ("idempotency_key", "at") + indexed],
                     KeySchema=[{"AttributeName": "idempotency_key", "KeyType": "HASH"}],
                     GlobalSecondaryIndexes=[
                         {"IndexName": "by-" + a.split("_")[0], "Projection": {"ProjectionType": "ALL"},
                          "KeySchema": [{"AttributeName": a, "KeyType": "HASH"},
                                        {"AttributeName": "at", "KeyType": "RANGE"}]}
                         for a in indexed])
    # dave is a machine user whose key lives in a keyguard-managed secret.
    iam.create_user(UserName="dave", Tags=[{"Key": "UserType", "Value": "machine"}])
    dave = iam.create_access_key(UserName="dave")["AccessKey"]
    secret = boto3.client("secretsmanager", **kw).create_secret(
        Name="keyguard/iam-user/dave",
        SecretString=json.dumps({"UserName": "dave", "AccessKeyId": dave["AccessKeyId"],
                                 "SecretAccessKey": dave["SecretAccessKey"]}),
        Tags=[{"Key": "keyguard:iam-user", "Value": "dave"}])
    topic = boto3.client("sns", **kw).create_topic(Name=TOPIC)["TopicArn"]
    # The hand-off MAC key (infra/shared's HandoffKey): the detector signs with it,
    # deactivate-key verifies, and the demo signs its own direct hand-offs with it too.
    handoff_key = boto3.client("kms", **kw).create_key(
        KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    # age-rotation's people, their keys back-dated through the launcher's test-only route.
    boto3.client("sesv2", **kw).create_email_identity(EmailIdentity=SENDER)
    aged = {}
    now = datetime.now(timezone.utc)
    for user, kind, days, active in AGED:
        tags = [{"Key": "Email", "Value": f"{user}@example.com"}]
        if kind:
            tags.append({"Key": "UserType", "Value": kind})
        iam.create_user(UserName=user, Tags=tags)
        key = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
        created = (now - timedelta(days=days, hours=1)).isoformat()
        request = urllib.request.Request(endpoint + "/_keyguard/iam/backdate-key", method="POST",
                                         data=json.dumps({"user": user, "key_id": key, "create_date": created}).encode())
        urllib.request.urlopen(request).read()
        if not active:
            iam.update_access_key(UserName=user, AccessKeyId=key, Status="Inactive")
        aged[user] = key
    # An organisation: this account manages it, and member account B has its own alice,
    # whose key GuardDuty (administered from here) finds. Made through a fixture's session
    # in B, so none of it counts as keyguard's own requests.
    org = boto3.client("organizations", **kw)
    org.create_organization(FeatureSet="ALL")
    member = org.create_account(Email="member-b@example.com", AccountName="member-b")[
        "CreateAccountStatus"]["AccountId"]
    member_iam = member_client(endpoint, member)
    member_iam.create_user(UserName="alice")
    member_leaked, member_spare = (member_iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
                                   for _ in range(2))
    print(json.dumps({"ci_leaked": ci_leaked, "admin_own": admin_own, "admin_backdoor": admin_backdoor,
                      "alice_leaked": leaked, "alice_spare": spare, "bob_key": bob_key,
                      "carol_leaked": carol_leaked, "carol_spare": carol_spare,
                      "dave_old": dave["AccessKeyId"], "dave_secret": secret["ARN"], "topic": topic,
                      "handoff_key": handoff_key,
                      "member": member, "member_leaked": member_leaked, "member_spare": member_spare,
                      "aged": aged}))


# The fields a hand-off's MAC covers, in order (keyguard_core::events::Handoff::signed_message).
SIGNED_FIELDS = ("accessKeyId", "accountId", "userName", "roleName", "classifierSource", "eventId", "issuedAt")


def sign(endpoint, key_id, path):
    """Signs a hand-off file in place as createkey-detector does, with kms:GenerateMac. If
    this ever disagreed with the Rust message, deactivate-key would refuse the demo's
    direct hand-offs and the demo's checks would fail."""
    kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    h = json.load(open(path))
    h.pop("mac", None)
    h["issuedAt"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    parts = [json.dumps(h.get(f), ensure_ascii=False, separators=(",", ":")) for f in SIGNED_FIELDS]
    message = ("keyguard-handoff-v1\n" + "\n".join(parts)).encode()
    mac = boto3.client("kms", **kw).generate_mac(KeyId=key_id, MacAlgorithm="HMAC_SHA_256", Message=message)["Mac"]
    h["mac"] = base64.b64encode(mac).decode()
    json.dump(h, open(path, "w"))


def user_policies(endpoint, user):
    iam, _ = clients(endpoint)
    return iam.list_user_policies(UserName=user)["PolicyNames"]


def state(endpoint):
    iam, ddb = clients(endpoint)
    keys = {}
    canaries = [u["UserName"] for u in iam.list_users(PathPrefix="/keyguard/canary/")["Users"]]
    for user in list(USERS) + canaries:
        for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
            keys[k["AccessKeyId"]] = (user, k["Status"])
    policies = iam.list_role_policies(RoleName="app-role")["PolicyNames"]
    ledger = ddb.scan(TableName="keyguard-ledger")["Items"]
    return keys, policies, ledger, standins(endpoint)


def table(endpoint, title):
    keys, policies, ledger, stood_in = state(endpoint)
    print(f"\n-- {title}")
    print(f"   {'user':<12} {'access key':<22} status")
    for key, (user, status) in sorted(keys.items(), key=lambda kv: kv[1]):
        print(f"   {user:<12} {key:<22} {status}")
    print(f"   role app-role inline policies: {', '.join(policies) or '(none)'}")
    print(f"   ledger rows: {len(ledger)}")
    for row in sorted(ledger, key=lambda r: r["idempotency_key"]["S"]):
        if "held_by" in row:
            until = datetime.fromtimestamp(int(row["held_until"]["N"]), timezone.utc).strftime("%H:%M:%S")
            print(f"     window {row['idempotency_key']['S']} held until {until} UTC")
        else:
            print(f"     {row['action']['S']:<16} {row.get('key_id', {}).get('S', '-'):<22} {row['status']['S']}")
    for e in stood_in["automation_executions"]:
        out = e.get("Outputs", {}).get("rotateManagedSecret.Message", [""])[0]
        print(f"   runbook {e['DocumentName']} for {e['Parameters']['UserName'][0]}: {e['AutomationExecutionStatus']}: {out}")
    for i in stood_in["incidents"]:
        r = i["record"]
        print(f"   incident (impact {r['impact']}): {r['title']}")
    for m in mail(endpoint):
        to = ", ".join(m["destinations"]["ToAddresses"])
        print(f"   email to {to}: {m['subject']}")
    for p in webhook_posts(endpoint):
        b = p["body"]
        title = b["embeds"][0]["title"] if p["channel"] == "discord" else b["blocks"][0]["text"]["text"]
        print(f"   {p['channel']} alert: {title}")
    for f in security_hub_findings(endpoint):
        key = f["Resources"][0].get("Details", {}).get("AwsIamAccessKey", {})
        print(f"   Security Hub finding ({f['Severity']['Label']}): {f['Title']}"
              f" [{key.get('AccessKeyId', f['Resources'][0]['Id'])} in {key.get('AccountId', '-')}]")
    sent = notices(endpoint)
    print(f"   SNS notices published: {len(sent)}")
    for n in sent:
        print(f"     {n[2] if len(n) > 2 and n[2] else json.loads(n[1]).get('subject', '')}")


def emf_functions(watch_log):
    """The functions that wrote an EMF document (one a invocation) to the emulator's log,
    and the documents whose directive is not keyguard's."""
    seen, wrong = set(), []
    for line in open(watch_log, errors="replace"):
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        doc = json.loads(line)
        directive = doc["_aws"]["CloudWatchMetrics"][0]
        names = [m["Name"] for m in directive["Metrics"]]
        if directive["Namespace"] != "keyguard" or not all(isinstance(doc.get(n), (int, float)) for n in names):
            wrong.append(line.strip())
        seen.add(doc["function"])
    return seen, wrong


def ocsf_lines(watch_log):
    """The OCSF Detection Findings a function logged (LOG_FORMAT=ocsf), and for each the
    OCSF schema's complaints (tools/check_ocsf.py's validator)."""
    import check_ocsf

    found = []
    for line in open(watch_log, errors="replace"):
        if not line.startswith("{") or '"class_uid":2004' not in line.replace(" ", ""):
            continue
        event = json.loads(line)
        errors = [e.message for e in check_ocsf.validator(event["metadata"]["version"],
                                                          event["class_uid"]).iter_errors(event)]
        found.append((event, errors))
    return found


def check(endpoint, world_file, results_file, dry_run, watch_log=None, org_log=None):
    world = json.load(open(world_file))
    results = {}
    for line in open(results_file):
        r = json.loads(line)
        results[r["act"]] = r["result"]
    dry = dry_run == "true"
    act_code = 202 if dry else 200
    applied = "planned" if dry else "applied"
    detector = [("hand_off", applied), ("alert", applied), ("alert", applied), ("notify", applied)]
    # A key's creation is remembered first, for the rules that compare later calls with it.
    remembered = [("remember", applied)] + detector
    expect_acts = {
        "backdoor-key": (act_code, remembered),
        "gpu-instances": (act_code, detector),
        "backdoor-redelivery": (act_code, [(a, "planned" if dry else "duplicate") for a, _ in remembered]),
        # A canary's call: alerts only, never a hand-off; the next call inside its window is
        # suppressed (dry run records nothing, so it is planned again).
        "canary-used": (act_code, [("alert", applied), ("alert", applied), ("notify", applied)]),
        "canary-burst": (act_code, [(a, "planned" if dry else "suppressed") for a in ("alert", "alert", "notify")]),
        # The key, then the sessions it may have minted (they outlive its deactivation),
        # then what the key did read from CloudTrail (the demo's history is empty).
        "leaked-key": (act_code, [("deactivate_key", applied), ("revoke_sessions", applied),
                                  ("sweep_history", applied)]),
        # The key is already Inactive by then: only the sessions' step is planned, and the
        # ledger has it done (dry run: all planned again).
        "redelivery": (act_code, [("deactivate_key", "planned"), ("revoke_sessions", "planned"),
                                  ("sweep_history", "planned")] if dry
                       else [("revoke_sessions", "duplicate"), ("sweep_history", "duplicate")]),
        # Whoever deactivated bob's key, sessions it minted still work: they end, and what
        # the key did is read.
        "already-inactive": (act_code, [("revoke_sessions", applied), ("sweep_history", applied)]),
        # Nobody holds the key, even on a second read: a notice, never silence.
        "missing-user": (404, [("notify", applied)]),
        # The same hand-off without its MAC: anyone in the account could have sent it.
        "forged-handoff": (403, []),
        "session-key": (act_code, [("revoke_sessions", applied)]),
        "root": (403, [("notify", applied)]),
        # Member B's key, found by GuardDuty and received by the home account: contained
        # in B, through the member role, as at home.
        # Its emulator reports to Security Hub (SECURITY_HUB=true): one finding, imported
        # last, so it says how every step (the sweep's too) ended.
        "member-finding": (act_code, [("deactivate_key", applied), ("revoke_sessions", applied),
                                      ("sweep_history", applied), ("import_finding", applied)]),
        # The key, its sessions, the runbook and the paperwork; then what the key did, read
        # from CloudTrail once it is contained (the demo's history is empty).
        "gd-finding": (act_code, [(a, applied) for a in TRANSLATOR_STEPS] + [("sweep_history", applied)]),
        # Dry run records nothing, so a redelivery is planned again; applied, it is a duplicate.
        # Applied, carol's key is Inactive by then and was last used before the cut-off: only
        # the rest is planned, and each is a duplicate.
        "gd-redelivery": (act_code, [(a, "planned") for a in TRANSLATOR_STEPS + ("sweep_history",)] if dry
                          else [(a, "duplicate") for a in TRANSLATOR_STEPS[2:] + ("sweep_history",)]),
        # The key is Inactive and was last used before the cut-off in force: nothing to
        # contain, and the rest is held by the window (dry run: all planned again).
        # A new finding reads the key's history again, as deactivate-key does for a new
        # event about a contained key.
        "gd-second-finding": (act_code, [(a, "planned") for a in TRANSLATOR_STEPS + ("sweep_history",)] if dry
                              else [(a, "suppressed") for a in TRANSLATOR_STEPS[2:]] + [("sweep_history", "applied")]),
        "gd-custom-source": (403, []),
        # Each person is told first; their key action waits for that email.
        "age-scan": (act_code, [("send_email", applied), ("deactivate_key", applied),
                                 ("send_email", applied), ("delete_key", applied),
                                 ("send_email", applied), ("send_email", applied), ("notify", applied)]),
        # Applied: erin's, grace's and heidi's emails say the same again (frank's key is gone)
        # and the day's summary went out. Dry run recorded nothing: all planned again.
        "age-scan-again": (202, [("send_email", "planned"), ("deactivate_key", "planned"),
                                 ("send_email", "planned"), ("delete_key", "planned"),
                                 ("send_email", "planned"), ("send_email", "planned"),
                                 ("notify", "planned")]) if dry else
                          (200, [("send_email", "duplicate")] * 3 + [("notify", "duplicate")]),
        "rotate-create": (act_code, [("create_pending_key", applied)]),
        # Dry run stores nothing, so the later steps find no pending key: 500 each.
        "rotate-set": (500, []) if dry else (200, [("notify", "applied")]),
        "rotate-test": (500, []) if dry else (200, [("test_pending_key", "applied")]),
        "rotate-finish": (500, []) if dry else (200, [("promote_pending", "applied"), ("deactivate_key", "applied")]),
    }
    if not dry:
        # alice's key was a false positive: keyguard undo takes the policy back, then the key.
        expect_acts["false-positive-undo"] = (200, [("restore_policy", "applied"), ("reactivate_key", "applied"),
                                                    ("notify", "applied")])
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
        if act.startswith("rotate-"):
            # Secrets Manager sees only success or failure: a step that did not complete
            # must fail the invocation.
            failed = bool(r.get("invocation_failed"))
            expect(failed == (code >= 400), f"{act}: invocation_failed={failed} with statusCode {code}")
    keys, policies, ledger, stood_in = state(endpoint)
    leaked = "Active" if dry else "Inactive"
    # Seed 004: both handed-off keys contained, admin's own key untouched, one post per
    # channel per act.
    expect(keys[world["admin_backdoor"]][1] == leaked, f"admin's backdoor key is {keys[world['admin_backdoor']][1]}, expected {leaked}")
    expect(keys[world["ci_leaked"]][1] == leaked, f"ci-deployer's leaked key is {keys[world['ci_leaked']][1]}, expected {leaked}")
    expect(keys[world["admin_own"]][1] == "Active", "admin's own key must stay Active")
    posts = sorted(p["channel"] for p in webhook_posts(endpoint))
    want_posts = [] if dry else ["discord"] * 3 + ["slack"] * 3
    # The canary: made with its secret in a 0600 file, alerted on, never contained.
    canary = results.get("canary-created", {})
    expect(canary.get("created") is True and canary.get("file_mode") == "0o600",
           f"keyguard canary create: {canary}")
    expect(keys.get(canary.get("key_id"), ("", ""))[1] == "Active", "the canary's key must stay Active")
    canary_posts = [p for p in webhook_posts(endpoint) if canary.get("key_id", "?") in json.dumps(p["body"])]
    expect(len(canary_posts) == (0 if dry else 2), f"{len(canary_posts)} canary posts, expected one per channel")
    expect(posts == want_posts, f"webhook posts {posts}, expected {want_posts}")
    expect(all(p["body"].get("allowed_mentions") == {"parse": []} for p in webhook_posts(endpoint) if p["channel"] == "discord"),
           "every Discord post has allowed_mentions empty")
    # Contained, then undone as a false positive: Active again.
    expect(keys[world["alice_leaked"]][1] == "Active", f"alice's undone key is {keys[world['alice_leaked']][1]}")
    expect(keys[world["alice_spare"]][1] == "Active", "alice's other key must stay Active")
    expect(keys[world["bob_key"]][1] == "Inactive", "bob's key must stay Inactive")
    expect((REVOKE_POLICY in policies) != dry, f"app-role policies {policies}")
    # Each contained user's older sessions are denied; a user keyguard never contained has
    # no such policy.
    # alice's was taken back by keyguard undo.
    for user, contained in (("alice", False), ("carol", True), ("bob", True), ("grace", False)):
        has = REVOKE_POLICY in user_policies(endpoint, user)
        expect(has == (contained and not dry), f"{user}'s inline policies: revocation {has}")
    expect(keys[world["carol_leaked"]][1] == leaked, f"carol's key is {keys[world['carol_leaked']][1]}, expected {leaked}")
    expect(keys[world["carol_spare"]][1] == "Active", "carol's other key must stay Active")
    aged = world["aged"]
    expect(keys[aged["erin"]][1] == ("Active" if dry else "Inactive"), "erin's 85-day key")
    expect((aged["frank"] in keys) == dry, "frank's 95-day Inactive key is deleted")
    for user in ("grace", "heidi", "ivan"):
        expect(keys[aged[user]][1] == "Active", f"{user}'s key is never touched")
    inbox = sorted(a for m in mail(endpoint) for a in m["destinations"]["ToAddresses"])
    want_inbox = [] if dry else [f"{u}@example.com" for u in ("erin", "frank", "grace", "heidi")]
    expect(inbox == want_inbox, f"emails to {inbox}, expected {want_inbox}")
    now_current = secret_key(endpoint, world["dave_secret"], "AWSCURRENT")
    expect((now_current == world["dave_old"]) == dry, f"dave's secret holds {now_current} (old {world['dave_old']})")
    expect(keys[world["dave_old"]][1] == leaked, f"dave's old key is {keys[world['dave_old']][1]}, expected {leaked}")
    if not dry:
        expect(keys.get(now_current, ("", ""))[1] == "Active", "dave's new key must be Active")
    created = [n for n in notices(endpoint) if "created" in json.dumps(n) and "dave" in json.dumps(n)]
    expect(len(created) == (0 if dry else 1), f"{len(created)} key-creation notices")
    # The organisation: member B's alice's key contained in B through keyguard-member, her
    # other key untouched; the home account's alice (checked above) is not B's.
    member_keys = {k["AccessKeyId"]: k["Status"] for k in
                   member_client(endpoint, world["member"]).list_access_keys(UserName="alice")["AccessKeyMetadata"]}
    expect(member_keys.get(world["member_leaked"]) == leaked,
           f"member B's alice's key is {member_keys.get(world['member_leaked'])}, expected {leaked}")
    expect(member_keys.get(world["member_spare"]) == "Active", "member B's alice's other key must stay Active")
    member_act = results.get("member-finding", {})
    expect(all(s.get("scope", {}).get("account") == world["member"] for s in member_act.get("steps", [])
               if s["action"]["type"] != "import_finding"),
           "every step of the member's finding names member B's account")
    # Security Hub: the member's containment is one finding of this account, about B's key.
    findings = security_hub_findings(endpoint)
    expect(len(findings) == (0 if dry else 1), f"{len(findings)} Security Hub findings, expected {0 if dry else 1}")
    for f in findings:
        key = f["Resources"][0].get("Details", {}).get("AwsIamAccessKey", {})
        expect(key.get("AccessKeyId") == world["member_leaked"] and key.get("AccountId") == world["member"]
               and f["AwsAccountId"] != world["member"],
               f"the finding names B's key in B and is this account's: {f['Resources'][0]}, {f['AwsAccountId']}")
    executions, incidents = len(stood_in["automation_executions"]), len(stood_in["incidents"])
    want = 0 if dry else 1
    expect(executions == want, f"{executions} runbook executions, expected {want}")
    expect(incidents == want, f"{incidents} incidents, expected {want}")
    rows = {}
    records = {row["idempotency_key"]["S"]: row for row in ledger
               if row["idempotency_key"]["S"].startswith("keyguard:deactivated:")}
    # The detector's memory: what it keeps of created keys and users and of a key's
    # launches, beside the steps (no function of its own).
    # (`memory:ACCOUNT:WHAT`, shown without the prefix and the account)
    memory = sorted(row["idempotency_key"]["S"].split(":", 2)[2] for row in ledger
                    if row["idempotency_key"]["S"].startswith("memory:"))
    for row in ledger:
        key = row["idempotency_key"]["S"]
        if key in records or key.startswith("memory:"):
            continue
        fn = row["function"]["S"]
        rows[fn] = rows.get(fn, 0) + 1
    # Each key keyguard deactivated has its record (age-rotation's grace and retention
    # read it); a contained one says so.
    if not dry:
        leaked = records.get("keyguard:deactivated:" + world["alice_leaked"], {})
        expect("contained_at" in leaked, f"alice's contained key has no containment record: {leaked}")
    # The translator: 5 steps + 3 windows, and the second finding's 3 suppressed rows;
    # each finding's sweep.
    # deactivate-key: leaked-key's key and sessions, bob's sessions, session-key, root,
    # missing-user's notice, and the key and sessions of each of the two hand-offs the
    # detector made (the forged hand-off writes nothing), and the sweep of each of those
    # four keys; the detector: 2 x 4, then the canary's three alerts, their three windows
    # and the burst's three suppressed rows.
    # and the remember step of the backdoor key's creation (its redelivery a duplicate);
    # keyguard undo: alice's policy, her key, and the notice.
    # deactivate-key's organisation act: the member's key, its sessions, its sweep, and its
    # Security Hub finding with the window that keeps a redelivery from overwriting it.
    want_rows = {} if dry else {"deactivate-key": 19, "guardduty-translator": 13, "secrets-rotator": 5,
                                "age-rotation": 7, "createkey-detector": 18, "keyguard-undo": 3}
    # The detector remembers the backdoor key's creation and the leaked key's launch; a
    # dry run writes no memory.
    want_memory = [] if dry else sorted([f"key/{world['admin_backdoor']}",
                                         f"launches/{world['ci_leaked']}"])
    expect(memory == want_memory, f"the detector's memory holds {memory}, expected {want_memory}")
    expect(rows == want_rows, f"ledger rows per function {rows}, expected {want_rows}")
    if org_log:
        # The organisation's emulator logs its decision as OCSF too; a dry run logs none.
        logged = ocsf_lines(org_log)
        expect(len(logged) == (0 if dry else 1), f"{len(logged)} OCSF findings logged, expected {0 if dry else 1}")
        for event, errors in logged:
            expect(not errors, f"the OCSF finding is not valid OCSF: {errors[:2]}")
            keys = [r.get("uid") for r in event.get("resources", [])]
            expect(world["member_leaked"] in keys, f"the OCSF finding names {keys}, not B's key")
    if watch_log:
        seen, wrong = emf_functions(watch_log)
        want = {"deactivate-key", "guardduty-translator", "age-rotation", "createkey-detector", "secrets-rotator"}
        expect(seen == want and not wrong, f"metrics lines from {sorted(seen)}, malformed {wrong[:2]}")
    for f in failures:
        print(f"demo: MISSING: {f}")
    print(f"demo: {passed} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"setup": setup, "table": table, "check": check, "sign": sign}[cmd](*args)
