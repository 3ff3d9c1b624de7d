//! `keyguard canary create|list|delete`: decoy keys in the operator's own account
//! (`keyguard_core::canary` says what a canary is). The secret goes to exactly one place
//! the operator names, a new file of mode 0600 or a new Secrets Manager secret, and
//! nowhere else: never to stdout, stderr or a log.

use crate::ledger::runtime;
use crate::{emit, InputError};
use keyguard_aws::canary::Found;
use keyguard_aws::keys::NewKey;
use keyguard_aws::Iam;
use keyguard_core::canary;
use keyguard_core::UserName;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where a new canary's credentials go.
pub enum Destination {
    /// A credentials file in `~/.aws/credentials` format, under this profile.
    File { path: PathBuf, profile: String },
    /// A new Secrets Manager secret of this name.
    Secret { id: String },
}

fn user_of(name: &str) -> Result<UserName, InputError> {
    canary::user_name(name).map_err(|e| InputError(format!("canary {name:?}: {e}")))
}

fn failed(what: &str, e: impl std::fmt::Display) -> InputError {
    InputError(format!("{what}: {e}"))
}

/// A credentials file opened before the key exists, so a file that cannot be made
/// never leaves a key behind whose secret went nowhere.
struct Opened {
    file: std::fs::File,
    path: PathBuf,
    profile: String,
}

fn open_new(path: &Path, profile: &str) -> Result<Opened, InputError> {
    if profile.is_empty()
        || !profile
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(InputError(format!(
            "--profile {profile:?}: letters, digits, '-', '_' and '.' only"
        )));
    }
    // Mode 0600 is the promise; where it cannot be made, no file is written.
    #[cfg(not(unix))]
    return Err(InputError(
        "--out needs a Unix file mode (0600) here: use --secret-id".into(),
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => InputError(format!(
            "{}: exists; keyguard never overwrites a file (choose a new one)",
            path.display()
        )),
        _ => failed(&path.display().to_string(), e),
    })?;
    Ok(Opened {
        file,
        path: path.to_owned(),
        profile: profile.to_owned(),
    })
}

impl Opened {
    /// The credentials into the file; a file that could not be written whole is
    /// removed, so no part of the secret stays behind.
    fn write(mut self, key: &NewKey) -> Result<String, InputError> {
        let text = format!(
            "[{}]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            self.profile, key.key_id, key.secret
        );
        match self
            .file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.sync_all())
        {
            Ok(()) => Ok(format!(
                "{} (profile {})",
                self.path.display(),
                self.profile
            )),
            Err(e) => {
                let what = failed(&format!("{} (removed)", self.path.display()), e);
                self.discard();
                Err(what)
            }
        }
    }

    fn discard(self) {
        drop(self.file);
        let _ = std::fs::remove_file(&self.path);
    }
}

enum Ready {
    File(Opened),
    Secret(String),
}

/// `keyguard canary create NAME`.
pub fn create(name: &str, to: Destination) -> Result<bool, InputError> {
    let user = user_of(name)?;
    runtime()?.block_on(async {
        let sdk = keyguard_aws::load_config().await;
        let iam = Iam::new(&sdk);
        let read = |e| failed(&format!("reading user {user}"), e);
        match iam.canary(&user).await.map_err(read)? {
            Found::NotACanary => {
                return Err(InputError(format!(
                    "user {user} exists and is not a canary (no {}={} tag): keyguard leaves it alone",
                    canary::TAG.0,
                    canary::TAG.1
                )))
            }
            Found::Canary { keys, denied } => {
                let complete = keys.len() == 1 && denied;
                emit(&json!({"canary": name, "user": user, "exists": true,
                             "keys": keys, "denied": denied}));
                eprintln!(
                    "keyguard: canary {name} exists: nothing done{}",
                    if complete {
                        String::new()
                    } else {
                        format!(
                            " (it is incomplete: keyguard canary delete {name}, then create it again)"
                        )
                    }
                );
                return Ok(complete);
            }
            Found::Nothing => {}
        }
        let ready = match to {
            Destination::File { path, profile } => Ready::File(open_new(&path, &profile)?),
            Destination::Secret { id } => {
                if keyguard_aws::canary::secret_exists(&sdk, &id)
                    .await
                    .map_err(|e| failed(&format!("reading secret {id}"), e))?
                {
                    return Err(InputError(format!(
                        "secret {id} exists; keyguard never overwrites one (choose a new name)"
                    )));
                }
                Ready::Secret(id)
            }
        };
        let key = match iam.create_canary(&user).await {
            Ok(key) => key,
            Err(e) => {
                if let Ready::File(f) = ready {
                    f.discard();
                }
                return Err(InputError(format!(
                    "creating canary {name}: {e}; whatever was made is removed by keyguard canary delete {name}"
                )));
            }
        };
        let stored = match ready {
            Ready::File(f) => f.write(&key),
            Ready::Secret(id) => keyguard_aws::canary::store(&sdk, &id, &user, &key)
                .await
                .map(|()| format!("secret {id}"))
                .map_err(|e| failed(&format!("storing the key in secret {id}"), e)),
        };
        let stored = match stored {
            Ok(s) => s,
            Err(e) => {
                // A secret that reached nobody: the key must not outlive it.
                let id = keyguard_core::AccessKeyId::parse(&key.key_id);
                let gone = match id {
                    Ok(id) => iam.delete_key(&user, &id).await.is_ok(),
                    Err(_) => false,
                };
                return Err(InputError(format!(
                    "{}; key {} {}",
                    e.0,
                    key.key_id,
                    if gone {
                        "deleted again"
                    } else {
                        "could not be deleted: delete the canary"
                    }
                )));
            }
        };
        emit(&json!({"canary": name, "user": user, "key_id": key.key_id,
                     "created": true, "stored": stored}));
        Ok(true)
    })
}

/// `keyguard canary list`: one JSON line per canary key.
pub fn list() -> Result<bool, InputError> {
    runtime()?.block_on(async {
        let sdk = keyguard_aws::load_config().await;
        let found = Iam::new(&sdk)
            .canaries()
            .await
            .map_err(|e| failed("listing canaries", e))?;
        for key in &found {
            emit(&json!(key));
        }
        eprintln!("keyguard: {} canary key(s)", found.len());
        Ok(true)
    })
}

/// `keyguard canary delete NAME`.
pub fn delete(name: &str) -> Result<bool, InputError> {
    let user = user_of(name)?;
    runtime()?.block_on(async {
        let sdk = keyguard_aws::load_config().await;
        let iam = Iam::new(&sdk);
        match iam
            .canary(&user)
            .await
            .map_err(|e| failed(&format!("reading user {user}"), e))?
        {
            Found::Nothing => {
                emit(&json!({"canary": name, "user": user, "deleted": false, "why": "no such canary"}));
                Ok(true)
            }
            Found::NotACanary => Err(InputError(format!(
                "user {user} is not a canary (no {}={} tag): keyguard does not delete it",
                canary::TAG.0,
                canary::TAG.1
            ))),
            Found::Canary { keys, .. } => {
                iam.delete_canary(&user, &keys)
                    .await
                    .map_err(|e| failed(&format!("deleting canary {name}"), e))?;
                emit(&json!({"canary": name, "user": user, "deleted": true, "keys": keys}));
                Ok(true)
            }
        }
    })
}
