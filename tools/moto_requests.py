"""What each AWS request keyguard makes asks IAM to allow, for the least-privilege check.

The launcher calls `describe` for every AWS request it serves. A request is keyguard's
when it names its maker: signed with credentials of a role moto's STS issued (a member
role), or carrying the app name `keyguard-FUNCTION` in its User-Agent (every function's
SDK clients set it; the runbook's stand-in sets `keyguard-runbook`). Requests of tests'
own fixtures carry neither, or name themselves `keyguard-fixture` (as app name or as
the session name of a role they assumed), and are not described.

A description is the principal (the role it acts as), the call, and the permissions IAM
evaluates for it: the action, the resource ARN as IAM builds it, and the condition keys
keyguard's policies use, with the permissions AWS documents as implied by the call
(`RotateSecret` invokes the rotation function as the caller; `StartAutomationExecution`
passes `AutomationAssumeRole`). `crates/testkit/src/bin/check-requests.rs` evaluates them
against the roles in the templates. A call with no mapping here is described as
`unmapped`, and the check fails on it, so a new call cannot slip through unchecked.

Nothing here records a request body: only names, ARNs and tag values.
"""

import json
import re
from urllib.parse import parse_qs

PARTITION = "aws"
FIXTURE_APP = "keyguard-fixture"
APP = re.compile(r"(?:^|\s)app/(keyguard-[A-Za-z0-9_.-]+)")


def _app(environ):
    for header in ("HTTP_X_AMZ_USER_AGENT", "HTTP_USER_AGENT"):
        found = APP.search(environ.get(header, ""))
        if found:
            return found.group(1)
    return None


def access_key(environ):
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if "Credential=" not in auth:
        return None
    return auth.split("Credential=", 1)[1].split("/", 1)[0]


def _assumed(key):
    """The session moto's STS issued for an access key, or None."""
    from moto.sts.models import sts_backends

    for by_partition in list(sts_backends.values()):
        backend = by_partition.get(PARTITION) if hasattr(by_partition, "get") else None
        for role in getattr(backend, "assumed_roles", []) or []:
            if role.access_key_id == key:
                return role
    return None


def assumed_role_arn(key):
    """The ARN of the role an access key moto's STS issued acts as, or None."""
    role = _assumed(key)
    return role.role_arn if role else None


def _assumed_role(key):
    """The role an access key moto's STS issued acts as: (account, role name), or None."""
    role = _assumed(key)
    if role is None:
        return None
    if getattr(role, "session_name", "").startswith(FIXTURE_APP):
        return "fixture"
    return role.role_arn.split(":")[4], role.role_arn.split("/")[-1]


def principal(environ, default_account):
    """(account, role name, how it was known) for keyguard's requests, else None."""
    key = access_key(environ)
    assumed = _assumed_role(key) if key else None
    if assumed == "fixture":
        # A test's own session in a member account (named keyguard-fixture): set-up.
        return None
    if assumed:
        return assumed[0], assumed[1], "assumed-role"
    app = _app(environ)
    if app and app != FIXTURE_APP:
        return default_account, app, "app-name"
    return None


