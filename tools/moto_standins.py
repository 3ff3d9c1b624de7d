"""Stand-ins for the AWS calls moto 5.2.5 lacks, speaking the services' real wire protocols.

The Rust SDK clients reach them through their normal endpoints (AWS_ENDPOINT_URL), exactly
as they reach moto, so the request serialisation and response parsing of the real
aws-sdk-ssm and aws-sdk-ssmincidents crates are exercised. What is stood in for:

SSM Automation (JSON 1.1, X-Amz-Target AmazonSSM.*):
  StartAutomationExecution  reads the document from moto's SSM (CreateDocument is moto's
                            own), rejects an unknown document, an undeclared parameter, a
                            missing required one or one failing its allowedPattern, and
                            runs the document at once: aws:executeAwsApi steps through
                            boto3 and aws:executeScript (Python) steps in-process, both
                            against this same moto, so the runbook itself is tested.
                            ClientToken must be a UUID; the same token with the same
                            request returns the same execution, with another request
                            IdempotentParameterMismatch.
                            AutomationAssumeRole, when given, must be a role of the
                            calling account (iam:PassRole passes no other account's role);
                            the steps then run as that role, assumed through moto's STS,
                            as SSM runs them, so a member's runbook acts in the member.
                            Executions belong to the account that started them.
  GetAutomationExecution, DescribeAutomationExecutions (filters DocumentNamePrefix,
                            ExecutionStatus, ExecutionId), the calling account's only.
Incident Manager (REST-JSON, signing name ssm-incidents):
  StartIncident             checks the limits the service documents (title 200, impact
                            1-5, triggerDetails.source 50 and not beginning with "aws.",
                            rawData 10,000, triggerArn's pattern, clientToken 128,
                            relatedItems 100) and the response plan ARN's shape (moto has
                            no response plans to look up);
                            clientToken: same token and request give the same record.
  GetIncidentRecord, ListIncidentRecords.
  CreateTimelineEvent       on an incident record that exists (else
                            ResourceNotFoundException), eventType "Custom Event" or
                            "Note", eventData 12,000, clientToken 128, at most 10
                            eventReferences; the same token and request give the same
                            event, another request ConflictException.
  GetTimelineEvent, ListTimelineEvents.
Secrets Manager RotateSecret (moto's own, corrected): AWS refuses it while AWSPENDING is
                            attached to a version other than AWSCURRENT (a rotation that
                            did not finish); moto 5.2.5 refuses the opposite case instead,
                            so the launcher refuses the first and, for the second (a
                            finished rotation), lifts the stale AWSPENDING before moto sees it.
Security Hub (REST-JSON, signing name securityhub):
  BatchUpdateFindings       PATCH /findings/batchupdate on moto's own findings (moto 5.2.5
                            serves BatchImportFindings and GetFindings, not this): 1 to 100
                            FindingIdentifiers, each an Id and ProductArn; Workflow.Status
                            one of NEW, NOTIFIED, RESOLVED, SUPPRESSED; Note.Text and
                            Note.UpdatedBy both given, 1 to 512 characters. A finding not
                            there is an UnprocessedFinding (FindingNotFound), as AWS says.
  GetFindings (corrected)   POST /findings: moto 5.2.5 ignores Filters and MaxResults and
                            returns every finding; the launcher applies the filters keyguard
                            sends (Id and ProductArn, EQUALS) and MaxResults (1 to 100; no
                            NextToken: without it, every match), and refuses any other
                            filter rather than ignore it.
State lives in this process and is cleared by POST /moto-api/reset, like moto's.
"""

import json
import re
import threading
import time
import uuid

LOCK = threading.Lock()
# One runbook at a time: a run sets the process's credentials for its scripts' clients.
RUN_LOCK = threading.Lock()
EXECUTIONS = {}  # execution id -> record ("Account": the account that started it)
EXECUTION_TOKENS = {}  # client token (lower case) -> (request fingerprint, execution id)
INCIDENTS = {}  # arn -> record
INCIDENT_TOKENS = {}  # client token -> (request fingerprint, arn)
REQUESTS = {}  # incident arn -> the StartIncident request, for tests to read back
TIMELINE = {}  # incident arn -> [timeline event]
TIMELINE_TOKENS = {}  # client token -> (request fingerprint, event id)
SELF = {"endpoint": None}

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
PLAN_ARN_RE = re.compile(r"^arn:aws[a-z-]*:ssm-incidents::\d{12}:response-plan/[A-Za-z0-9_.-]{1,200}$")
# StartIncident's triggerDetails.triggerArn, as the API reference gives it.
TRIGGER_ARN_RE = re.compile(r"^arn:aws(-cn|-us-gov)?:[a-z0-9-]*:[a-z0-9-]*:([0-9]{12})?:.+$")
PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")


