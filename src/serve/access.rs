//! Who may read which environment: bearer tokens (each grants exactly one
//! environment), the anonymous environment, the change-stream channels
//! derived from them, and the forge webhook secret of `/admin/refresh`.
//!
//! Tokens are kept only as SHA-256 digests and compared in constant time;
//! nothing here logs or returns a token.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use hmac::{KeyInit, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::format::yaml;

type HmacSha256 = hmac::Hmac<Sha256>;

/// What a tokens file may not be.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokensError {
    /// The file could not be read.
    #[error("cannot read tokens file `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not what a tokens file holds.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Line, from 1.
        line: u32,
        /// Column, from 1.
        column: u32,
        /// What is wrong.
        message: String,
    },
}

/// A relay's access policy is inconsistent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    /// A token or the anonymous environment names an environment the relay
    /// does not serve.
    #[error("environment `{environment}` is not served (served: {served})")]
    UnknownEnvironment {
        /// The environment named.
        environment: String,
        /// The environments served, comma-separated.
        served: String,
    },
}

/// One token, as a digest, and the environment it grants.
#[derive(Clone)]
struct Grant {
    digest: [u8; 32],
    environment: usize,
}

/// Which environment each credential reads; see the [module](self)
/// documentation.
#[derive(Clone)]
pub struct Access {
    environments: Vec<String>,
    grants: Vec<Grant>,
    anonymous: Option<usize>,
    channels: HashMap<String, usize>,
    channel_of_grant: Vec<String>,
    anonymous_channel: Option<String>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("environments", &self.environments)
            .field("tokens", &self.grants.len())
            .field("anonymous", &self.anonymous_environment())
            .finish()
    }
}

/// How a request identified itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Credential<'a> {
    /// No `Authorization` or `X-API-Key` header.
    None,
    /// A token presented.
    Token(&'a str),
    /// An `Authorization` header that is not `Bearer …`.
    Malformed,
}

/// Who a request is: the environment it reads and its stream channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Grantee {
    pub(crate) environment: usize,
    /// Index into the grant list, `None` for anonymous.
    grant: Option<usize>,
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Denied {
    /// No credential where one is needed.
    Missing,
    /// A credential that matches no token.
    Unknown,
    /// An `Authorization` header that is not a bearer token.
    Malformed,
}

impl Access {
    /// Only anonymous access, to `environment`, one of `served`.
    ///
    /// # Errors
    ///
    /// `environment` is not in `served`.
    pub fn anonymous(served: &[&str], environment: &str) -> Result<Access, AccessError> {
        Access::new(served, Vec::new(), Some(environment))
    }

