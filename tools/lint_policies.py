#!/usr/bin/env python3
"""parliament (Duo Labs' IAM policy linter) over every inline policy of every role in
infra/: unknown actions, resources of the wrong type for an action, malformed
conditions, and privilege-escalation patterns. Run by `make infra` in the infra venv.

CloudFormation's intrinsics are made concrete first, since parliament reads plain policy
JSON: the pseudo parameters as a deployment in us-east-1 of account 123456789012 would
see them, a parameter as its default (or, without one, a placeholder of the ARN shape
its name says), and another resource's ARN (`!GetAtt X.Arn`, `!Ref` of a resource) as a
placeholder ARN of that resource's type.

Exit 1 on any finding not listed in ACCEPTED, each with its reason.

  lint_policies.py [TEMPLATE...]     (default: every template under infra/)
"""

import glob
import json
import os
import re
import sys

import yaml

from check_patterns import CfnLoader

ACCOUNT, REGION = "123456789012", "us-east-1"

# Placeholder ARNs for resources of these types (a `!Ref` or `!GetAtt .Arn` to them).
RESOURCE_ARNS = {
    "AWS::SQS::Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{{name}}",
    "AWS::Logs::LogGroup": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{{name}}:*",
    "AWS::SNS::Topic": f"arn:aws:sns:{REGION}:{ACCOUNT}:{{name}}",
    "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{{name}}",
    "AWS::SecretsManager::Secret": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{{name}}-AbCdEf",
    "AWS::KMS::Key": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-4000-8000-000000000000",
    "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{{name}}",
}

# A parameter without a default, by what its name says it holds.
PARAMETER_SHAPES = [
    (re.compile(r"Topic"), f"arn:aws:sns:{REGION}:{ACCOUNT}:{{name}}"),
    (re.compile(r"Secret"), f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{{name}}-AbCdEf"),
    (re.compile(r"(Handoff)?Key(Arn)?$"), f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-4000-8000-000000000000"),
    (re.compile(r"ResponsePlan"), f"arn:aws:ssm-incidents::{ACCOUNT}:response-plan/{{name}}"),
    (re.compile(r"Role"), f"arn:aws:iam::{ACCOUNT}:role/{{name}}"),
    (re.compile(r"Email"), "keyguard@example.com"),
]

# Findings keyguard accepts, by (role, issue, action or "*"), each with why.
ACCEPTED = {
    # iam:GetAccessKeyLastUsed names only the key, so no policy can name the user it
    # belongs to: "*" is the only resource that works for finding a key's owner.
    ("*", "RESOURCE_STAR", "iam:getaccesskeylastused"): "the key's owner is what the call finds",
    # sts:GetAccessKeyInfo has no resource type (the Service Authorization Reference).
    ("*", "RESOURCE_STAR", "sts:getaccesskeyinfo"): "it names a key of any account: no ARN to scope it to",
}


def placeholder_for_parameter(name, spec):
    default = spec.get("Default") if isinstance(spec, dict) else None
    if isinstance(default, str) and default:
        return default
    for pattern, shape in PARAMETER_SHAPES:
        if pattern.search(name):
            return shape.format(name=name)
    return name


def concrete(value, template):
    params = template.get("Parameters") or {}
    resources = template.get("Resources") or {}

    def ref(name):
        pseudo = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT,
                  "AWS::StackName": "keyguard", "AWS::URLSuffix": "amazonaws.com"}
        if name in pseudo:
            return pseudo[name]
        if name in params:
            return placeholder_for_parameter(name, params[name])
        if name in resources:
            shape = RESOURCE_ARNS.get(resources[name].get("Type"), "{name}")
            return shape.format(name=name)
        return name

    if isinstance(value, list):
        return [concrete(v, template) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (tag, arg), = value.items()
        if tag == "Ref":
            return ref(arg)
        if tag == "Sub":
            # `!Sub [text, {Name: value}]` names its own variables before parameters.
            text, names = (arg[0], arg[1]) if isinstance(arg, list) else (arg, {})
            # (a value no simpler than a function, `!Select` say, stays the variable's name)
            own = {k: c for k, v in names.items() if isinstance(c := concrete(v, template), str)}
            return re.sub(r"\$\{([^}]+)\}", lambda m: own.get(m.group(1)) or ref(m.group(1)), text)
        if tag == "GetAtt":
            target = arg.split(".")[0] if isinstance(arg, str) else arg[0]
            return ref(target)
        if tag == "If":
            return concrete(arg[1], template)
        if tag == "Join":
            return arg[0].join(str(concrete(p, template)) for p in arg[1])
    return {k: concrete(v, template) for k, v in value.items()}


def policies(path):
    template = yaml.load(open(path), Loader=CfnLoader)
    for name, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::IAM::Role":
            continue
        props = resource.get("Properties") or {}
        role = concrete(props.get("RoleName", name), template)
        for policy in props.get("Policies") or []:
            document = concrete(policy.get("PolicyDocument"), template)
            statements = [s for s in document.get("Statement", []) if isinstance(s, dict) and s]
            document["Statement"] = statements
            yield role, policy.get("PolicyName"), document


def main(paths):
    from parliament import analyze_policy_string

    failures, checked = [], 0
    for path in paths:
        for role, name, document in policies(path):
            checked += 1
            for finding in analyze_policy_string(json.dumps(document)).findings:
                detail = finding.detail if isinstance(finding.detail, list) else []
                actions = [str(d.get("action") if isinstance(d, dict) else d).lower()
                           for d in detail] or ["*"]
                accepted = [a for a in actions
                            if ("*", finding.issue, a) in ACCEPTED or (role, finding.issue, a) in ACCEPTED]
                if len(accepted) == len(actions):
                    continue
                failures.append(f"{os.path.relpath(path)}: role {role}, policy {name}: "
                                f"{finding.issue} {finding.detail} {finding.location}")
    for f in failures:
        print("lint_policies: " + f)
    print(f"lint_policies: parliament read {checked} policies, {len(failures)} finding(s) not accepted")
    sys.exit(1 if failures or checked == 0 else 0)


if __name__ == "__main__":
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    main(sys.argv[1:] or sorted(glob.glob(os.path.join(root, "infra", "*", "*.yaml"))))