class ServiceError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def reset():
    with LOCK:
        EXECUTIONS.clear()
        EXECUTION_TOKENS.clear()
        INCIDENTS.clear()
        INCIDENT_TOKENS.clear()
        REQUESTS.clear()
        TIMELINE.clear()
        TIMELINE_TOKENS.clear()


def snapshot():
    """Everything recorded, for tests and the demo (GET /_keyguard/standins)."""
    with LOCK:
        return {
            "automation_executions": sorted(EXECUTIONS.values(), key=lambda r: r["ExecutionStartTime"]),
            "incidents": [
                {"record": INCIDENTS[arn], "request": REQUESTS.get(arn), "timeline": list(TIMELINE.get(arn, []))}
                for arn in sorted(INCIDENTS, key=lambda a: INCIDENTS[a]["creationTime"])
            ],
        }


def _fingerprint(body, drop):
    return json.dumps({k: v for k, v in body.items() if k not in drop}, sort_keys=True)


# --- SSM Automation -------------------------------------------------------------------

AUTOMATION_ACTIONS = {"StartAutomationExecution", "GetAutomationExecution", "DescribeAutomationExecutions"}


def ssm(action, body, account, region):
    """Returns (status, body) for a JSON 1.1 AmazonSSM.<action> call."""
    try:
        if action == "StartAutomationExecution":
            return 200, _start_automation(body, account, region)
        if action == "GetAutomationExecution":
            with LOCK:
                record = EXECUTIONS.get(body.get("AutomationExecutionId"))
            if record is not None and record["Account"] != account:
                record = None
            if record is None:
                raise ServiceError(400, "AutomationExecutionNotFoundException", "Automation execution not found")
            return 200, {"AutomationExecution": record}
        if action == "DescribeAutomationExecutions":
            return 200, {"AutomationExecutionMetadataList": _describe(body.get("Filters") or [], account)}
        raise ServiceError(400, "InvalidAction", action)
    except ServiceError as err:
        return err.status, {"__type": err.code, "message": err.message}


def _document(name, account, region):
    from moto.ssm.exceptions import InvalidDocument
    from moto.ssm.models import ssm_backends

    try:
        doc = ssm_backends[account][region]._get_documents(name).get_default_version()
    except InvalidDocument:
        # Only "no such document" is that; any other moto error stays the server's error.
        raise ServiceError(400, "AutomationDefinitionNotFoundException", f"Document {name} does not exist") from None
    if doc.document_type != "Automation":
        raise ServiceError(400, "InvalidDocumentType", f"Document {name} is not an Automation document")
    return doc


def _check_parameters(declared, given):
    for name, values in given.items():
        if name not in declared:
            raise ServiceError(
                400, "InvalidAutomationExecutionParametersException", f"Parameter {name} is not defined in the document"
            )
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ServiceError(400, "ValidationException", f"Parameter {name} must be a list of strings")
        pattern = declared[name].get("allowedPattern")
        for value in values:
            if pattern and not re.fullmatch(pattern, value):
                raise ServiceError(
                    400,
                    "InvalidAutomationExecutionParametersException",
                    f"Parameter {name} value does not match allowedPattern {pattern}",
                )
    for name, spec in declared.items():
        if "default" not in spec and name not in given:
            raise ServiceError(
                400, "InvalidAutomationExecutionParametersException", f"Parameter {name} is required"
            )


