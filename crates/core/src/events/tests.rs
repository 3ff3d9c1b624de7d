use super::*;
use serde_json::json;

fn parse_json(v: serde_json::Value) -> Result<Trigger, ParseError> {
    parse(v.to_string().as_bytes())
}

fn field_error(v: serde_json::Value) -> (String, String) {
    match parse_json(v) {
        Err(ParseError::Field { path, message }) => (path, message),
        other => panic!("expected a field error, got {other:?}"),
    }
}

fn envelope(detail_type: &str, detail: serde_json::Value) -> serde_json::Value {
    json!({
        "version": "0", "id": "ev-1", "detail-type": detail_type, "source": "aws.iam",
        "account": "123456789012", "time": "2026-11-23T10:00:00Z", "region": "us-east-1",
        "resources": [], "detail": detail
    })
}

fn create_key_record(caller: &str, target: &str) -> serde_json::Value {
    json!({
        "eventName": "CreateAccessKey", "eventSource": "iam.amazonaws.com", "eventID": "e-1",
        "userIdentity": {"type": "IAMUser", "userName": caller, "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
                         "arn": format!("arn:aws:iam::123456789012:user/{caller}")},
        "requestParameters": {"userName": target},
        "responseElements": {"accessKey": {"accessKeyId": "AKIAI44QH8DHBEXAMPLE", "status": "Active", "userName": target}}
    })
}

#[test]
fn envelope_dispatch_by_detail_type() {
    let cases = [
        (
            "AWS API Call via CloudTrail",
            create_key_record("a", "b"),
            TriggerKind::Cloudtrail,
        ),
        (
            "GuardDuty Finding",
            json!({"id": "f", "type": "T", "severity": 8.0}),
            TriggerKind::Guardduty,
        ),
        (
            "AWS Health Event",
            json!({"eventTypeCode": "X"}),
            TriggerKind::Health,
        ),
        ("Scheduled Event", json!({}), TriggerKind::Scheduled),
        (
            "Some Future Event",
            json!({"x": 1}),
            TriggerKind::Unsupported,
        ),
    ];
    for (detail_type, detail, kind) in cases {
        let t = parse_json(envelope(detail_type, detail))
            .unwrap_or_else(|e| panic!("{detail_type}: {e}"));
        assert_eq!(t.kind(), kind, "{detail_type}");
        // A finding is named by its own id, which a re-publication keeps.
        let want = if kind == TriggerKind::Guardduty {
            t.event_id()
        } else {
            Some("ev-1")
        };
        assert_eq!(t.event_id(), want);
        assert!(t.envelope().is_some_and(Envelope::is_from_aws));
    }
}

#[test]
fn create_access_key_is_decoded() {
    let t = parse_json(envelope(
        "AWS API Call via CloudTrail",
        create_key_record("jack", "jackson"),
    ))
    .unwrap();
    let Trigger::CloudTrail { record, .. } = t else {
        panic!("not cloudtrail")
    };
    let ApiCall::CreateAccessKey(call) = &record.call else {
        panic!("{:?}", record.call)
    };
    assert_eq!(call.requested_user.as_deref(), Some("jackson"));
    let created = call.created.as_ref().unwrap();
    assert_eq!(
        created.access_key_id.as_deref(),
        Some("AKIAI44QH8DHBEXAMPLE")
    );
    assert_eq!(record.user_identity.identity_type, IdentityType::IamUser);
    assert!(record.succeeded());
}

#[test]
fn every_identity_type_is_kept() {
    for (raw, want) in [
        ("IAMUser", IdentityType::IamUser),
        ("AssumedRole", IdentityType::AssumedRole),
        ("Root", IdentityType::Root),
        ("AWSService", IdentityType::AwsService),
        ("FederatedUser", IdentityType::FederatedUser),
        ("IdentityCenterUser", IdentityType::IdentityCenterUser),
        ("AWSAccount", IdentityType::AwsAccount),
        ("SomethingNew", IdentityType::Unknown("SomethingNew".into())),
    ] {
        let rec = json!({"eventName": "GetUser", "eventSource": "iam.amazonaws.com", "userIdentity": {"type": raw}});
        let Ok(Trigger::CloudTrail { record, .. }) = parse_json(rec) else {
            panic!("{raw}")
        };
        assert_eq!(record.user_identity.identity_type, want);
        assert_eq!(record.user_identity.identity_type.as_str(), raw);
    }
}

