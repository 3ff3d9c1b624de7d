//! An AWS Organization in moto: member accounts, and a fixture's way into each of them.
//! moto keeps each account's state apart; a role assumed in account B answers as B.

use aws_sdk_organizations::types::OrganizationFeatureSet;

/// `n` new ACTIVE member accounts of the organisation the caller manages (made first
/// when there is none yet: tests in one binary share the launcher).
pub async fn members(sdk: &aws_config::SdkConfig, n: usize) -> Vec<String> {
    let org = aws_sdk_organizations::Client::new(sdk);
    if let Err(e) = org
        .create_organization()
        .feature_set(OrganizationFeatureSet::All)
        .send()
        .await
    {
        let code = aws_sdk_organizations::error::ProvideErrorMetadata::code(&e);
        assert_eq!(code, Some("AlreadyInOrganizationException"), "{e:?}");
    }
    let mut accounts = Vec::with_capacity(n);
    for _ in 0..n {
        let name = super::unique("member");
        let created = org
            .create_account()
            .email(format!("{name}@example.com"))
            .account_name(&name)
            .send()
            .await
            .expect("CreateAccount");
        accounts.push(
            created
                .create_account_status()
                .and_then(|s| s.account_id())
                .expect("a new account's id")
                .to_owned(),
        );
    }
    accounts
}

/// The SDK's configuration in `account` as `role`, in a fixture's session: its requests
/// are the test's own set-up and checks, not keyguard's, and are not checked against the
/// role.
pub async fn config_in(
    sdk: &aws_config::SdkConfig,
    account: &str,
    role: &str,
) -> aws_config::SdkConfig {
    let out = aws_sdk_sts::Client::new(sdk)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/{role}"))
        .role_session_name("keyguard-fixture")
        .send()
        .await
        .expect("AssumeRole");
    let c = out.credentials().expect("credentials");
    let creds = aws_sdk_sts::config::Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_owned()),
        None,
        "keyguard-fixture",
    );
    sdk.to_builder()
        .credentials_provider(aws_sdk_sts::config::SharedCredentialsProvider::new(creds))
        .build()
}

/// A raw IAM client in `account` as `role`, in a fixture's session ([`config_in`]).
pub async fn iam_in(sdk: &aws_config::SdkConfig, account: &str, role: &str) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&config_in(sdk, account, role).await)
}

/// An employee in `account` (tagged with an email of the account's) whose one key was
/// made at `created` (RFC 3339, back-dated in moto): `(user, key id)`.
pub async fn employee_with_key_made(
    sdk: &aws_config::SdkConfig,
    account: &str,
    role: &str,
    created: &str,
) -> (String, String) {
    let iam = iam_in(sdk, account, role).await;
    let email = format!("owner-{account}@example.com");
    let user = super::iam::user(&iam, &[("UserType", "employee"), ("Email", &email)]).await;
    let (key, _) = super::iam::key(&iam, &user).await;
    super::moto::shared().backdate_key_in(account, &user, &key, created);
    (user, key)
}