    /// Reads a tokens file: a YAML mapping from token to environment.
    /// A key `sha256:HEX` stands for the token whose SHA-256 digest is
    /// HEX, so the file can be committed without the tokens in it.
    /// Requests without a token read `anonymous`, if given.
    ///
    /// # Errors
    ///
    /// The file cannot be read or parsed ([`TokensError`], with its line
    /// and column), or names an environment not in `served`.
    pub fn from_tokens_file(
        path: &Path,
        served: &[&str],
        anonymous: Option<&str>,
    ) -> Result<Result<Access, AccessError>, TokensError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokensError::Read {
            path: path.to_owned(),
            source,
        })?;
        let tokens = parse_tokens(&text, path, served)?;
        Ok(Access::new(served, tokens, anonymous))
    }

    /// An access policy from token digests and the environments they grant.
    fn new(
        served: &[&str],
        tokens: Vec<([u8; 32], String)>,
        anonymous: Option<&str>,
    ) -> Result<Access, AccessError> {
        let index = |name: &str| {
            served
                .iter()
                .position(|served| *served == name)
                .ok_or_else(|| AccessError::UnknownEnvironment {
                    environment: name.to_owned(),
                    served: served.join(", "),
                })
        };
        let mut grants = Vec::with_capacity(tokens.len());
        for (digest, environment) in tokens {
            grants.push(Grant {
                digest,
                environment: index(&environment)?,
            });
        }
        let anonymous = anonymous.map(index).transpose()?;
        let environments: Vec<String> = served.iter().map(|name| (*name).to_owned()).collect();
        let mut channels = HashMap::new();
        let channel_of_grant: Vec<String> = grants
            .iter()
            .map(|grant| {
                let channel = channel_id(&grant.digest, &environments[grant.environment]);
                channels.insert(channel.clone(), grant.environment);
                channel
            })
            .collect();
        let anonymous_channel = anonymous.map(|environment| {
            let channel = format!("public-{}", environments[environment]);
            channels.insert(channel.clone(), environment);
            channel
        });
        Ok(Access {
            environments,
            grants,
            anonymous,
            channels,
            channel_of_grant,
            anonymous_channel,
        })
    }

    /// Whether any token is configured.
    pub fn has_tokens(&self) -> bool {
        !self.grants.is_empty()
    }

    /// Whether some token reads `environment`.
    pub fn has_token_for(&self, environment: &str) -> bool {
        self.grants
            .iter()
            .any(|grant| self.environments[grant.environment] == environment)
    }

    /// The environment requests without a token read, if any.
    pub fn anonymous_environment(&self) -> Option<&str> {
        self.anonymous
            .map(|environment| self.environments[environment].as_str())
    }

    /// The environments in the order given.
    pub(crate) fn environments(&self) -> &[String] {
        &self.environments
    }

    /// The environment and stream channel of a request's credential.
    ///
    /// Every configured digest is compared, in constant time, whatever
    /// matches first.
    pub(crate) fn admit(&self, credential: Credential<'_>) -> Result<Grantee, Denied> {
        match credential {
            Credential::Malformed => Err(Denied::Malformed),
            Credential::None => self
                .anonymous
                .map(|environment| Grantee {
                    environment,
                    grant: None,
                })
                .ok_or(Denied::Missing),
            Credential::Token(token) => {
                let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
                let mut found = None;
                for (index, grant) in self.grants.iter().enumerate() {
                    if bool::from(grant.digest.ct_eq(&digest)) {
                        found = Some(index);
                    }
                }
                found
                    .map(|index| Grantee {
                        environment: self.grants[index].environment,
                        grant: Some(index),
                    })
                    .ok_or(Denied::Unknown)
            }
        }
    }

    /// The change-stream channel of a grantee: derived from its token's
    /// digest and environment by HMAC-SHA256, so that every replica
    /// computes the same one, and a stream URL (which browsers cannot send
    /// headers to) never carries the token itself.
    pub(crate) fn channel(&self, grantee: Grantee) -> &str {
        match grantee.grant {
            Some(index) => &self.channel_of_grant[index],
            None => self
                .anonymous_channel
                .as_deref()
                .expect("an anonymous grantee exists only with an anonymous environment"),
        }
    }

    /// The environment a stream channel reads.
    pub(crate) fn channel_environment(&self, channel: &str) -> Option<usize> {
        self.channels.get(channel).copied()
    }
}

/// The stream channel of a token with `digest` reading `environment`.
fn channel_id(digest: &[u8; 32], environment: &str) -> String {
    let mut mac = HmacSha256::new_from_slice(digest).expect("HMAC takes keys of any length");
    mac.update(b"flagctl relay stream channel v1\0");
    mac.update(environment.as_bytes());
    hex(&mac.finalize().into_bytes()[..20])
}

/// Lowercase hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(text, "{byte:02x}");
    }
    text
}

fn parse_hex_digest(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut digest = [0u8; 32];
    for (index, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[index * 2..index * 2 + 2], 16).ok()?;
    }
    Some(digest)
}

