//! Who calls an RPC procedure, and the access rules it holds.

use super::*;

/// Who calls an RPC procedure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Caller {
    /// The principal kind.
    pub kind: CallerKind,
    /// The principal id, if any.
    pub id: Option<String>,
    /// Access rules held (short ids).
    pub access_rules: Vec<String>,
}

/// The kind of principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CallerKind {
    /// A person.
    User,
    /// An API key.
    Application,
    /// A backend service.
    Service,
    /// The platform.
    System,
    /// Nobody signed in.
    Anonymous,
}

impl Caller {
    /// A signed-in user holding `rules`.
    pub fn user(id: &str, rules: &[&str]) -> Self {
        Caller {
            kind: CallerKind::User,
            id: Some(id.into()),
            access_rules: rules.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    /// An anonymous caller holding `rules` (the anonymous role's grants).
    pub fn anonymous(rules: &[&str]) -> Self {
        Caller {
            kind: CallerKind::Anonymous,
            id: None,
            access_rules: rules.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    /// Whether the caller holds `rule`, where `<scope>.manage` implies `<scope>.read`
    /// (the platform's escalation).
    pub fn holds(&self, rule: &str) -> bool {
        self.access_rules.iter().any(|held| {
            held == rule
                || rule
                    .strip_suffix(".read")
                    .is_some_and(|scope| held.strip_suffix(".manage") == Some(scope))
        })
    }

    pub(super) fn to_wit(&self) -> wit::Caller {
        wit::Caller {
            kind: match self.kind {
                CallerKind::User => wit::CallerKind::User,
                CallerKind::Application => wit::CallerKind::Application,
                CallerKind::Service => wit::CallerKind::Service,
                CallerKind::System => wit::CallerKind::System,
                CallerKind::Anonymous => wit::CallerKind::Anonymous,
            },
            id: self.id.clone(),
            access_rules: self.access_rules.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manage_implies_read_but_not_the_reverse() {
        let manager = Caller::user("u", &["slo.manage"]);
        assert!(manager.holds("slo.read"));
        assert!(manager.holds("slo.manage"));
        let reader = Caller::user("u", &["slo.read"]);
        assert!(!reader.holds("slo.manage"));
        assert!(!Caller::user("u", &["other.manage"]).holds("slo.read"));
    }
}