def _start_automation(body, account, region):
    name = body.get("DocumentName")
    if not isinstance(name, str) or not name:
        raise ServiceError(400, "ValidationException", "DocumentName is required")
    token = body.get("ClientToken")
    if token is not None and not UUID_RE.match(str(token)):
        raise ServiceError(400, "ValidationException", "ClientToken must be a UUID")
    fingerprint = _fingerprint(body, {"ClientToken"})
    if token is not None:
        with LOCK:
            seen = EXECUTION_TOKENS.get((account, token.lower()))
        if seen is not None:
            if seen[0] != fingerprint:
                raise ServiceError(400, "IdempotentParameterMismatch", "ClientToken was used with other parameters")
            return {"AutomationExecutionId": seen[1]}
    doc = _document(name, account, region)
    declared = doc.content_json.get("parameters") or {}
    given = body.get("Parameters") or {}
    _check_parameters(declared, given)
    values = {}
    for pname, spec in declared.items():
        if pname in given:
            values[pname] = given[pname][0] if spec.get("type", "String") == "String" else given[pname]
        else:
            values[pname] = spec.get("default")
    credentials = _assumed(values.get("AutomationAssumeRole"), account)
    execution_id = str(uuid.uuid4())
    started = time.time()
    record = {
        "Account": account,
        "AutomationExecutionId": execution_id,
        "DocumentName": name,
        "DocumentVersion": doc.document_version,
        "ExecutionStartTime": started,
        "AutomationExecutionStatus": "InProgress",
        "Mode": "Auto",
        "Parameters": given,
        "StepExecutions": [],
        "Outputs": {},
    }
    with LOCK:
        EXECUTIONS[execution_id] = record
        if token is not None:
            EXECUTION_TOKENS[(account, token.lower())] = (fingerprint, execution_id)
    status, steps, outputs, failure = _run(doc.content_json, values, region, credentials)
    with LOCK:
        record.update(
            AutomationExecutionStatus=status,
            StepExecutions=steps,
            Outputs=outputs,
            ExecutionEndTime=time.time(),
        )
        if failure:
            record["FailureMessage"] = failure
    return {"AutomationExecutionId": execution_id}


def _describe(filters, account):
    with LOCK:
        records = [r for r in EXECUTIONS.values() if r["Account"] == account]
    for f in filters:
        key, wanted = f.get("Key"), f.get("Values") or []
        if key == "DocumentNamePrefix":
            records = [r for r in records if any(r["DocumentName"].startswith(w) for w in wanted)]
        elif key == "ExecutionStatus":
            records = [r for r in records if r["AutomationExecutionStatus"] in wanted]
        elif key == "ExecutionId":
            records = [r for r in records if r["AutomationExecutionId"] in wanted]
    keep = (
        "AutomationExecutionId",
        "DocumentName",
        "DocumentVersion",
        "AutomationExecutionStatus",
        "ExecutionStartTime",
        "ExecutionEndTime",
        "Outputs",
        "Mode",
    )
    return [{k: r[k] for k in keep if k in r} for r in sorted(records, key=lambda r: r["ExecutionStartTime"])]


def _substitute(value, values):
    if isinstance(value, str):
        whole = PLACEHOLDER_RE.fullmatch(value.strip())
        if whole and whole.group(1) in values:
            return values[whole.group(1)]
        return PLACEHOLDER_RE.sub(lambda m: str(values.get(m.group(1), m.group(0))), value)
    if isinstance(value, list):
        return [_substitute(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, values) for k, v in value.items()}
    return value


def _select(document, selector):
    """The subset of JSONPath that runbook outputs use: $.a.b[0].c"""
    current = document
    for name, index in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", selector.removeprefix("$")):
        if name:
            current = current.get(name) if isinstance(current, dict) else None
        else:
            i = int(index)
            current = current[i] if isinstance(current, list) and i < len(current) else None
        if current is None:
            return None
    return current


# The app name the runbook's requests carry (its steps' clients and its scripts' own), so
# the least-privilege check evaluates them against the runbook role, as SSM would run them
# with AutomationAssumeRole.
RUNBOOK_APP = "keyguard-runbook"


def _client(service, region, credentials=None):
    import boto3

    from botocore.config import Config

    key, secret, token = credentials or ("testing", "testing", None)
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=SELF["endpoint"],
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        # The runbook acts as its role: its requests are checked against keyguard-runbook
        # (by the app name, or by the role assumed).
        config=Config(user_agent_appid=RUNBOOK_APP),
    )