/// The tokens of a tokens file, as digests with their environments.
fn parse_tokens(
    text: &str,
    path: &Path,
    served: &[&str],
) -> Result<Vec<([u8; 32], String)>, TokensError> {
    let invalid = |line: u32, column: u32, message: String| TokensError::Invalid {
        path: path.to_owned(),
        line,
        column,
        message,
    };
    let document = yaml::parse(text, path).map_err(|diagnostics| {
        let first = diagnostics.first();
        let (line, column) = first
            .and_then(|diagnostic| diagnostic.location.as_ref())
            .and_then(|location| location.span)
            .map_or((1, 1), |span| (span.start.line, span.start.column));
        invalid(
            line,
            column,
            first.map_or_else(|| "not valid YAML".to_owned(), |d| d.message.clone()),
        )
    })?;
    let Value::Object(entries) = &document.value else {
        let start = document.spans.span.start;
        return Err(invalid(
            start.line,
            start.column,
            "expected a mapping from token to environment (`TOKEN: ENV` or `sha256:HEX: ENV` per line)".into(),
        ));
    };
    let mut tokens = Vec::with_capacity(entries.len());
    for (index, (key, value)) in entries.iter().enumerate() {
        let node = &document.spans.children[index];
        let key_at = node.key_span.unwrap_or(node.span).start;
        let value_at = node.span.start;
        let Value::String(environment) = value else {
            return Err(invalid(
                value_at.line,
                value_at.column,
                "expected the name of the environment this token reads".into(),
            ));
        };
        if !served.contains(&environment.as_str()) {
            return Err(invalid(
                value_at.line,
                value_at.column,
                format!(
                    "environment `{environment}` is not served (served: {}); add `--env {environment}` or fix the name",
                    served.join(", ")
                ),
            ));
        }
        let digest = if let Some(hex) = key.strip_prefix("sha256:") {
            parse_hex_digest(hex).ok_or_else(|| {
                invalid(
                    key_at.line,
                    key_at.column,
                    "expected 64 hexadecimal digits after `sha256:` (the output of `printf %s TOKEN | sha256sum`)".into(),
                )
            })?
        } else {
            if key.chars().count() < 16 || key.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(invalid(
                    key_at.line,
                    key_at.column,
                    "a token must be at least 16 characters without spaces (for example `openssl rand -hex 24`)".into(),
                ));
            }
            Sha256::digest(key.as_bytes()).into()
        };
        if tokens.iter().any(|(known, _)| known == &digest) {
            return Err(invalid(
                key_at.line,
                key_at.column,
                "this token is listed twice; a token reads exactly one environment".into(),
            ));
        }
        tokens.push((digest, environment.clone()));
    }
    Ok(tokens)
}

/// The shared secret of a forge push webhook (`POST /admin/refresh`).
///
/// GitHub signs the body (`X-Hub-Signature-256: sha256=HMAC`); GitLab
/// sends the secret itself (`X-Gitlab-Token`). Both are checked in
/// constant time.
#[derive(Clone)]
pub struct WebhookSecret {
    secret: Vec<u8>,
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

impl WebhookSecret {
    /// A secret, without surrounding white space; `None` when empty.
    pub fn new(secret: &[u8]) -> Option<WebhookSecret> {
        let secret = secret.trim_ascii();
        (!secret.is_empty()).then(|| WebhookSecret {
            secret: secret.to_vec(),
        })
    }

    /// Whether GitHub's signature header value (`sha256=HEX`) signs `body`.
    pub(crate) fn verify_github(&self, header: &str, body: &[u8]) -> bool {
        let Some(signature) = header
            .trim()
            .strip_prefix("sha256=")
            .and_then(parse_hex_digest)
        else {
            return false;
        };
        let mut mac =
            HmacSha256::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        mac.update(body);
        mac.verify_slice(&signature).is_ok()
    }

    /// Whether GitLab's token header value is the secret.
    pub(crate) fn verify_gitlab(&self, header: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(header.trim().as_bytes()).into();
        let expected: [u8; 32] = Sha256::digest(&self.secret).into();
        presented.ct_eq(&expected).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("tokens.yaml");
        std::fs::write(&path, text).expect("write tokens");
        (dir, path)
    }