def params(environ, raw):
    """The request's parameters: a query-protocol form's first values, or a JSON body."""
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        return {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _iam(account):
    from moto.iam.models import iam_backends

    return iam_backends[account][PARTITION]


def _user_arn(account, name):
    user = _iam(account).users.get(name or "")
    path = getattr(user, "path", "/") or "/"
    return f"arn:{PARTITION}:iam::{account}:user{path}{name}"


def _role_arn(account, name):
    path = "/"
    for role in _iam(account).roles.values():
        if role.name == name:
            path = role.path or "/"
    return f"arn:{PARTITION}:iam::{account}:role{path}{name}"


def _key_owner_arn(account, key_id):
    for user in _iam(account).users.values():
        if any(k.access_key_id == key_id for k in user.access_keys):
            return _user_arn(account, user.name)
    # IAM names no user for a key it does not know; the ARN IAM would evaluate is unknown.
    return f"arn:{PARTITION}:iam::{account}:user/*"


def _org_account_arn(account, target):
    """The ARN IAM evaluates for an Organizations call about account `target`, asked by
    the organisation's management account `account` (the Service Authorization
    Reference's `account` resource type)."""
    from moto.organizations.models import organizations_backends

    org = organizations_backends[account][PARTITION].org
    org_id = org.id if org else "o-none"
    manager = org.master_account_id if org else account
    return f"arn:{PARTITION}:organizations::{manager}:account/{org_id}/{target}"


def _secret(account, region, secret_id):
    from moto.secretsmanager.models import secretsmanager_backends

    return secretsmanager_backends[account][region].secrets.get(secret_id or "")


def _secret_permission(action, account, region, secret_id):
    secret = _secret(account, region, secret_id)
    arn = getattr(secret, "arn", None) or (
        secret_id if str(secret_id).startswith("arn:")
        else f"arn:{PARTITION}:secretsmanager:{region}:{account}:secret:{secret_id}")
    tags = {t.get("Key"): t.get("Value") for t in (getattr(secret, "tags", None) or [])}
    context = {f"aws:ResourceTag/{k}": v for k, v in tags.items() if k}
    return {"action": action, "resource": arn, "context": context}, secret


def _kms_arn(account, region, key_id):
    from moto.kms.exceptions import NotFoundException
    from moto.kms.models import kms_backends

    backend = kms_backends[account][region]
    if str(key_id).startswith("arn:") and ":key/" in str(key_id):
        return key_id
    try:
        return backend.describe_key(key_id).arn
    except NotFoundException:
        # An unknown key or alias: the ARN as named (KMS will refuse the call anyway).
        return f"arn:{PARTITION}:kms:{region}:{account}:{key_id}"


def permissions(service, action, region, account, p):
    """The permissions IAM evaluates for this call, or None when it is not mapped."""
    def one(name, resource, context=None):
        return [{"action": name, "resource": resource, "context": context or {}}]

    user = lambda: _user_arn(account, p.get("UserName"))  # noqa: E731
    if service == "iam":
        name = "iam:" + action
        if action in ("UpdateAccessKey", "DeleteAccessKey", "CreateAccessKey", "ListAccessKeys",
                      "ListUserTags", "PutUserPolicy", "DeleteUserPolicy", "GetUserPolicy", "GetUser"):
            if action in ("UpdateAccessKey", "DeleteAccessKey", "ListAccessKeys") and not p.get("UserName"):
                # Without UserName, IAM acts on the caller itself.
                return one(name, f"arn:{PARTITION}:iam::{account}:user/*")
            return one(name, user())
        if action in ("PutRolePolicy", "GetRolePolicy", "ListRoleTags", "GetRole", "DeleteRolePolicy"):
            return one(name, _role_arn(account, p.get("RoleName")))
        if action == "ListUsers":
            # IAM evaluates it on the path prefix: arn:aws:iam::ACCOUNT:user/ for all users.
            return one(name, f"arn:{PARTITION}:iam::{account}:user{p.get('PathPrefix') or '/'}")
        if action == "GetAccessKeyLastUsed":
            return one(name, _key_owner_arn(account, p.get("AccessKeyId")))
        if action in ("GenerateCredentialReport", "GetCredentialReport"):
            return one(name, "*")
        return None
    if service == "sts":
        if action == "GetCallerIdentity":
            return []  # needs no permission
        if action == "AssumeRole":
            return one("sts:AssumeRole", p.get("RoleArn", "*"))
        if action == "GetAccessKeyInfo":
            return one("sts:GetAccessKeyInfo", "*")
        return None
    if service == "cloudtrail":
        if action == "LookupEvents":
            return one("cloudtrail:LookupEvents", "*")  # no resource-level permissions
        return None
    if service == "dynamodb":
        table = lambda name: f"arn:{PARTITION}:dynamodb:{region}:{account}:table/{name}"  # noqa: E731
        if action in ("PutItem", "UpdateItem", "GetItem", "DeleteItem", "Query"):
            return one("dynamodb:" + action, table(p.get("TableName")))
        if action == "BatchGetItem":
            return [{"action": "dynamodb:BatchGetItem", "resource": table(name), "context": {}}
                    for name in (p.get("RequestItems") or {})]
        return None
    if service == "sns":
        if action == "Publish":
            return one("sns:Publish", p.get("TopicArn") or p.get("TargetArn") or "*")
        return None
    if service == "secretsmanager":
        if action == "ListSecrets":
            return one("secretsmanager:ListSecrets", "*")
        if action in ("GetSecretValue", "DescribeSecret", "PutSecretValue", "UpdateSecretVersionStage",
                      "ListSecretVersionIds", "RotateSecret"):
            first, secret = _secret_permission("secretsmanager:" + action, account, region, p.get("SecretId"))
            out = [first]
            if action == "RotateSecret":
                function = p.get("RotationLambdaARN") or getattr(secret, "rotation_lambda_arn", "")
                if function:
                    out += one("lambda:InvokeFunction", function)
            return out
        return None
    if service == "ssm":
        if action == "StartAutomationExecution":
            document = p.get("DocumentName", "")
            version = p.get("DocumentVersion") or "$DEFAULT"
            out = one("ssm:StartAutomationExecution",
                      f"arn:{PARTITION}:ssm:{region}:{account}:automation-definition/{document}:{version}")
            for role in (p.get("Parameters") or {}).get("AutomationAssumeRole") or []:
                out += one("iam:PassRole", role, {"iam:PassedToService": "ssm.amazonaws.com"})
            return out
        if action in ("GetAutomationExecution", "DescribeAutomationExecutions"):
            return one("ssm:" + action, "*")
        return None
    if service == "ssm-incidents":
        if action == "StartIncident":
            return one("ssm-incidents:StartIncident", p.get("responsePlanArn", "*"))
        if action == "CreateTimelineEvent":
            # Authorized against the incident record and its response plan, both.
            record = p.get("incidentRecordArn", "*")
            plan = re.sub(r":incident-record/([^/]+)/.*$", r":response-plan/\1", record)
            return one("ssm-incidents:CreateTimelineEvent", record) + one("ssm-incidents:CreateTimelineEvent", plan)
        return None
    if service == "kms":
        if action in ("GenerateMac", "VerifyMac"):
            return one("kms:" + action, _kms_arn(account, region, p.get("KeyId")))
        return None
    if service == "sqs":
        if action in ("SendMessage", "SendMessageBatch"):
            # A queue URL ends in ACCOUNT/NAME; IAM evaluates the queue's ARN.
            parts = str(p.get("QueueUrl", "")).rstrip("/").split("/")
            owner, name = (parts[-2], parts[-1]) if len(parts) >= 2 else (account, "*")
            return one("sqs:SendMessage", f"arn:{PARTITION}:sqs:{region}:{owner}:{name}")
        return None
    if service == "organizations":
        if action == "ListAccounts":
            return one("organizations:ListAccounts", "*")
        if action == "DescribeAccount":
            return one("organizations:DescribeAccount", _org_account_arn(account, p.get("AccountId", "")))
        return None
    if service == "securityhub":
        if action == "BatchImportFindings":
            # Authorized against each finding's product; TargetAccount is its AwsAccountId.
            out = []
            for f in p.get("Findings") or []:
                out += one("securityhub:BatchImportFindings", f.get("ProductArn", "*"),
                           {"securityhub:TargetAccount": f.get("AwsAccountId", "")})
            return out
        hub = f"arn:{PARTITION}:securityhub:{region}:{account}:hub/default"
        if action == "GetFindings":
            return one("securityhub:GetFindings", hub)
        if action == "BatchUpdateFindings":
            # Authorized against the account's hub, with one condition key per field the
            # request sets (securityhub:ASFFSyntaxPath/Workflow.Status = its value), so a
            # policy can allow one value and require every other field absent (Null).
            keys = {}
            for field, value in p.items():
                if field == "FindingIdentifiers":
                    continue
                subs = value if isinstance(value, dict) else None
                if field == "RelatedFindings":
                    subs = {"Id": "", "ProductArn": ""}
                if subs:
                    for sub, v in subs.items():
                        keys[f"securityhub:ASFFSyntaxPath/{field}.{sub}"] = str(v)
                else:
                    keys[f"securityhub:ASFFSyntaxPath/{field}"] = str(value)
            return one("securityhub:BatchUpdateFindings", hub, keys)
        return None
    if service == "ses":
        if action == "SendEmail":
            sender = p.get("FromEmailAddress", "")
            return one("ses:SendEmail", f"arn:{PARTITION}:ses:{region}:{account}:identity/{sender}",
                       {"ses:FromAddress": sender})
        return None
    return None


def rest_action(service, method, path):
    """The action of a REST-JSON call the launcher sees (SES v2, Incident Manager)."""
    if service == "ses" and method == "POST" and path == "/v2/email/outbound-emails":
        return "SendEmail"
    if service == "ssm-incidents" and method == "POST" and path == "/startIncident":
        return "StartIncident"
    if service == "ssm-incidents" and method == "POST" and path == "/createTimelineEvent":
        return "CreateTimelineEvent"
    if service == "securityhub" and method == "POST" and path == "/findings/import":
        return "BatchImportFindings"
    if service == "securityhub" and method == "POST" and path == "/findings":
        return "GetFindings"
    if service == "securityhub" and method == "PATCH" and path == "/findings/batchupdate":
        return "BatchUpdateFindings"
    return None


def describe(environ, raw, service, action, region, default_account):
    """The record for one request, or None when it is not keyguard's."""
    who = principal(environ, default_account)
    if who is None:
        return None
    account, role, via = who
    p = params(environ, raw)
    action = rest_action(service, environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", "")) or action
    mapped = permissions(service, action, region, account, p)
    return {
        "role": role,
        "via": via,
        "account": account,
        "region": region,
        "call": f"{service}:{action}",
        "unmapped": mapped is None,
        "permissions": mapped or [],
    }