def _assumed(role_arn, account):
    """The credentials of AutomationAssumeRole, assumed as SSM assumes it; None for none."""
    if not role_arn:
        return None
    parts = role_arn.split(":")
    if len(parts) < 6 or parts[2] != "iam" or not parts[5].startswith("role/"):
        raise ServiceError(400, "InvalidAutomationExecutionParametersException",
                           f"AutomationAssumeRole {role_arn!r} is not a role ARN")
    if parts[4] != account:
        # PassRole passes only the caller's own account's roles.
        raise ServiceError(400, "AccessDeniedException",
                           f"account {account} cannot pass role {role_arn} of another account")
    from moto.iam.exceptions import NotFoundException
    from moto.iam.models import iam_backends

    try:
        iam_backends[account]["aws"].get_role(parts[5].split("/")[-1])
    except NotFoundException:
        # moto's STS would issue credentials for any name; SSM cannot assume a role that
        # is not there.
        raise ServiceError(400, "InvalidAutomationExecutionParametersException",
                           f"AutomationAssumeRole {role_arn} does not exist") from None
    import boto3

    # SSM's own call, not the runbook's: no keyguard app name, so it is not checked
    # against any keyguard role.
    from botocore.config import Config

    sts = boto3.client("sts", region_name="us-east-1", endpoint_url=SELF["endpoint"],
                       aws_access_key_id="testing", aws_secret_access_key="testing",
                       config=Config(user_agent_appid="ssm-automation"))
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="Automation")["Credentials"]
    return creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]


def _step(step, values, region, credentials):
    from botocore import xform_name

    action = step.get("action")
    inputs = _substitute(step.get("inputs") or {}, values)
    if action == "aws:executeAwsApi":
        args = {k: v for k, v in inputs.items() if k not in ("Service", "Api")}
        result = getattr(_client(inputs["Service"], region, credentials), xform_name(inputs["Api"]))(**args)
        result.pop("ResponseMetadata", None)
        return result
    if action == "aws:executeScript":
        namespace = {}
        exec(compile(inputs["Script"], step.get("name", "script"), "exec"), namespace)
        return {"Payload": namespace[inputs["Handler"]](inputs.get("InputPayload") or {}, None)}
    raise ServiceError(400, "InvalidAutomationStep", f"the local stand-in does not run {action}")


def _run(document, values, region, credentials=None):
    """Runs the document's steps, its scripts' own clients signed as the run's role."""
    import os

    # executeScript steps build their own boto3 clients: point them at this moto too.
    os.environ.setdefault("AWS_ENDPOINT_URL", SELF["endpoint"] or "")
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    os.environ.setdefault("AWS_SDK_UA_APP_ID", RUNBOOK_APP)
    key, secret, token = credentials or ("testing", "testing", None)
    with RUN_LOCK:
        saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
        os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = key, secret
        if token:
            os.environ["AWS_SESSION_TOKEN"] = token
        else:
            os.environ.pop("AWS_SESSION_TOKEN", None)
        # boto3's default session keeps the first credentials it resolved: a fresh one
        # reads the run's own, so a member's script acts in the member.
        import boto3

        boto3.DEFAULT_SESSION = None
        try:
            return _steps(document, values, region, credentials)
        finally:
            boto3.DEFAULT_SESSION = None
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def _steps(document, values, region, credentials):
    steps = document.get("mainSteps") or []
    index = {s.get("name"): i for i, s in enumerate(steps)}
    executions, i, status, failure = [], 0, "Success", None
    while i < len(steps):
        step = steps[i]
        record = {"StepName": step.get("name"), "Action": step.get("action"), "StepStatus": "Success"}
        try:
            result = _step(step, values, region, credentials)
            outputs = {}
            for out in step.get("outputs") or []:
                found = _select(result, out.get("Selector", "$"))
                if found is not None:
                    values[f"{step.get('name')}.{out['Name']}"] = found
                    outputs[out["Name"]] = [found if isinstance(found, str) else json.dumps(found)]
            record["Outputs"] = outputs
        # Any error a step raises is the step's failure, recorded in the execution as SSM
        # records it (a script's own exception included), never the server's.
        except Exception as err:  # noqa: BLE001
            record.update(StepStatus="Failed", FailureMessage=f"{type(err).__name__}: {err}")
            executions.append(record)
            on_failure = step.get("onFailure", "Abort")
            if on_failure.startswith("step:") and on_failure[5:] in index:
                i = index[on_failure[5:]]
                continue
            if on_failure != "Continue":
                status, failure = "Failed", record["FailureMessage"]
                break
            i += 1
            continue
        executions.append(record)
        if step.get("isEnd"):
            break
        following = step.get("nextStep")
        i = index.get(following, len(steps)) if following else i + 1
    outputs = {}
    for name in document.get("outputs") or []:
        if name in values:
            found = values[name]
            outputs[name] = [found if isinstance(found, str) else json.dumps(found)]
    return status, executions, outputs, failure