    #[test]
    fn tokens_grant_one_environment_each_and_hashed_tokens_work() {
        let hashed = hex(&Sha256::digest(b"prod-token-0123456789"));
        let (_dir, path) = write(&format!(
            "dev-token-0123456789: dev\nsha256:{hashed}: prod\n"
        ));
        let access = Access::from_tokens_file(&path, &["dev", "prod"], None)
            .expect("readable")
            .expect("consistent");
        let dev = access
            .admit(Credential::Token("dev-token-0123456789"))
            .expect("dev token");
        let prod = access
            .admit(Credential::Token("prod-token-0123456789"))
            .expect("prod token");
        assert_eq!(access.environments()[dev.environment], "dev");
        assert_eq!(access.environments()[prod.environment], "prod");
        assert_eq!(
            access.admit(Credential::Token("nope-nope-nope-nope")),
            Err(Denied::Unknown)
        );
        assert_eq!(access.admit(Credential::None), Err(Denied::Missing));
        assert_eq!(access.admit(Credential::Malformed), Err(Denied::Malformed));
        let channel = access.channel(dev).to_owned();
        assert_ne!(channel, access.channel(prod));
        assert!(!channel.contains("dev-token"));
        assert_eq!(access.channel_environment(&channel), Some(dev.environment));
        assert_eq!(access.channel_environment("public-dev"), None);
    }

    #[test]
    fn channels_are_the_same_on_every_replica() {
        let digest: [u8; 32] = Sha256::digest(b"a-token-0123456789").into();
        assert_eq!(channel_id(&digest, "prod"), channel_id(&digest, "prod"));
        assert_ne!(channel_id(&digest, "prod"), channel_id(&digest, "dev"));
    }

    #[test]
    fn anonymous_access_reads_its_environment() {
        let access = Access::anonymous(&["dev"], "dev").expect("served");
        let grantee = access.admit(Credential::None).expect("anonymous");
        assert_eq!(access.channel(grantee), "public-dev");
        assert!(Access::anonymous(&["dev"], "prod").is_err());
    }

    #[test]
    fn bad_tokens_files_name_line_and_column() {
        let cases = [
            ("short: dev\n", 1, 1, "at least 16"),
            (
                "dev-token-0123456789: staging\n",
                1,
                23,
                "`staging` is not served",
            ),
            ("- a\n- b\n", 1, 1, "expected a mapping"),
            (
                "ok-token-0123456789: dev\nsha256:abc: dev\n",
                2,
                1,
                "64 hexadecimal",
            ),
            (
                "dev-token-0123456789: [dev]\n",
                1,
                23,
                "name of the environment",
            ),
            ("a: [\n", 2, 1, ""),
            (
                "dev-token-0123456789: dev\nsha256:b5a4e1e4f4e2e4c7b5fd1cf09c9d0ca4a2ec9ffdd1e3c95bd8a6ba4e1f1a5de6: dev\ndev-token-0123456789: dev\n",
                3,
                1,
                "",
            ),
        ];
        for (text, line, column, message) in cases {
            let (_dir, path) = write(text);
            match Access::from_tokens_file(&path, &["dev"], None) {
                Err(TokensError::Invalid {
                    line: l,
                    column: c,
                    message: m,
                    ..
                }) => {
                    assert_eq!((l, c), (line, column), "{text:?}: {m}");
                    assert!(m.contains(message), "{text:?}: {m}");
                }
                other => panic!("{text:?}: expected an invalid tokens file, got {other:?}"),
            }
        }
    }

    #[test]
    fn webhook_signatures_are_checked() {
        let secret = WebhookSecret::new(b"It's a Secret to Everybody\n").expect("not empty");
        // GitHub's documented example.
        let body = b"Hello, World!";
        let signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(secret.verify_github(signature, body));
        assert!(!secret.verify_github(signature, b"Hello, World?"));
        assert!(!secret.verify_github("sha1=abc", body));
        assert!(secret.verify_gitlab("It's a Secret to Everybody"));
        assert!(!secret.verify_gitlab("It's a secret to everybody"));
        assert!(WebhookSecret::new(b" \n").is_none());
    }
}
