#!/usr/bin/env python3
"""Every EventBridge pattern in infra/ against every sample event in events/, decided by
EventBridge's own matcher in moto (TestEventPattern is a stub there; rule delivery is real).

For each template's EventBridgeRule: put the rule with the template's own pattern and an SQS
target, put every sample that is an EventBridge event, read which arrived. Exit 1 unless each
rule receives exactly the samples EXPECTED names for it.

  check_patterns.py ENDPOINT
  check_patterns.py --launch          (starts the project's moto launcher for the check)
  check_patterns.py --json TEMPLATE   (the template as JSON, short-form tags as {"Ref": ...})
"""

import glob
import json
import os
import sys

import boto3
import yaml

# Which samples each rule must receive ("function", or "function/Rule" where a function has
# rules that receive different samples); every other EventBridge-shaped sample must not arrive.
EXPECTED = {
    # Any call by a canary, and nothing else: the detector's other rule takes no canary
    # call unless its name is watched too.
    "createkey-detector/CanaryCalls": {
        "createkey-detector/canary-key-used.json",
    },
    "createkey-detector": {
        "createkey-detector/backdoor-key.json",
        "createkey-detector/console-backdoor.json",
        "createkey-detector/role-trust-backdoor.json",
        "createkey-detector/mfa-removed.json",
        "createkey-detector/federation-token.json",
        "createkey-detector/inline-admin-policy.json",
        "createkey-detector/logging-disabled.json",
        "createkey-detector/trail-narrowed.json",
        # No rule fires on it: the detector remembers which key minted the session.
        "createkey-detector/session-token.json",
        "createkey-detector/gpu-instances.json",
        "createkey-detector/exemption-tagged.json",
        # deactivate-key's CloudTrail sample is a RunInstances by a long-term key, which the
        # detector should see too.
        "deactivate-key/cloudtrail-iam-user.json",
        # ...and its root sample is a CreateUser, which the detector reads for the
        # exemption tag (exemption-tagged); this one carries none, so no rule fires.
        "deactivate-key/root.json",
    },
    "guardduty-translator": {
        "guardduty-translator/assumed-role.json",
        "guardduty-translator/iam-user.json",
        "guardduty-translator/iam-user-second-finding.json",
        "guardduty-translator/root.json",
        "guardduty-translator/sample.json",
        "deactivate-key/guardduty-iam-user.json",
        # not seed-custom-source.json: a custom source must never reach a function.
    },
    # The regional forwarder (infra/regional) takes, in every other Region, what the
    # home rules take there: the detector's calls but IAM's, canaries' calls, findings.
    "regional/ForwardCalls": {
        "createkey-detector/federation-token.json",
        "createkey-detector/session-token.json",
        "createkey-detector/gpu-instances.json",
        "createkey-detector/logging-disabled.json",
        "createkey-detector/trail-narrowed.json",
        "deactivate-key/cloudtrail-iam-user.json",
    },
    "regional/ForwardCanaryCalls": {
        "createkey-detector/canary-key-used.json",
    },
    # In a member account: its IAM calls (us-east-1) and its Health risk events.
    "regional/ForwardIamCalls": {
        "createkey-detector/backdoor-key.json",
        "createkey-detector/console-backdoor.json",
        "createkey-detector/role-trust-backdoor.json",
        "createkey-detector/mfa-removed.json",
        "createkey-detector/inline-admin-policy.json",
        "createkey-detector/exemption-tagged.json",
        "deactivate-key/root.json",
    },
    "regional/ForwardHealth": {
        "deactivate-key/health-exposed-key.json",
        "deactivate-key/health-exposure-suspected.json",
        "deactivate-key/health-compromised.json",
        "deactivate-key/health-compromise-suspected.json",
        "deactivate-key/health-iam-quarantine.json",
        "deactivate-key/health-console-compromise.json",
        "deactivate-key/health-organization-view.json",
    },
    "regional/ForwardFindings": {
        "guardduty-translator/assumed-role.json",
        "guardduty-translator/iam-user.json",
        "guardduty-translator/iam-user-second-finding.json",
        "guardduty-translator/root.json",
        "guardduty-translator/sample.json",
        "deactivate-key/guardduty-iam-user.json",
    },
    "deactivate-key": {
        "deactivate-key/health-exposed-key.json",
        "deactivate-key/health-exposure-suspected.json",
        "deactivate-key/health-compromised.json",
        "deactivate-key/health-compromise-suspected.json",
        "deactivate-key/health-iam-quarantine.json",
        "deactivate-key/health-console-compromise.json",
        "deactivate-key/health-organization-view.json",
    },
}


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags kept as {tag: value}."""


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node)
    else:
        value = loader.construct_mapping(node)
    return {suffix: value}


CfnLoader.add_multi_constructor("!", _tag)


def rules(root):
    for path in sorted(glob.glob(os.path.join(root, "infra", "*", "template.yaml"))):
        function = os.path.basename(os.path.dirname(path))
        template = yaml.load(open(path), Loader=CfnLoader)
        for logical, resource in template.get("Resources", {}).items():
            # A plain rule, where SAM's event source cannot say what the rule needs.
            if resource.get("Type") == "AWS::Events::Rule" and "EventPattern" in resource.get("Properties", {}):
                yield function, logical, resource["Properties"]["EventPattern"]
            for name, event in (resource.get("Properties", {}).get("Events") or {}).items():
                if event.get("Type") == "EventBridgeRule":
                    yield function, name, event["Properties"]["Pattern"]


def samples(root):
    for path in sorted(glob.glob(os.path.join(root, "events", "*", "*.json"))):
        event = json.load(open(path))
        if isinstance(event, dict) and "detail-type" in event and "source" in event:
            yield os.path.relpath(path, os.path.join(root, "events")), event


# Each forwarding rule and the home rule whose events it forwards: the same pattern, but
# for the sources AWS records globally (IAM's calls reach the home Region by themselves).
# Each entry: (home rule, sources left out, sources kept alone or None for all others).
FORWARDS = {
    "regional/ForwardCalls": ("createkey-detector/DangerousCalls", {"aws.iam"}, None),
    "regional/ForwardIamCalls": ("createkey-detector/DangerousCalls", set(), {"aws.iam"}),
    "regional/ForwardCanaryCalls": ("createkey-detector/CanaryCalls", set(), None),
    "regional/ForwardFindings": ("guardduty-translator/Finding", set(), None),
    "regional/ForwardHealth": ("deactivate-key/ExposedKey", set(), None),
}


def forwarding_drift(found):
    """How each forwarding rule's pattern differs from its home rule's, if it does."""
    patterns = {f"{f}/{n}": p for f, n, p in found}
    drift = []
    for forward, (home, global_sources, only) in FORWARDS.items():
        if forward not in patterns or home not in patterns:
            drift.append(f"{forward} or {home} is missing from infra/")
            continue
        want = dict(patterns[home])
        if "source" in want:
            want["source"] = [s for s in want["source"]
                              if s not in global_sources and (only is None or s in only)]
        if patterns[forward] != want:
            drift.append(f"{forward} does not forward what {home} takes: {json.dumps(patterns[forward])} != {json.dumps(want)}")
    return drift


def main(endpoint):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    kw = dict(endpoint_url=endpoint, region_name="us-east-1",
              aws_access_key_id="testing", aws_secret_access_key="testing")
    events, sqs = boto3.client("events", **kw), boto3.client("sqs", **kw)
    found = list(rules(root))
    evs = list(samples(root))
    failures = forwarding_drift(found)
    functions = {k.split("/")[0] for k in EXPECTED}
    if {f for f, _, _ in found} != functions:
        failures.append(f"rules in infra/ for {sorted({f for f, _, _ in found})}, expected {sorted(functions)}")
    named = {k for k in EXPECTED if "/" in k}
    if named - {f"{f}/{n}" for f, n, _ in found}:
        failures.append(f"EXPECTED names rules infra/ lacks: {sorted(named - {f'{f}/{n}' for f, n, _ in found})}")
    for function, name, pattern in found:
        bus = f"check-{function}-{name}-{os.getpid()}"
        events.create_event_bus(Name=bus)
        queue = sqs.create_queue(QueueName=bus)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(pattern))
        events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
        for file, event in evs:
            # The file name rides along in Resources so the queue tells which sample arrived.
            events.put_events(Entries=[{
                "Source": event["source"], "DetailType": event["detail-type"],
                "Detail": json.dumps(event.get("detail", {})), "EventBusName": bus,
                "Resources": event.get("resources", []) + [f"keyguard-sample:{file}"]}])
        arrived = set()
        while True:
            got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = got.get("Messages", [])
            if not messages:
                break
            for m in messages:
                body = json.loads(m["Body"])
                arrived.update(r.split(":", 1)[1] for r in body.get("resources", []) if r.startswith("keyguard-sample:"))
        want = EXPECTED.get(f"{function}/{name}", EXPECTED.get(function, set()))
        status = "ok" if arrived == want else "MISMATCH"
        print(f"{status}: {function} rule {name}: {len(arrived)} of {len(evs)} samples arrive")
        if arrived != want:
            failures.append(f"{function}/{name}: extra {sorted(arrived - want)}, missing {sorted(want - arrived)}")
    for f in failures:
        print("check_patterns: " + f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    if sys.argv[1] == "--json":
        print(json.dumps(yaml.load(open(sys.argv[2]), Loader=CfnLoader)))
    elif sys.argv[1] == "--launch":
        import subprocess
        here = os.path.dirname(os.path.abspath(__file__))
        moto = subprocess.Popen([sys.executable, os.path.join(here, "moto_launcher.py"), "--port", "0",
                                 "--exit-on-stdin-eof"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        ready = moto.stdout.readline().split()
        if ready[:1] != ["KEYGUARD_MOTO_READY"]:
            sys.exit("check_patterns: the moto launcher did not start")
        main(ready[1])  # exits; the launcher stops when our stdin pipe to it closes
    else:
        main(sys.argv[1])
