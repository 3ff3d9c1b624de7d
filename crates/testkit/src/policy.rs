//! IAM's evaluation of one request against a role's identity policies, as far as
//! keyguard's templates need it: `Allow`/`Deny`, `Action` and `Resource` with `*` and
//! `?`, and the condition operators the templates use (`StringEquals`, `StringLike`,
//! `StringNotEquals`, `ArnEquals`, `ArnLike`, `Bool`, `Null`, each with `IfExists`). An
//! explicit deny wins; otherwise some allow must match; otherwise the request is denied.
//!
//! The roles come from every template under `infra/`. A template names what the operator
//! chooses at deploy time (the ledger table, the notice topic, a secret's ARN) by a
//! parameter or another stack's output; inside a policy such a value is [`ANY`] (it
//! matches whatever the tests named), so the check is about actions, services and
//! resource types, conditions and ARN shapes, not about the names a test picked.
//! `${AWS::AccountId}` and `${AWS::Region}` are the request's own. A role's name is
//! resolved with its parameters' defaults, so that a request can find its role.
//!
//! Not evaluated: resource policies (the KMS key policy, a Lambda permission), SCPs,
//! permission boundaries and session policies; they can only deny more.

use serde_json::Value;
use std::collections::BTreeMap;

/// A value the operator chooses at deploy time: matches anything.
pub const ANY: &str = "\u{1}";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub operator: String,
    pub key: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The statement's `Sid`, else `PolicyName[index]`: how a failure names it.
    pub sid: String,
    pub allow: bool,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    pub conditions: Vec<Condition>,
    /// It uses `NotAction` / `NotResource`, which this evaluator does not judge.
    pub not_action: bool,
    pub not_resource: bool,
}

/// One permission IAM evaluates for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub action: String,
    pub resource: String,
    pub context: BTreeMap<String, String>,
}

