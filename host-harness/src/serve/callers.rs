//! Who is calling: bearer tokens mapped to callers, from a JSON config file and `--token` flags.
//!
//! ```json
//! { "tokens": { "s3cret": { "user": "alice", "rules": ["slo.read", "slo.manage", "host.admin"] } } }
//! ```
//!
//! A flag says the same in one word: `--token s3cret=alice:slo.read,slo.manage,host.admin`.
//! A request without a token is anonymous (no rules: public procedures only); an unknown
//! token is refused, never downgraded to anonymous.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::host::Caller;

/// The rule the admin endpoints require. It is the host's own, not a plugin's.
pub const ADMIN_RULE: &str = "host.admin";

/// Why a token table could not be built, or a request's token not resolved.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CallerError {
    /// The config file could not be read or parsed.
    #[error("caller config {path}: {reason}")]
    Config {
        /// The file.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// A `--token` flag is not `TOKEN=USER:RULE,RULE`.
    #[error("--token {0:?}: expected TOKEN=USER:RULE,RULE (rules may be empty)")]
    Flag(String),
    /// The same token was mapped twice.
    #[error("token for {0:?} is mapped twice")]
    Duplicate(String),
    /// The `Authorization` header is not `Bearer <token>`.
    #[error("the Authorization header must be `Bearer <token>`")]
    Malformed,
    /// The token is not mapped.
    #[error("unknown bearer token")]
    Unknown,
}

/// One mapped caller, as the config file spells it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappedCaller {
    /// The user id the plugin sees.
    pub user: String,
    /// The access rules the user holds.
    #[serde(default)]
    pub rules: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    tokens: BTreeMap<String, MappedCaller>,
}

/// Bearer tokens → callers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallerTable {
    tokens: BTreeMap<String, MappedCaller>,
}

impl CallerTable {
    /// Reads a config file of the shape in this module's docs.
    pub fn from_file(path: &Path) -> Result<Self, CallerError> {
        let config_error = |reason: String| CallerError::Config {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| config_error(e.to_string()))?;
        let file: ConfigFile =
            serde_json::from_str(&text).map_err(|e| config_error(e.to_string()))?;
        Ok(CallerTable {
            tokens: file.tokens,
        })
    }

    /// Adds one `TOKEN=USER:RULE,RULE` flag.
    pub fn add_flag(&mut self, flag: &str) -> Result<(), CallerError> {
        let bad = || CallerError::Flag(flag.to_owned());
        let (token, who) = flag.split_once('=').ok_or_else(bad)?;
        let (user, rules) = who.split_once(':').unwrap_or((who, ""));
        if token.is_empty() || user.is_empty() {
            return Err(bad());
        }
        let rules = rules
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect();
        self.insert(
            token,
            MappedCaller {
                user: user.to_owned(),
                rules,
            },
        )
    }

    /// Adds every mapping of `other`; a token mapped in both is refused.
    pub fn merge(&mut self, other: CallerTable) -> Result<(), CallerError> {
        for (token, caller) in other.tokens {
            self.insert(&token, caller)?;
        }
        Ok(())
    }

    fn insert(&mut self, token: &str, caller: MappedCaller) -> Result<(), CallerError> {
        if self.tokens.contains_key(token) {
            return Err(CallerError::Duplicate(caller.user));
        }
        self.tokens.insert(token.to_owned(), caller);
        Ok(())
    }

    /// How many tokens are mapped.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether no token is mapped (every request is then anonymous).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The caller behind an `Authorization` header value (`None`: anonymous).
    pub fn resolve(&self, authorization: Option<&str>) -> Result<Caller, CallerError> {
        let Some(header) = authorization else {
            return Ok(Caller::anonymous(&[]));
        };
        let token = header
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(CallerError::Malformed)?;
        let mapped = self.tokens.get(token).ok_or(CallerError::Unknown)?;
        let rules: Vec<&str> = mapped.rules.iter().map(String::as_str).collect();
        Ok(Caller::user(&mapped.user, &rules))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_map_tokens_to_users_and_rules() {
        let mut table = CallerTable::default();
        table.add_flag("t1=alice:slo.read, slo.manage").unwrap();
        table.add_flag("t2=bob").unwrap();
        let alice = table.resolve(Some("Bearer t1")).unwrap();
        assert_eq!(alice, Caller::user("alice", &["slo.read", "slo.manage"]));
        assert_eq!(
            table.resolve(Some("Bearer t2")).unwrap(),
            Caller::user("bob", &[])
        );
        assert_eq!(table.resolve(None).unwrap(), Caller::anonymous(&[]));
    }

    #[test]
    fn unknown_and_malformed_tokens_are_refused_not_downgraded() {
        let mut table = CallerTable::default();
        table.add_flag("t1=alice:slo.read").unwrap();
        assert_eq!(
            table.resolve(Some("Bearer nope")),
            Err(CallerError::Unknown)
        );
        assert_eq!(table.resolve(Some("Basic t1")), Err(CallerError::Malformed));
        assert_eq!(table.resolve(Some("Bearer ")), Err(CallerError::Malformed));
    }

    #[test]
    fn bad_flags_and_duplicates_are_refused() {
        let mut table = CallerTable::default();
        for bad in ["no-equals", "=alice:x", "t="] {
            assert_eq!(
                table.add_flag(bad),
                Err(CallerError::Flag(bad.into())),
                "{bad}"
            );
        }
        table.add_flag("t=alice").unwrap();
        assert_eq!(
            table.add_flag("t=bob"),
            Err(CallerError::Duplicate("bob".into()))
        );
    }

    #[test]
    fn a_config_file_maps_tokens_and_refuses_unknown_fields() {
        let dir = std::env::temp_dir().join(format!("slo-callers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.json");
        std::fs::write(
            &good,
            r#"{"tokens": {"k": {"user": "ops", "rules": ["host.admin"]}}}"#,
        )
        .unwrap();
        let table = CallerTable::from_file(&good).unwrap();
        assert!(table.resolve(Some("Bearer k")).unwrap().holds(ADMIN_RULE));
        let bad = dir.join("bad.json");
        std::fs::write(&bad, r#"{"tokens": {"k": {"usr": "ops"}}}"#).unwrap();
        let error = CallerTable::from_file(&bad).unwrap_err().to_string();
        assert!(error.contains("unknown field `usr`"), "{error}");
    }
}