# --- Incident Manager -----------------------------------------------------------------


def incidents(method, path, query, body, account, region):
    """Returns (status, body, error code or None) for a REST-JSON ssm-incidents call."""
    try:
        if method == "POST" and path == "/startIncident":
            return 200, _start_incident(body, account), None
        if path == "/getIncidentRecord":
            arn = (query.get("arn") or [None])[0]
            with LOCK:
                record = INCIDENTS.get(arn)
            if record is None:
                raise ServiceError(404, "ResourceNotFoundException", f"Incident record {arn} not found")
            return 200, {"incidentRecord": record}, None
        if method == "POST" and path == "/createTimelineEvent":
            return 200, _create_timeline_event(body), None
        if method == "POST" and path == "/listTimelineEvents":
            arn = body.get("incidentRecordArn")
            with LOCK:
                if arn not in INCIDENTS:
                    raise ServiceError(404, "ResourceNotFoundException", f"Incident record {arn} not found")
                events = [{k: v for k, v in e.items() if k != "eventData"} for e in TIMELINE.get(arn, [])]
            return 200, {"eventSummaries": events}, None
        if path == "/getTimelineEvent":
            arn = (query.get("incidentRecordArn") or [None])[0]
            event_id = (query.get("eventId") or [None])[0]
            with LOCK:
                found = [e for e in TIMELINE.get(arn, []) if e["eventId"] == event_id]
            if not found:
                raise ServiceError(404, "ResourceNotFoundException", f"Timeline event {event_id} not found")
            return 200, {"event": found[0]}, None
        if method == "POST" and path == "/listIncidentRecords":
            with LOCK:
                records = sorted(INCIDENTS.values(), key=lambda r: r["creationTime"])
            keep = ("arn", "title", "status", "impact", "creationTime", "incidentRecordSource")
            return 200, {"incidentRecordSummaries": [{k: r[k] for k in keep} for r in records]}, None
        raise ServiceError(404, "ResourceNotFoundException", f"no stand-in for {method} {path}")
    except ServiceError as err:
        return err.status, {"message": err.message}, err.code


def _start_incident(body, account):
    plan = body.get("responsePlanArn")
    if not isinstance(plan, str) or not PLAN_ARN_RE.match(plan):
        raise ServiceError(400, "ValidationException", "responsePlanArn is not a response plan ARN")
    title = body.get("title", "")
    impact = body.get("impact", 3)
    trigger = body.get("triggerDetails") or {}
    problems = []
    if not isinstance(title, str) or len(title) > 200:
        problems.append("title longer than 200")
    if not isinstance(impact, int) or not 1 <= impact <= 5:
        problems.append("impact outside 1-5")
    source = trigger.get("source")
    if not isinstance(source, str) or not 1 <= len(source) <= 50:
        problems.append("triggerDetails.source missing or longer than 50")
    elif source.startswith("aws."):
        # The API reference: a customer-generated event's source can't begin with "aws.".
        problems.append("triggerDetails.source of a customer-generated event cannot begin with aws.")
    if "timestamp" not in trigger:
        problems.append("triggerDetails.timestamp missing")
    if len(trigger.get("rawData") or "") > 10000:
        problems.append("triggerDetails.rawData longer than 10000")
    arn = trigger.get("triggerArn")
    if arn is not None and (len(arn) > 1000 or not TRIGGER_ARN_RE.match(arn)):
        problems.append("triggerDetails.triggerArn does not match the documented pattern")
    token = body.get("clientToken")
    if token is not None and len(token) > 128:
        problems.append("clientToken longer than 128")
    if len(body.get("relatedItems") or []) > 100:
        problems.append("more than 100 relatedItems")
    for item in body.get("relatedItems") or []:
        if len((item.get("title") or "")) > 200:
            problems.append("relatedItems.title longer than 200")
    if problems:
        raise ServiceError(400, "ValidationException", "; ".join(problems))
    fingerprint = _fingerprint(body, {"clientToken"})
    with LOCK:
        seen = INCIDENT_TOKENS.get(token) if token else None
        if seen is not None:
            if seen[0] != fingerprint:
                raise ServiceError(409, "ConflictException", "clientToken was used with other details")
            return {"incidentRecordArn": seen[1]}
        plan_name = plan.rsplit("/", 1)[1]
        arn = f"arn:aws:ssm-incidents::{account}:incident-record/{plan_name}/{uuid.uuid4()}"
        now = time.time()
        INCIDENTS[arn] = {
            "arn": arn,
            "title": title,
            "status": "OPEN",
            "impact": impact,
            "creationTime": now,
            "lastModifiedTime": now,
            "lastModifiedBy": f"arn:aws:sts::{account}:assumed-role/keyguard/local",
            "dedupeString": token or arn,
            "incidentRecordSource": {
                "createdBy": f"arn:aws:sts::{account}:assumed-role/keyguard/local",
                "source": trigger.get("source"),
                "invokedBy": "keyguard",
                "resourceArn": trigger.get("triggerArn"),
            },
            "automationExecutions": [],
            "notificationTargets": [],
        }
        REQUESTS[arn] = body
        if token:
            INCIDENT_TOKENS[token] = (fingerprint, arn)
    return {"incidentRecordArn": arn}