#[test]
fn typed_elements_of_each_watched_call() {
    let rec = |name: &str, source: &str, req: serde_json::Value, resp: serde_json::Value| {
        json!({"eventName": name, "eventSource": source, "userIdentity": {"type": "IAMUser"},
               "requestParameters": req, "responseElements": resp})
    };
    let call = |v| match parse_json(v) {
        Ok(Trigger::CloudTrail { record, .. }) => record.call,
        other => panic!("{other:?}"),
    };
    assert!(matches!(
        call(rec("UpdateAccessKey", "iam.amazonaws.com", json!({"userName": "u", "accessKeyId": "AKIAIOSFODNN7EXAMPLE", "status": "Inactive"}), json!(null))),
        ApiCall::UpdateAccessKey(KeyRequest { status: Some(s), .. }) if s == "Inactive"
    ));
    assert!(matches!(
        call(rec(
            "DeleteAccessKey",
            "iam.amazonaws.com",
            json!({"accessKeyId": "AKIAIOSFODNN7EXAMPLE"}),
            json!(null)
        )),
        ApiCall::DeleteAccessKey(KeyRequest {
            user_name: None,
            ..
        })
    ));
    assert!(matches!(
        call(rec(
            "CreateUser",
            "iam.amazonaws.com",
            json!({"userName": "new"}),
            json!({})
        )),
        ApiCall::CreateUser(UserRequest { user_name: Some(_) })
    ));
    assert!(matches!(
        call(rec(
            "CreateLoginProfile",
            "iam.amazonaws.com",
            json!({"userName": "new"}),
            json!(null)
        )),
        ApiCall::CreateLoginProfile(_)
    ));
    assert!(matches!(
        call(rec(
            "AttachUserPolicy",
            "iam.amazonaws.com",
            json!({"userName": "u", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
            json!(null)
        )),
        ApiCall::AttachUserPolicy(AttachUserPolicy {
            policy_arn: Some(_),
            ..
        })
    ));
    let run = call(rec(
        "RunInstances",
        "ec2.amazonaws.com",
        json!({"instanceType": "p4d.24xlarge", "instancesSet": {"items": [{"imageId": "ami-1", "minCount": 1, "maxCount": "20"}]}}),
        json!({"instancesSet": {"items": [{"instanceId": "i-1"}, {"instanceId": "i-2"}]}}),
    ));
    assert_eq!(
        run,
        ApiCall::RunInstances(RunInstances {
            instance_type: Some("p4d.24xlarge".into()),
            requested: 20,
            started: 2
        })
    );
    // The same name from another service is not the IAM call.
    assert_eq!(
        call(rec(
            "CreateUser",
            "quicksight.amazonaws.com",
            json!({}),
            json!(null)
        )),
        ApiCall::Other
    );
}

#[test]
fn malformed_inputs_are_typed_errors() {
    // Truncated JSON.
    assert!(matches!(
        parse(br#"{"detail-type": "GuardDuty Fin"#),
        Err(ParseError::Syntax { .. })
    ));
    assert!(matches!(parse(b""), Err(ParseError::Syntax { .. })));
    // `detail` of the wrong type.
    let (path, msg) = field_error(envelope("GuardDuty Finding", json!("a string")));
    assert_eq!(path, "detail");
    assert!(msg.contains("invalid type"), "{msg}");
    // A missing required field names itself.
    let (path, msg) = field_error(envelope(
        "AWS API Call via CloudTrail",
        json!({"eventName": "X", "userIdentity": {"type": "IAMUser"}}),
    ));
    assert_eq!(path, "detail.eventSource");
    assert!(msg.contains("missing field"), "{msg}");
    let (path, _) = field_error(
        json!({"detail-type": "GuardDuty Finding", "source": "aws.guardduty", "detail": {}}),
    );
    assert_eq!(path, "id");
    // A 19-character key id in the hand-off.
    let (path, msg) = field_error(json!({"accessKeyId": "AKIAIOSFODNN7EXAMPL", "userName": "bob"}));
    assert_eq!(path, "accessKeyId");
    assert!(msg.contains("20 characters"), "{msg}");
    // An array where a string belongs.
    let (path, _) = field_error(envelope(
        "AWS API Call via CloudTrail",
        json!({"eventName": "X", "eventSource": "y", "userIdentity": {"type": "IAMUser", "userName": ["a"]}}),
    ));
    assert_eq!(path, "detail.userIdentity.userName");
    // A wrong type inside a decoded call names the element.
    let mut rec = create_key_record("a", "b");
    rec["requestParameters"]["userName"] = json!(42);
    let (path, _) = field_error(envelope("AWS API Call via CloudTrail", rec));
    assert_eq!(path, "detail.requestParameters.userName");
    // A user name with a control character in the hand-off.
    let (path, _) =
        field_error(json!({"accessKeyId": "AKIAIOSFODNN7EXAMPLE", "userName": "bob\u{7}"}));
    assert_eq!(path, "userName");
    // Unknown rotation step.
    let (path, _) =
        field_error(json!({"Step": "dropSecret", "SecretId": "s", "ClientRequestToken": "t"}));
    assert_eq!(path, "Step");
    // Not an object at all; an unknown object; a CloudTrail log file.
    for v in [
        json!([1, 2]),
        json!("x"),
        json!(null),
        json!({"hello": "world"}),
        json!({"Records": []}),
    ] {
        assert!(matches!(
            parse_json(v),
            Err(ParseError::Unrecognized { .. })
        ));
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let depth = 100_000;
    let mut s = "[".repeat(depth);
    s.push_str(&"]".repeat(depth));
    assert!(matches!(
        parse(s.as_bytes()),
        Err(ParseError::Syntax { .. })
    ));
    let deep_detail = format!(
        r#"{{"detail-type":"GuardDuty Finding","source":"aws.guardduty","id":"x","detail":{}{}}}"#,
        "{\"a\":".repeat(5000),
        "1".to_owned() + &"}".repeat(5000)
    );
    assert!(parse(deep_detail.as_bytes()).is_err());
}

#[test]
fn huge_strings_parse_without_trouble() {
    let big = "A".repeat(5_000_000);
    let t = parse_json(
        json!({"eventName": big, "eventSource": "x", "userIdentity": {"type": "IAMUser"}}),
    );
    assert!(matches!(t, Ok(Trigger::CloudTrail { .. })));
}

#[test]
fn unknown_fields_are_ignored() {
    let mut rec = create_key_record("a", "b");
    rec["brandNewField"] = json!({"nested": [1, 2, 3]});
    rec["userIdentity"]["futureField"] = json!(true);
    assert!(matches!(parse_json(rec), Ok(Trigger::CloudTrail { .. })));
}

#[test]
fn handoff_and_rotation() {
    let t = parse_json(
        json!({"accessKeyId": "ASIA5ZXAKGI33TI7QQGW", "roleName": "app-role", "accountId": "123456789012",
                              "classifierSource": "threat-ip", "eventId": "e-9"}),
    )
    .unwrap();
    let Trigger::Handoff(h) = &t else { panic!() };
    assert_eq!(h.access_key_id.kind(), crate::KeyKind::Temporary);
    assert_eq!(t.event_id(), Some("e-9"));
    let t = parse_json(
        json!({"Step": "finishSecret", "SecretId": "arn:x", "ClientRequestToken": "7f9c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"}),
    )
    .unwrap();
    assert!(matches!(
        t,
        Trigger::Rotation(RotationEvent {
            step: RotationStep::Finish,
            ..
        })
    ));
    assert_eq!(t.event_id(), Some("7f9c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"));
}

#[test]
fn custom_sources_are_not_from_aws() {
    let mut ev = envelope(
        "GuardDuty Finding",
        json!({"id": "f", "type": "T", "severity": 8}),
    );
    ev["source"] = json!("custom.guardduty.simulation");
    let t = parse_json(ev).unwrap();
    assert!(!t.envelope().unwrap().is_from_aws());
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    fn arb_json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            prop_oneof![
                "[A-Z0-9]{0,24}",
                "\\PC{0,12}",
                Just("AKIAIOSFODNN7EXAMPLE".to_owned()),
                Just("GuardDuty Finding".to_owned()),
                Just("AWS API Call via CloudTrail".to_owned()),
                Just("AWS Health Event".to_owned()),
                Just("createSecret".to_owned()),
            ]
            .prop_map(serde_json::Value::from),
        ];
        let keys = prop_oneof![
            Just("detail-type".to_owned()),
            Just("source".to_owned()),
            Just("detail".to_owned()),
            Just("id".to_owned()),
            Just("eventName".to_owned()),
            Just("eventSource".to_owned()),
            Just("userIdentity".to_owned()),
            Just("type".to_owned()),
            Just("severity".to_owned()),
            Just("accessKeyId".to_owned()),
            Just("Step".to_owned()),
            Just("SecretId".to_owned()),
            Just("ClientRequestToken".to_owned()),
            Just("requestParameters".to_owned()),
            Just("responseElements".to_owned()),
            Just("instancesSet".to_owned()),
            Just("items".to_owned()),
            Just("eventTypeCode".to_owned()),
            Just("resource".to_owned()),
            Just("service".to_owned()),
            "[a-z]{1,6}",
        ];
        leaf.prop_recursive(6, 64, 8, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map(keys.clone(), inner, 0..8)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn arbitrary_json(v in arb_json()) {
            let _ = parse(v.to_string().as_bytes());
        }

        #[test]
        fn arbitrary_envelopes(detail in arb_json(), dt in prop_oneof![
            Just("GuardDuty Finding"), Just("AWS API Call via CloudTrail"), Just("AWS Health Event"), Just("Scheduled Event")]) {
            let _ = parse(envelope(dt, detail).to_string().as_bytes());
        }
    }
}

#[test]
fn both_schedule_shapes_are_scheduled_events_from_aws() {
    // EventBridge Scheduler (SAM's ScheduleV2) sends `detail` as the string "{}" from
    // aws.scheduler; a classic schedule rule sends an object from aws.events.
    for file in [
        "age-rotation/schedule.json",
        "age-rotation/schedule-scheduler.json",
        "secrets-rotator/schedule.json",
        "secrets-rotator/schedule-scheduler.json",
    ] {
        let path = keyguard_testkit::workspace_root().join("events").join(file);
        let t = parse(&std::fs::read(&path).unwrap()).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(t.kind(), TriggerKind::Scheduled, "{file}");
        assert!(t.envelope().is_some_and(Envelope::is_from_aws), "{file}");
    }
}

/// The shapes real recordings show, which no rule needs to be exact: each parses, and the
/// rules decide on what is there.
#[test]
fn fields_no_rule_needs_never_make_a_record_invalid() {
    let record = |v: serde_json::Value| match parse_json(envelope("AWS API Call via CloudTrail", v))
    {
        Ok(Trigger::CloudTrail { record, .. }) => record,
        other => panic!("{other:?}"),
    };
    // No userIdentity at all (an AwsServiceEvent), and one without its type.
    let r = record(json!({"eventName": "X", "eventSource": "y", "eventType": "AwsServiceEvent"}));
    assert_eq!(r.user_identity.identity_type, IdentityType::Absent);
    let back = serde_json::to_value(&r).unwrap();
    assert!(back.get("userIdentity").is_none(), "{back}");
    let r = record(
        json!({"eventName": "X", "eventSource": "y", "userIdentity": {"invokedBy": "cloudtrail.amazonaws.com", "accountId": "123456789012"}}),
    );
    assert_eq!(r.user_identity.identity_type, IdentityType::unstated());
    assert_eq!(
        r.user_identity.invoked_by.as_deref(),
        Some("cloudtrail.amazonaws.com")
    );
    // Fields no rule reads, in a converter's types.
    let r = record(
        json!({"eventName": "X", "eventSource": "y", "eventType": 3, "errorMessage": {"a": 1},
        "userIdentity": {"type": "AssumedRole", "principalId": 7, "sessionContext": {"attributes": {"mfaAuthenticated": false, "creationDate": 1}}}}),
    );
    let attributes = r.user_identity.session_context.unwrap().attributes.unwrap();
    assert_eq!(attributes.mfa_authenticated.as_deref(), Some("false"));
    assert_eq!(r.error_message.as_deref(), Some(r#"{"a":1}"#));
    // instanceType as EC2 Fleet and Auto Scaling write it, and of a shape nobody writes.
    let run = |instance_type: serde_json::Value| {
        record(json!({"eventName": "RunInstances", "eventSource": "ec2.amazonaws.com", "userIdentity": {"type": "IAMUser"},
            "requestParameters": {"instanceType": instance_type, "instancesSet": {"items": [{"maxCount": 3}]}}}))
        .call
    };
    let ApiCall::RunInstances(fleet) = run(json!({"value": "p2.xlarge"})) else {
        panic!()
    };
    assert_eq!(
        (fleet.instance_type.as_deref(), fleet.requested),
        (Some("p2.xlarge"), 3)
    );
    let ApiCall::RunInstances(odd) = run(json!(7)) else {
        panic!()
    };
    assert_eq!((odd.instance_type, odd.requested), (None, 3));
    // responseElements as a bare string says nothing; as a JSON string it is read.
    let mut rec = create_key_record("a", "b");
    let response = rec["responseElements"].clone();
    rec["responseElements"] = json!("an opaque string");
    let ApiCall::CreateAccessKey(call) = record(rec.clone()).call else {
        panic!()
    };
    assert_eq!(
        (call.requested_user.as_deref(), call.created),
        (Some("b"), None)
    );
    rec["responseElements"] = json!(response.to_string());
    let ApiCall::CreateAccessKey(call) = record(rec.clone()).call else {
        panic!()
    };
    assert_eq!(
        call.created.and_then(|c| c.access_key_id).as_deref(),
        Some("AKIAI44QH8DHBEXAMPLE")
    );
    // The request names the target, so it stays exact: as a JSON string it is read, as
    // anything else it is an error naming the field.
    rec["requestParameters"] = json!(r#"{"userName": "c"}"#);
    let ApiCall::CreateAccessKey(call) = record(rec.clone()).call else {
        panic!()
    };
    assert_eq!(call.requested_user.as_deref(), Some("c"));
    rec["requestParameters"] = json!("not json");
    let (path, _) = field_error(envelope("AWS API Call via CloudTrail", rec));
    assert_eq!(path, "detail.requestParameters");
}

#[test]
fn guardduty_and_health_fields_no_decision_reads_never_make_an_event_invalid() {
    let gd = json!({"version": "0", "id": "ev-1", "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
        "account": "123456789012", "region": "us-east-1", "detail": {
        "id": "f-1", "type": "UnauthorizedAccess:IAMUser/MaliciousIPCaller", "severity": 5,
        "accountId": "123456789012", "region": 7, "arn": {"x": 1}, "title": 9, "updatedAt": 1700000000,
        "resource": {"resourceType": "AccessKey", "accessKeyDetails": {"accessKeyId": "AKIAIOSFODNN7EXAMPLE", "userName": "alice", "userType": "IAMUser"}},
        "service": {"archived": "no", "count": "3", "eventFirstSeen": 1, "action": {"actionType": 4,
            "awsApiCallAction": {"api": ["x"], "serviceName": null, "callerType": 1, "errorCode": false,
                "remoteIpDetails": {"ipAddressV4": 10}, "remoteAccountDetails": {"accountId": "111122223333", "affiliated": "maybe"}}}}}});
    let Ok(Trigger::GuardDuty { finding, .. }) = parse_json(gd.clone()) else {
        panic!("{:?}", parse_json(gd))
    };
    // What the decisions read is as sent; the rest is kept where it can be, else dropped.
    let key = finding
        .resource
        .as_ref()
        .and_then(|r| r.access_key_details.as_ref());
    assert_eq!(
        key.and_then(|k| k.access_key_id.as_deref()),
        Some("AKIAIOSFODNN7EXAMPLE")
    );
    assert_eq!(
        (finding.region, finding.arn, finding.updated_at),
        (None, None, None)
    );
    let service = finding.service.unwrap();
    assert_eq!((service.archived, service.count), (None, Some(3)));
    let call = service.action.unwrap().aws_api_call_action.unwrap();
    assert_eq!(call.api.as_deref(), Some(r#"["x"]"#));
    assert_eq!(call.remote_account_details.unwrap().affiliated, None);
    // What a decision reads stays exact: a severity that is no number is named.
    let mut bad = gd;
    bad["detail"]["severity"] = json!("high");
    let (path, _) = field_error(bad);
    assert!(path.contains("severity"), "{path}");

    let health = json!({"version": "0", "id": "h-1", "detail-type": "AWS Health Event", "source": "aws.health",
        "account": "123456789012", "detail": {"eventTypeCode": "AWS_RISK_CREDENTIALS_EXPOSED", "service": 1,
        "eventArn": ["a"], "startTime": 1700000000, "eventMetadata": ["not", "an", "object"],
        "affectedEntities": [{"entityValue": "AKIAIOSFODNN7EXAMPLE", "lastUpdatedTime": 1}]}});
    let Ok(Trigger::Health { event, .. }) = parse_json(health.clone()) else {
        panic!("{:?}", parse_json(health))
    };
    assert_eq!(
        event.affected_entities[0].entity_value,
        "AKIAIOSFODNN7EXAMPLE"
    );
    assert_eq!(
        (event.event_metadata, event.start_time.as_deref()),
        (None, Some("1700000000"))
    );
}

#[test]
fn an_event_is_observed_when_its_activity_was_seen_not_when_it_was_delivered() {
    let at = |v: serde_json::Value| parse_json(v).unwrap().observed_at().map(|t| t.to_rfc3339());
    // A CloudTrail call: its eventTime, not the envelope's.
    let mut record = create_key_record("a", "b");
    record["eventTime"] = json!("2026-11-23T09:58:00Z");
    assert_eq!(
        at(envelope("AWS API Call via CloudTrail", record.clone())).as_deref(),
        Some("2026-11-23T09:58:00+00:00")
    );
    // Without its own time, the envelope's.
    record.as_object_mut().unwrap().remove("eventTime");
    assert_eq!(
        at(envelope("AWS API Call via CloudTrail", record)).as_deref(),
        Some("2026-11-23T10:00:00+00:00")
    );
    // A GuardDuty finding: when GuardDuty first saw it, whatever update delivers it.
    let finding = serde_json::from_str::<serde_json::Value>(include_str!(
        "../../../../events/deactivate-key/guardduty-iam-user.json"
    ))
    .unwrap();
    let created = finding["detail"]["createdAt"].as_str().unwrap().to_owned();
    let mut later = finding.clone();
    later["time"] = json!("2030-01-01T00:00:00Z");
    later["detail"]["updatedAt"] = json!("2030-01-01T00:00:00Z");
    assert_eq!(at(finding), at(later));
    assert_eq!(
        crate::parse_time(&created).map(|t| t.to_rfc3339()),
        at(serde_json::from_str(include_str!(
            "../../../../events/deactivate-key/guardduty-iam-user.json"
        ))
        .unwrap())
    );
}
