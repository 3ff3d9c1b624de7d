"""The stand-ins' own rules, without a server: the runbook interpreter (placeholders,
output selectors, onFailure, nextStep, isEnd, outputs), the parameter checks SSM makes,
and the Incident Manager limits. `make lint` runs these (`python -m unittest`)."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import moto_standins as s  # noqa: E402


def script(name, body, **step):
    """An aws:executeScript step whose handler runs `body` (a Python expression of events)."""
    code = f"def handler(events, context):\n    return {body}\n"
    return {"name": name, "action": "aws:executeScript",
            "inputs": {"Runtime": "python3.11", "Handler": "handler", "Script": code,
                       "InputPayload": {"Who": "{{ UserName }}", "Seen": "{{ first.Value }}"}},
            **step}


class Interpreter(unittest.TestCase):
    def test_placeholders_and_selectors(self):
        values = {"UserName": "alice", "Keys": ["a", "b"]}
        self.assertEqual(s._substitute("{{ UserName }}", values), "alice")
        self.assertEqual(s._substitute("{{Keys}}", values), ["a", "b"], "a whole placeholder keeps its type")
        self.assertEqual(s._substitute("user {{ UserName }} ({{ Missing }})", values), "user alice ({{ Missing }})")
        doc = {"Payload": {"Items": [{"Id": "x"}, {"Id": "y"}]}}
        self.assertEqual(s._select(doc, "$.Payload.Items[1].Id"), "y")
        self.assertIsNone(s._select(doc, "$.Payload.Items[5].Id"))
        self.assertIsNone(s._select(doc, "$.Nothing.Here"))

    def test_steps_run_in_order_and_outputs_flow(self):
        doc = {
            "mainSteps": [
                script("first", '{"Value": events["Who"].upper()}',
                       outputs=[{"Name": "Value", "Selector": "$.Payload.Value", "Type": "String"}]),
                script("second", '{"Got": events["Seen"]}',
                       outputs=[{"Name": "Got", "Selector": "$.Payload.Got", "Type": "String"}], isEnd=True),
                script("never", '{"x": 1}'),
            ],
            "outputs": ["first.Value", "second.Got"],
        }
        status, steps, outputs, failure = s._run(doc, {"UserName": "alice"}, "us-east-1")
        self.assertEqual(status, "Success")
        self.assertIsNone(failure)
        self.assertEqual([x["StepName"] for x in steps], ["first", "second"], "isEnd stops the run")
        self.assertEqual(outputs, {"first.Value": ["ALICE"], "second.Got": ["ALICE"]})

    def test_on_failure_goes_to_its_step_else_the_run_fails(self):
        failing = script("boom", '1 / 0', onFailure="step:tell")
        doc = {"mainSteps": [failing, script("skipped", '{}'), script("tell", '{"told": True}', isEnd=True)]}
        status, steps, _, _ = s._run(doc, {"UserName": "a"}, "us-east-1")
        self.assertEqual(status, "Success")
        self.assertEqual([(x["StepName"], x["StepStatus"]) for x in steps], [("boom", "Failed"), ("tell", "Success")])
        self.assertIn("ZeroDivisionError", steps[0]["FailureMessage"])

        doc = {"mainSteps": [script("boom", '1 / 0'), script("after", '{}')]}
        status, steps, _, failure = s._run(doc, {"UserName": "a"}, "us-east-1")
        self.assertEqual(status, "Failed", "Abort is the default")
        self.assertEqual([x["StepName"] for x in steps], ["boom"])
        self.assertIn("ZeroDivisionError", failure)

    def test_next_step_jumps_and_other_actions_fail(self):
        doc = {"mainSteps": [script("a", '{}', nextStep="c"), script("b", '{}'), script("c", '{}')]}
        _, steps, _, _ = s._run(doc, {"UserName": "a"}, "us-east-1")
        self.assertEqual([x["StepName"] for x in steps], ["a", "c"])
        doc = {"mainSteps": [{"name": "sleep", "action": "aws:sleep", "inputs": {"Duration": "PT1S"}}]}
        status, steps, _, failure = s._run(doc, {}, "us-east-1")
        self.assertEqual(status, "Failed")
        self.assertIn("does not run aws:sleep", failure)


class Parameters(unittest.TestCase):
    DECLARED = {"UserName": {"type": "String", "allowedPattern": "^[\\w+=,.@-]{1,64}$"},
                "Topic": {"type": "String", "default": ""}}

    def refused(self, given):
        with self.assertRaises(s.ServiceError) as caught:
            s._check_parameters(self.DECLARED, given)
        return caught.exception.code

    def test_declared_required_and_matching(self):
        s._check_parameters(self.DECLARED, {"UserName": ["alice"]})
        self.assertEqual(self.refused({}), "InvalidAutomationExecutionParametersException")
        self.assertEqual(self.refused({"UserName": ["alice"], "Other": ["x"]}), "InvalidAutomationExecutionParametersException")
        self.assertEqual(self.refused({"UserName": ["bad name!"]}), "InvalidAutomationExecutionParametersException")
        self.assertEqual(self.refused({"UserName": "alice"}), "ValidationException", "values are lists of strings")

    def test_client_token_must_be_a_uuid(self):
        with self.assertRaises(s.ServiceError) as caught:
            s._start_automation({"DocumentName": "d", "ClientToken": "not-a-uuid"}, "123456789012", "us-east-1")
        self.assertEqual(caught.exception.code, "ValidationException")


class AutomationAccounts(unittest.TestCase):
    def setUp(self):
        s.reset()

    def test_a_role_of_another_account_is_not_passed(self):
        with self.assertRaises(s.ServiceError) as caught:
            s._assumed("arn:aws:iam::222222222222:role/keyguard-member-runbook", "111111111111")
        self.assertEqual(caught.exception.code, "AccessDeniedException")
        with self.assertRaises(s.ServiceError) as caught:
            s._assumed("keyguard-member-runbook", "111111111111")
        self.assertEqual(caught.exception.code, "InvalidAutomationExecutionParametersException")
        self.assertIsNone(s._assumed("", "111111111111"), "no role: the caller's permissions")
        with self.assertRaises(s.ServiceError) as caught:
            s._assumed("arn:aws:iam::111111111111:role/not-deployed", "111111111111")
        self.assertEqual(caught.exception.code, "InvalidAutomationExecutionParametersException")

    def test_an_execution_is_seen_by_its_own_account_only(self):
        for account, eid in (("111111111111", "e-home"), ("222222222222", "e-member")):
            s.EXECUTIONS[eid] = {"Account": account, "AutomationExecutionId": eid, "DocumentName": "d",
                                 "ExecutionStartTime": 1.0, "AutomationExecutionStatus": "Success"}
        listed = s._describe([], "222222222222")
        self.assertEqual([r["AutomationExecutionId"] for r in listed], ["e-member"])
        status, body = s.ssm("GetAutomationExecution", {"AutomationExecutionId": "e-home"}, "222222222222", "us-east-1")
        self.assertEqual((status, body["__type"]), (400, "AutomationExecutionNotFoundException"))
        status, _ = s.ssm("GetAutomationExecution", {"AutomationExecutionId": "e-member"}, "222222222222", "us-east-1")
        self.assertEqual(status, 200)


class Incidents(unittest.TestCase):
    def setUp(self):
        s.reset()

    def start(self, **over):
        body = {"responsePlanArn": "arn:aws:ssm-incidents::123456789012:response-plan/keyguard",
                "title": "t", "impact": 2, "clientToken": "c-1",
                "triggerDetails": {"source": "keyguard.guardduty-translator", "timestamp": 1.0, "rawData": "{}"}}
        body.update(over)
        return s.incidents("POST", "/startIncident", {}, body, "123456789012", "us-east-1")

    def test_limits_aws_enforces(self):
        self.assertEqual(self.start()[0], 200)
        for over in [
            {"title": "x" * 201},
            {"impact": 6},
            {"clientToken": "x" * 129},
            {"triggerDetails": {"source": "aws.guardduty", "timestamp": 1.0}},
            {"triggerDetails": {"source": "k", "timestamp": 1.0, "rawData": "x" * 10_001}},
            {"relatedItems": [{"identifier": {"type": "OTHER", "value": {"url": "https://x"}}}] * 101},
        ]:
            with self.subTest(over=list(over)):
                self.assertEqual(self.start(**{"clientToken": "c-other", **over})[0], 400)

    def test_a_token_again_is_the_same_incident_or_a_conflict(self):
        first = self.start()
        self.assertEqual(self.start(), first)
        status, _, code = self.start(title="another")
        self.assertEqual((status, code), (409, "ConflictException"))


    def add(self, arn, **over):
        body = {"incidentRecordArn": arn, "eventTime": 1.0, "eventType": "Custom Event",
                "eventData": "what the key did", "clientToken": "t-1"}
        body.update(over)
        return s.incidents("POST", "/createTimelineEvent", {}, body, "123456789012", "us-east-1")

    def test_a_timeline_event_needs_its_incident_and_keeps_the_limits(self):
        arn = self.start()[1]["incidentRecordArn"]
        status, reply, _ = self.add(arn)
        self.assertEqual(status, 200)
        self.assertEqual(self.add(arn), (200, reply, None), "the same token, the same event")
        self.assertEqual(self.add(arn, eventData="other")[2], "ConflictException")
        missing = arn.rsplit("/", 1)[0] + "/00000000-0000-4000-8000-000000000000"
        self.assertEqual(self.add(missing, clientToken="t-2")[:1] + (self.add(missing, clientToken="t-2")[2],),
                         (404, "ResourceNotFoundException"))
        for over in [{"eventData": "x" * 12_001}, {"eventType": "Page"}, {"clientToken": "x" * 129},
                     {"eventReferences": [{"resource": arn}] * 11}, {"eventTime": None}]:
            with self.subTest(over=list(over)):
                self.assertEqual(self.add(arn, **{"clientToken": "t-3", **over})[2], "ValidationException")
        listed = s.incidents("POST", "/listTimelineEvents", {}, {"incidentRecordArn": arn}, "1", "r")[1]
        self.assertEqual([e["eventId"] for e in listed["eventSummaries"]], [reply["eventId"]])
        got = s.incidents("GET", "/getTimelineEvent", {"incidentRecordArn": [arn], "eventId": [reply["eventId"]]},
                          {}, "1", "r")[1]
        self.assertEqual(got["event"]["eventData"], "what the key did")


class LookupEvents(unittest.TestCase):
    """CloudTrail LookupEvents' documented rules (moto_cloudtrail)."""

    def setUp(self):
        import moto_cloudtrail
        self.ct = moto_cloudtrail
        self.ct.reset()
        records = [{"eventID": "e%03d" % i, "eventName": "ListUsers", "eventSource": "iam.amazonaws.com",
                    "eventTime": "2026-12-01T10:%02d:%02dZ" % (i // 60, i % 60),
                    "userIdentity": {"accessKeyId": "AKIAA" if i % 2 else "AKIAB"}} for i in range(130)]
        self.ct.put_events({"region": "us-east-1", "events": records}, "123456789012")

    def look(self, **body):
        self.ct.ACCEPTED.clear()  # each call on its own, unless a test is about the rate
        return self.ct.lookup_events(body, "123456789012", "us-east-1")

    def test_pages_newest_first_and_filters_by_key(self):
        attr = [{"AttributeKey": "AccessKeyId", "AttributeValue": "AKIAA"}]
        seen, token = [], None
        while True:
            body = {"LookupAttributes": attr}
            if token:
                body["NextToken"] = token
            status, reply = self.look(**body)
            self.assertEqual(status, 200)
            self.assertLessEqual(len(reply["Events"]), 50)
            seen += [e["EventId"] for e in reply["Events"]]
            token = reply.get("NextToken")
            if not token:
                break
        self.assertEqual(len(seen), 65)
        self.assertEqual(seen, sorted(seen, reverse=True), "newest first")
        self.assertTrue(all(int(e[1:]) % 2 for e in seen), "only the asked key's events")

    def test_documented_refusals(self):
        two = [{"AttributeKey": "AccessKeyId", "AttributeValue": "x"},
               {"AttributeKey": "EventName", "AttributeValue": "y"}]
        self.assertEqual(self.look(LookupAttributes=two)[1]["__type"], "InvalidLookupAttributesException")
        bad = [{"AttributeKey": "SourceIp", "AttributeValue": "x"}]
        self.assertEqual(self.look(LookupAttributes=bad)[1]["__type"], "InvalidLookupAttributesException")
        self.assertEqual(self.look(MaxResults=51)[1]["__type"], "InvalidMaxResultsException")
        self.assertEqual(self.look(StartTime=20, EndTime=10)[1]["__type"], "InvalidTimeRangeException")
        self.assertEqual(self.look(StartTime="soon")[1]["__type"], "SerializationException")
        _, first = self.look(LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": "AKIAA"}])
        other = [{"AttributeKey": "AccessKeyId", "AttributeValue": "AKIAB"}]
        self.assertEqual(self.look(LookupAttributes=other, NextToken=first["NextToken"])[1]["__type"],
                         "InvalidNextTokenException", "a token is valid only with its own parameters")

    def test_a_third_request_within_a_second_is_throttled(self):
        self.ct.ACCEPTED.clear()
        replies = [self.ct.lookup_events({}, "123456789012", "us-east-1") for _ in range(3)]
        self.assertEqual([r[0] for r in replies], [200, 200, 400])
        self.assertEqual(replies[2][1]["__type"], "ThrottlingException")
        other_region = self.ct.lookup_events({}, "123456789012", "eu-west-1")
        self.assertEqual(other_region[0], 200, "the limit is per region")
        self.assertEqual([x["throttled"] for x in self.ct.lookups()[1]["lookups"]], [False, False, True, False])


if __name__ == "__main__":
    unittest.main()


class SecurityHubWorkflow(unittest.TestCase):
    def test_batch_update_findings_sets_the_workflow_of_findings_that_exist(self):
        from moto.securityhub.models import securityhub_backends

        account, region = "111122223333", "eu-west-3"
        product = f"arn:aws:securityhub:{region}:{account}:product/{account}/default"
        backend = securityhub_backends[account][region]
        backend.batch_import_findings([{"Id": "keyguard/x/1", "ProductArn": product,
                                        "Resources": [{"Type": "Other", "Id": "r"}]}])
        note = {"Text": "undone: a false positive", "UpdatedBy": "keyguard undo"}
        status, reply, _ = s.batch_update_findings(
            {"FindingIdentifiers": [{"Id": "keyguard/x/1", "ProductArn": product},
                                    {"Id": "keyguard/x/2", "ProductArn": product}],
             "Workflow": {"Status": "SUPPRESSED"}, "Note": note}, account, region)
        self.assertEqual(status, 200)
        self.assertEqual([p["Id"] for p in reply["ProcessedFindings"]], ["keyguard/x/1"])
        self.assertEqual(reply["UnprocessedFindings"][0]["ErrorCode"], "FindingNotFound")
        found = backend.findings[0].data
        self.assertEqual(found["Workflow"], {"Status": "SUPPRESSED"})
        self.assertEqual(found["Note"]["UpdatedBy"], "keyguard undo")
        # GetFindings: the filters keyguard sends are applied, any other refused.
        backend.batch_import_findings([{"Id": "keyguard/x/3", "ProductArn": product,
                                        "Resources": [{"Type": "Other", "Id": "r"}]}])
        one = {"Filters": {"Id": [{"Value": "keyguard/x/3", "Comparison": "EQUALS"}],
                           "ProductArn": [{"Value": product, "Comparison": "EQUALS"}]}, "MaxResults": 1}
        status, reply, _ = s.get_findings(one, account, region)
        self.assertEqual(status, 200)
        self.assertEqual([f["Id"] for f in reply["Findings"]], ["keyguard/x/3"])
        status, reply, _ = s.get_findings({}, account, region)
        self.assertEqual(len(reply["Findings"]), 2)
        for bad in ({"Filters": {"Title": [{"Value": "x", "Comparison": "EQUALS"}]}},
                    {"Filters": {"Id": [{"Value": "x", "Comparison": "PREFIX"}]}},
                    {"MaxResults": 0}):
            self.assertEqual(s.get_findings(bad, account, region)[0], 400, bad)
        for bad in ({"FindingIdentifiers": []},
                    {"FindingIdentifiers": [{}], "Workflow": {"Status": "CLOSED"}},
                    {"FindingIdentifiers": [{}], "Note": {"Text": "no author"}}):
            self.assertEqual(s.batch_update_findings(bad, account, region)[0], 400, bad)