def _create_timeline_event(body):
    arn = body.get("incidentRecordArn")
    data = body.get("eventData")
    kind = body.get("eventType")
    token = body.get("clientToken")
    problems = []
    if not isinstance(data, str) or len(data) > 12000:
        problems.append("eventData missing or longer than 12000")
    if kind not in ("Custom Event", "Note"):
        problems.append("eventType must be Custom Event or Note")
    if not isinstance(body.get("eventTime"), (int, float)):
        problems.append("eventTime missing")
    if token is not None and len(token) > 128:
        problems.append("clientToken longer than 128")
    if len(body.get("eventReferences") or []) > 10:
        problems.append("more than 10 eventReferences")
    if not isinstance(arn, str) or len(arn) > 1000 or not TRIGGER_ARN_RE.match(arn):
        problems.append("incidentRecordArn does not match the documented pattern")
    if problems:
        raise ServiceError(400, "ValidationException", "; ".join(problems))
    fingerprint = _fingerprint(body, {"clientToken"})
    with LOCK:
        if arn not in INCIDENTS:
            raise ServiceError(404, "ResourceNotFoundException", f"Incident record {arn} not found")
        seen = TIMELINE_TOKENS.get(token) if token else None
        if seen is not None:
            if seen[0] != fingerprint:
                raise ServiceError(409, "ConflictException", "clientToken was used with other details")
            return {"eventId": seen[1], "incidentRecordArn": arn}
        event_id = str(uuid.uuid4())
        now = time.time()
        TIMELINE.setdefault(arn, []).append({
            "eventId": event_id,
            "incidentRecordArn": arn,
            "eventTime": body["eventTime"],
            "eventUpdatedTime": now,
            "eventType": kind,
            "eventData": data,
            "eventReferences": body.get("eventReferences") or [],
        })
        if token:
            TIMELINE_TOKENS[token] = (fingerprint, event_id)
    return {"eventId": event_id, "incidentRecordArn": arn}


WORKFLOW_STATUSES = ("NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED")
FINDING_FILTERS = {"Id": "Id", "ProductArn": "ProductArn"}