impl Permission {
    pub fn new(action: &str, resource: &str, context: &[(&str, &str)]) -> Self {
        Self {
            action: action.into(),
            resource: resource.into(),
            context: context
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allowed { by: String },
    Denied { by: String },
    NotAllowed,
}

/// A template value as the strings it can take (see the module's rules).
pub fn resolve(
    v: &Value,
    params: &BTreeMap<String, Option<String>>,
    for_name: bool,
) -> Vec<String> {
    let param = |name: &str| -> String {
        match name {
            "AWS::Partition" => "aws".into(),
            "AWS::AccountId" | "AWS::Region" => format!("${{{name}}}"),
            other if for_name => params
                .get(other)
                .cloned()
                .flatten()
                .unwrap_or_else(|| ANY.into()),
            _ => ANY.into(),
        }
    };
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Number(n) => vec![n.to_string()],
        Value::Bool(b) => vec![b.to_string()],
        Value::Array(items) => items
            .iter()
            .flat_map(|i| resolve(i, params, for_name))
            .collect(),
        Value::Object(o) => {
            if let Some(r) = o.get("Ref").and_then(Value::as_str) {
                return match r {
                    "AWS::NoValue" => vec![],
                    other => vec![param(other)],
                };
            }
            if let Some(sub) = o.get("Sub") {
                let text = match sub {
                    Value::String(s) => s.as_str(),
                    Value::Array(a) => a.first().and_then(Value::as_str).unwrap_or_default(),
                    _ => "",
                };
                return vec![substitute(text, &param)];
            }
            if let Some(Value::Array(branches)) = o.get("If") {
                // The configured case: what the statement grants when it exists.
                return branches
                    .get(1)
                    .map(|b| resolve(b, params, for_name))
                    .unwrap_or_default();
            }
            if let Some(Value::Array(join)) = o.get("Join") {
                let sep = join.first().and_then(Value::as_str).unwrap_or_default();
                let parts: Vec<String> = join
                    .get(1)
                    .map(|p| resolve(p, params, for_name))
                    .unwrap_or_default();
                return vec![parts.join(sep)];
            }
            vec![ANY.into()]
        }
        Value::Null => vec![],
    }
}

fn substitute(text: &str, param: &dyn Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        out.push_str(&param(&after[..end]));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// `*` any run, `?` one character, [`ANY`] any run; `ci` ignores ASCII case.
pub fn glob(pattern: &str, text: &str, wildcards: bool, ci: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let eq = |a: char, b: char| {
        if ci {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let any_run = |c: char| c == '\u{1}' || (wildcards && c == '*');
    // Iterative matching with backtracking to the last run wildcard.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && any_run(p[pi]) {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && ((wildcards && p[pi] == '?') || eq(p[pi], t[ti])) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| any_run(*c))
}

/// An ARN pattern against an ARN as `ArnLike`/`ArnEquals` compare them: each of the six
/// colon-separated parts on its own, so a wildcard never spans a colon.
fn arn_matches(pattern: &str, arn: &str, wildcards: bool) -> bool {
    let (p, a): (Vec<&str>, Vec<&str>) = (
        pattern.splitn(6, ':').collect(),
        arn.splitn(6, ':').collect(),
    );
    p.len() == a.len() && p.iter().zip(&a).all(|(p, a)| glob(p, a, wildcards, false))
}

/// Whether a condition holds; `None` for one this evaluator does not know (`ForAnyValue:`,
/// dates, numbers, IP addresses), which [`matches`] turns against the request.
fn condition_holds(
    c: &Condition,
    context: &BTreeMap<String, String>,
    here: &dyn Fn(&str) -> String,
) -> Option<bool> {
    let (operator, if_exists) = match c.operator.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (c.operator.as_str(), false),
    };
    // Condition keys ignore case; their values do not (except where the operator says).
    let value = context
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(&c.key))
        .map(|(_, v)| v.as_str());
    if operator == "Null" {
        let wants_absent = c.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
        return Some(value.is_none() == wants_absent);
    }
    let negated = matches!(
        operator,
        "StringNotEquals"
            | "StringNotLike"
            | "ArnNotEquals"
            | "ArnNotLike"
            | "StringNotEqualsIgnoreCase"
    );
    let known = negated
        || matches!(
            operator,
            "StringEquals"
                | "StringEqualsIgnoreCase"
                | "StringLike"
                | "ArnEquals"
                | "ArnLike"
                | "Bool"
        );
    if !known {
        return None;
    }
    let Some(value) = value else {
        // IAM: an absent key fails a positive operator and satisfies a negated one.
        return Some(if_exists || negated);
    };
    // A value written `!Ref AWS::AccountId` (or `!Sub` with it) is the request's account.
    let values: Vec<String> = c.values.iter().map(|v| here(v)).collect();
    let any = |wildcards: bool, ci: bool| values.iter().any(|v| glob(v, value, wildcards, ci));
    let arn = |wildcards: bool| values.iter().any(|v| arn_matches(v, value, wildcards));
    Some(match operator {
        "StringEquals" => any(false, false),
        "StringEqualsIgnoreCase" => any(false, true),
        "StringLike" => any(true, false),
        "ArnEquals" => arn(false),
        "ArnLike" => arn(true),
        "StringNotEquals" => !any(false, false),
        "StringNotEqualsIgnoreCase" => !any(false, true),
        "StringNotLike" => !any(true, false),
        "ArnNotEquals" => !arn(false),
        "ArnNotLike" => !arn(true),
        _ => any(false, true), // Bool
    })
}

/// Whether a statement applies to a request. What this evaluator cannot judge (an unknown
/// condition operator, `NotAction`, `NotResource`) counts against the request either
/// way: such an Allow never applies and such a Deny always does, so the check fails
/// loudly rather than passing what IAM might refuse.
fn matches(s: &Statement, p: &Permission, account: &str, region: &str) -> bool {
    let here = |pattern: &str| {
        pattern
            .replace("${AWS::AccountId}", account)
            .replace("${AWS::Region}", region)
    };
    let action = if s.not_action {
        !s.allow
    } else {
        s.actions.iter().any(|a| glob(a, &p.action, true, true))
    };
    let resource = if s.not_resource {
        !s.allow
    } else {
        s.resources
            .iter()
            .any(|r| glob(&here(r), &p.resource, true, false))
    };
    action
        && resource
        && s.conditions
            .iter()
            .all(|c| condition_holds(c, &p.context, &here).unwrap_or(!s.allow))
}

/// IAM's answer for one permission of a request made in `account` and `region`.
pub fn evaluate(statements: &[Statement], p: &Permission, account: &str, region: &str) -> Verdict {
    if let Some(deny) = statements
        .iter()
        .find(|s| !s.allow && matches(s, p, account, region))
    {
        return Verdict::Denied {
            by: deny.sid.clone(),
        };
    }
    match statements
        .iter()
        .find(|s| s.allow && matches(s, p, account, region))
    {
        Some(allow) => Verdict::Allowed {
            by: allow.sid.clone(),
        },
        None => Verdict::NotAllowed,
    }
}

/// A policy document's statements, resolved.
pub fn statements(
    document: &Value,
    policy_name: &str,
    params: &BTreeMap<String, Option<String>>,
) -> Vec<Statement> {
    let list = match &document["Statement"] {
        Value::Array(a) => a.clone(),
        one @ Value::Object(_) => vec![one.clone()],
        _ => vec![],
    };
    let mut out = Vec::new();
    for (i, raw) in list.iter().enumerate() {
        // `!If [Condition, statement, !Ref AWS::NoValue]`: the configured case.
        let st = match raw.get("If") {
            Some(branches) => &branches[1],
            None => raw,
        };
        if !st.is_object() {
            continue;
        }
        let mut conditions = Vec::new();
        if let Some(ops) = st["Condition"].as_object() {
            for (operator, keys) in ops {
                for (key, values) in keys.as_object().into_iter().flatten() {
                    conditions.push(Condition {
                        operator: operator.clone(),
                        key: key.clone(),
                        values: resolve(values, params, false),
                    });
                }
            }
        }
        out.push(Statement {
            sid: st["Sid"]
                .as_str()
                .map_or_else(|| format!("{policy_name}[{i}]"), str::to_owned),
            allow: st["Effect"] == "Allow",
            actions: resolve(&st["Action"], params, false),
            resources: resolve(&st["Resource"], params, false),
            conditions,
            not_action: st.get("NotAction").is_some(),
            not_resource: st.get("NotResource").is_some(),
        });
    }
    out
}

/// Every role the templates under `infra/` define, by name (resolved with its
/// parameters' defaults), with its inline policies' statements and the file it is in.
pub fn roles() -> BTreeMap<String, (String, Vec<Statement>)> {
    let root = super::workspace_root();
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(root.join("infra"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|d| d.path().is_dir())
        .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
        .map(|f| f.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut out = BTreeMap::new();
    for file in files {
        let t = super::infra::template_at(&file);
        let params: BTreeMap<String, Option<String>> = t["Parameters"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v["Default"].as_str().map(str::to_owned)))
            .collect();
        let shown = file
            .strip_prefix(&root)
            .unwrap_or(&file)
            .display()
            .to_string();
        for resource in t["Resources"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(_, r)| r)
        {
            if resource["Type"] != "AWS::IAM::Role" {
                continue;
            }
            let Some(name) = resolve(&resource["Properties"]["RoleName"], &params, true)
                .into_iter()
                .next()
            else {
                continue;
            };
            let mut all = Vec::new();
            for policy in resource["Properties"]["Policies"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let policy_name = policy["PolicyName"].as_str().unwrap_or("policy");
                all.extend(statements(&policy["PolicyDocument"], policy_name, &params));
            }
            out.insert(name, (shown.clone(), all));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn perm(action: &str, resource: &str, context: &[(&str, &str)]) -> Permission {
        Permission::new(action, resource, context)
    }

    fn policy(statements_json: Value) -> Vec<Statement> {
        let params =
            BTreeMap::from([("LedgerTableName".to_owned(), Some("keyguard-ledger".into()))]);
        statements(&json!({ "Statement": statements_json }), "p", &params)
    }

    #[test]
    fn wildcards_in_actions_and_resources() {
        assert!(glob("iam:List*", "iam:ListUsers", true, true));
        assert!(glob("IAM:listusers", "iam:ListUsers", true, true));
        assert!(!glob("iam:List*", "iam:GetUser", true, true));
        assert!(glob(
            "arn:aws:iam::1:user/*",
            "arn:aws:iam::1:user/",
            true,
            false
        ));
        assert!(glob(
            "arn:aws:iam::1:user/*",
            "arn:aws:iam::1:user/a/b",
            true,
            false
        ));
        assert!(!glob(
            "arn:aws:iam::1:user/*",
            "arn:aws:iam::1:role/a",
            true,
            false
        ));
        assert!(glob("a?c", "abc", true, false) && !glob("a?c", "ac", true, false));
        assert!(!glob("a*", "A", true, false), "resources compare case");
        assert!(
            !glob("a*", "ab", false, false),
            "no wildcard in StringEquals"
        );
        assert!(
            glob(&format!("x{ANY}"), "xyz", false, false),
            "a parameter matches anything"
        );
    }

    #[test]
    fn a_sub_keeps_account_and_region_and_makes_parameters_any() {
        let p = policy(json!([{
            "Effect": "Allow",
            "Action": ["dynamodb:PutItem"],
            "Resource": {"Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${LedgerTableName}"}
        }]));
        let table = |acct: &str, region: &str| {
            perm(
                "dynamodb:PutItem",
                &format!("arn:aws:dynamodb:{region}:{acct}:table/ledger-x1"),
                &[],
            )
        };
        assert!(matches!(
            evaluate(
                &p,
                &table("111111111111", "eu-west-3"),
                "111111111111",
                "eu-west-3"
            ),
            Verdict::Allowed { .. }
        ));
        assert_eq!(
            evaluate(
                &p,
                &table("222222222222", "eu-west-3"),
                "111111111111",
                "eu-west-3"
            ),
            Verdict::NotAllowed,
            "another account's table"
        );
        assert_eq!(
            evaluate(
                &p,
                &perm(
                    "dynamodb:DeleteTable",
                    "arn:aws:dynamodb:eu-west-3:1:table/x",
                    &[]
                ),
                "1",
                "eu-west-3"
            ),
            Verdict::NotAllowed
        );
    }

    #[test]
    fn a_condition_naming_the_account_is_the_requests_account() {
        let p = policy(json!([{
            "Sid": "Findings", "Effect": "Allow", "Action": "securityhub:BatchImportFindings",
            "Resource": {"Sub": "arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}:product/${AWS::AccountId}/default"},
            "Condition": {"StringEquals": {"securityhub:TargetAccount": {"Ref": "AWS::AccountId"}}}
        }]));
        let import = |target: &str| {
            evaluate(
                &p,
                &perm(
                    "securityhub:BatchImportFindings",
                    "arn:aws:securityhub:us-east-1:111111111111:product/111111111111/default",
                    &[("securityhub:TargetAccount", target)],
                ),
                "111111111111",
                "us-east-1",
            )
        };
        assert!(matches!(import("111111111111"), Verdict::Allowed { .. }));
        assert_eq!(
            import("222222222222"),
            Verdict::NotAllowed,
            "another account's"
        );
    }

    #[test]
    fn an_explicit_deny_wins_and_conditions_must_hold() {
        let p = policy(json!([
            {"Sid": "Secrets", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
             "Condition": {"Null": {"aws:ResourceTag/keyguard:iam-user": "false"}}},
            {"Sid": "Mail", "Effect": "Allow", "Action": "ses:SendEmail", "Resource": "*",
             "Condition": {"StringEquals": {"ses:FromAddress": "k@example.com"}}},
            {"Sid": "Pass", "Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
             "Condition": {"StringEqualsIfExists": {"iam:PassedToService": "ssm.amazonaws.com"}}},
            {"Sid": "NoDelete", "Effect": "Deny", "Action": "iam:Delete*", "Resource": "*"},
            {"Sid": "All", "Effect": "Allow", "Action": "iam:*", "Resource": "*"},
        ]));
        let ok = |v: Verdict| matches!(v, Verdict::Allowed { .. });
        let run = |perm: Permission| evaluate(&p, &perm, "1", "us-east-1");
        assert!(ok(run(perm(
            "secretsmanager:GetSecretValue",
            "s",
            &[("aws:ResourceTag/keyguard:iam-user", "a")]
        ))));
        assert_eq!(
            run(perm("secretsmanager:GetSecretValue", "s", &[])),
            Verdict::NotAllowed,
            "untagged secret"
        );
        assert!(ok(run(perm(
            "ses:SendEmail",
            "i",
            &[("ses:FromAddress", "k@example.com")]
        ))));
        assert_eq!(
            run(perm(
                "ses:SendEmail",
                "i",
                &[("ses:FromAddress", "x@example.com")]
            )),
            Verdict::NotAllowed
        );
        assert_eq!(
            run(perm("ses:SendEmail", "i", &[])),
            Verdict::NotAllowed,
            "a missing key fails StringEquals"
        );
        assert!(
            ok(run(perm("iam:PassRole", "r", &[]))),
            "IfExists: absent holds"
        );
        assert_eq!(
            run(perm(
                "iam:PassRole",
                "r",
                &[("iam:PassedToService", "lambda.amazonaws.com")]
            )),
            Verdict::Allowed { by: "All".into() }
        );
        assert_eq!(
            run(perm("iam:DeleteAccessKey", "u", &[])),
            Verdict::Denied {
                by: "NoDelete".into()
            }
        );
    }

    #[test]
    fn negated_operators_arns_and_what_cannot_be_judged() {
        let p = policy(json!([
            {"Sid": "Other", "Effect": "Allow", "Action": "sns:Publish", "Resource": "*",
             "Condition": {"StringNotEquals": {"aws:ResourceTag/team": "red"}}},
            {"Sid": "Caller", "Effect": "Allow", "Action": "kms:VerifyMac", "Resource": "*",
             "Condition": {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/keyguard-*"}}},
            {"Sid": "DenyDates", "Effect": "Deny", "Action": "iam:*", "Resource": "*",
             "Condition": {"DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}},
            {"Sid": "DenyAllBut", "Effect": "Deny", "NotAction": "iam:ListUsers", "Resource": "arn:aws:s3:::*"},
        ]));
        let run = |perm: Permission| evaluate(&p, &perm, "1", "us-east-1");
        assert!(
            matches!(run(perm("sns:Publish", "t", &[])), Verdict::Allowed { .. }),
            "absent key: a negated operator holds"
        );
        assert_eq!(
            run(perm("sns:Publish", "t", &[("aws:ResourceTag/team", "red")])),
            Verdict::NotAllowed
        );
        assert!(matches!(
            run(perm(
                "kms:VerifyMac",
                "k",
                &[(
                    "aws:PrincipalArn",
                    "arn:aws:iam::123456789012:role/keyguard-deactivate-key"
                )]
            )),
            Verdict::Allowed { .. }
        ));
        assert_eq!(
            run(perm(
                "kms:VerifyMac",
                "k",
                &[("aws:PrincipalArn", "arn:aws:iam::1:user:x:role/keyguard-x")]
            )),
            Verdict::NotAllowed,
            "a wildcard never spans an ARN's colons"
        );
        assert_eq!(
            run(perm("iam:ListUsers", "arn:aws:iam::1:user/", &[])),
            Verdict::Denied {
                by: "DenyDates".into()
            },
            "a Deny this evaluator cannot judge applies"
        );
        assert!(
            matches!(
                run(perm("s3:GetObject", "arn:aws:s3:::b/k", &[])),
                Verdict::Denied { .. }
            ),
            "NotAction: unjudged, so it denies"
        );
    }

    #[test]
    fn an_unknown_operator_never_allows() {
        let p = policy(json!([{"Effect": "Allow", "Action": "*", "Resource": "*",
                               "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}}]));
        assert_eq!(
            evaluate(
                &p,
                &perm(
                    "iam:ListUsers",
                    "arn:aws:iam::1:user/",
                    &[("aws:CurrentTime", "2026-01-01T00:00:00Z")]
                ),
                "1",
                "r"
            ),
            Verdict::NotAllowed
        );
    }

    #[test]
    fn if_statements_count_as_configured_and_no_value_is_nothing() {
        let p = policy(json!([
            {"If": ["HasSlack", {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": {"Ref": "SlackSecret"}}, {"Ref": "AWS::NoValue"}]},
        ]));
        assert_eq!(p.len(), 1);
        assert!(matches!(
            evaluate(
                &p,
                &perm(
                    "secretsmanager:GetSecretValue",
                    "arn:aws:secretsmanager:r:1:secret:slack",
                    &[]
                ),
                "1",
                "r"
            ),
            Verdict::Allowed { .. }
        ));
    }
}