def get_findings(body, account, region):
    """Returns (status, body, error code or None) for Security Hub's GetFindings, with the
    filters keyguard sends applied (moto 5.2.5 returns every finding whatever is asked)."""
    from moto.securityhub.models import securityhub_backends

    def invalid(message):
        return 400, {"Code": "InvalidInputException", "Message": message}, "InvalidInputException"

    filters = body.get("Filters") or {}
    if not isinstance(filters, dict):
        return invalid("Filters: an object")
    wanted = {}
    for name, criteria in filters.items():
        if name not in FINDING_FILTERS:
            return invalid(f"Filters.{name}: not applied by the local stand-in")
        if not isinstance(criteria, list) or not 1 <= len(criteria) <= 20:
            return invalid(f"Filters.{name}: 1 to 20 string filters")
        for c in criteria:
            if not isinstance(c, dict) or c.get("Comparison") != "EQUALS" or not isinstance(c.get("Value"), str):
                return invalid(f"Filters.{name}: only EQUALS with a Value is applied by the local stand-in")
        wanted[FINDING_FILTERS[name]] = {c["Value"] for c in criteria}
    # No NextToken here: without MaxResults every match is returned, as moto does.
    limit = body.get("MaxResults")
    if limit is not None and (not isinstance(limit, int) or not 1 <= limit <= 100):
        return invalid("MaxResults: 1 to 100")
    backend = securityhub_backends[account][region]
    with LOCK:
        found = [f.as_dict() for f in backend.findings
                 if all(f.as_dict().get(field) in values for field, values in wanted.items())]
    return 200, {"Findings": found[:limit] if limit else found}, None


def batch_update_findings(body, account, region):
    """Returns (status, body, error code or None) for Security Hub's BatchUpdateFindings."""
    from moto.securityhub.models import securityhub_backends

    def invalid(message):
        return 400, {"Code": "InvalidInputException", "Message": message}, "InvalidInputException"

    identifiers = body.get("FindingIdentifiers")
    if not isinstance(identifiers, list) or not 1 <= len(identifiers) <= 100:
        return invalid("FindingIdentifiers: 1 to 100 items")
    workflow, note = body.get("Workflow"), body.get("Note")
    if workflow is not None and (not isinstance(workflow, dict) or workflow.get("Status") not in WORKFLOW_STATUSES):
        return invalid(f"Workflow.Status: one of {', '.join(WORKFLOW_STATUSES)}")
    if note is not None:
        if not isinstance(note, dict):
            return invalid("Note: an object")
        for field in ("Text", "UpdatedBy"):
            value = note.get(field)
            if not isinstance(value, str) or not 1 <= len(value) <= 512:
                return invalid(f"Note.{field}: required, 1 to 512 characters")
    backend = securityhub_backends[account][region]
    processed, unprocessed = [], []
    for ident in identifiers:
        ident = ident if isinstance(ident, dict) else {}
        found = next((f for f in backend.findings if f.id == ident.get("Id")
                      and f.data.get("ProductArn") == ident.get("ProductArn")), None)
        if found is None:
            unprocessed.append({"FindingIdentifier": ident, "ErrorCode": "FindingNotFound",
                                "ErrorMessage": "no finding with this Id and ProductArn"})
            continue
        with LOCK:
            if workflow is not None:
                found.data["Workflow"] = {"Status": workflow["Status"]}
            if note is not None:
                found.data["Note"] = {"Text": note["Text"], "UpdatedBy": note["UpdatedBy"],
                                      "UpdatedAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())}
        processed.append({"Id": ident.get("Id"), "ProductArn": ident.get("ProductArn")})
    return 200, {"ProcessedFindings": processed, "UnprocessedFindings": unprocessed}, None


def rotate_secret_as_aws(secret_id, account, region, lambda_arn=None):
    """What AWS says before RotateSecret starts: an error message, or None to go on."""
    from moto.secretsmanager.models import secretsmanager_backends

    if not secret_id:
        return None
    secret = secretsmanager_backends[account][region].secrets.get(secret_id)
    if secret is not None and not lambda_arn and not getattr(secret, "rotation_lambda_arn", ""):
        # Documented (InvalidRequestException): rotation needs a function, configured or
        # given in the call; moto rotates such a secret anyway.
        return ("You tried to enable rotation on a secret that doesn't already have a Lambda "
                "function ARN configured and you didn't include such an ARN as a parameter in this call.")
    versions = getattr(secret, "versions", None) or {}
    for version_id, version in versions.items():
        stages = version.get("version_stages", [])
        if "AWSPENDING" in stages and "AWSCURRENT" not in stages:
            return (f"A previous rotation isn't complete. That rotation will be reattempted "
                    f"(version {version_id} holds AWSPENDING).")
        if "AWSPENDING" in stages and "AWSCURRENT" in stages:
            # A finished rotation: AWS rotates again; moto would refuse.
            stages.remove("AWSPENDING")
    return None
