//! The alias document of one catalog: which version serves, which one was last refused or
//! is waiting, the champions before it (for rollback), and what happened when.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `registry/<catalog>/alias.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Alias {
    /// The catalog.
    pub catalog: String,
    /// The version that serves, if any.
    pub champion: Option<String>,
    /// The latest version that was registered without being promoted.
    pub challenger: Option<String>,
    /// Earlier champions, oldest first: rollback returns to the last one.
    #[serde(default)]
    pub previous: Vec<String>,
    /// Everything that happened, oldest first.
    #[serde(default)]
    pub history: Vec<AliasEvent>,
}

/// One change of the alias.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AliasEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub action: AliasAction,
    /// The version it concerns.
    pub version: String,
    /// The champion before the change.
    pub champion_before: Option<String>,
    /// Why (the gate's decision, or who asked).
    pub reason: String,
}

/// Kinds of [`AliasEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AliasAction {
    /// The version became champion.
    Promote,
    /// The version was registered as challenger and refused by the gate.
    Refuse,
    /// The champion went back to the version before it.
    Rollback,
}

impl Alias {
    /// An empty alias for `catalog`.
    pub fn new(catalog: &str) -> Alias {
        Alias {
            catalog: catalog.to_string(),
            ..Alias::default()
        }
    }

    /// Makes `version` the champion; the old champion becomes the rollback target.
    pub fn promote(&mut self, version: &str, reason: &str, at: DateTime<Utc>) {
        let before = self.champion.replace(version.to_string());
        self.record(AliasAction::Promote, version, before.clone(), reason, at);
        if let Some(old) = before.filter(|old| old != version) {
            self.previous.push(old);
        }
        if self.challenger.as_deref() == Some(version) {
            self.challenger = None;
        }
    }

    /// Records `version` as the refused challenger; the champion is unchanged.
    pub fn refuse(&mut self, version: &str, reason: &str, at: DateTime<Utc>) {
        self.challenger = Some(version.to_string());
        let champion = self.champion.clone();
        self.record(AliasAction::Refuse, version, champion, reason, at);
    }

    /// Returns to the champion before the current one; `None` when there is none.
    pub fn rollback(&mut self, reason: &str, at: DateTime<Utc>) -> Option<String> {
        let back = self.previous.pop()?;
        let before = self.champion.replace(back.clone());
        self.record(AliasAction::Rollback, &back, before, reason, at);
        Some(back)
    }

    fn record(
        &mut self,
        action: AliasAction,
        version: &str,
        champion_before: Option<String>,
        reason: &str,
        at: DateTime<Utc>,
    ) {
        self.history.push(AliasEvent {
            at,
            action,
            version: version.to_string(),
            champion_before,
            reason: reason.to_string(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promote_then_rollback_walks_back_through_champions() {
        let now = Utc::now();
        let mut a = Alias::new("retail");
        a.promote("v1", "first head", now);
        a.promote("v2", "gate passed", now);
        a.refuse("v3", "gate refused", now);
        assert_eq!(a.champion.as_deref(), Some("v2"));
        assert_eq!(a.challenger.as_deref(), Some("v3"));
        assert_eq!(a.rollback("operator", now).as_deref(), Some("v1"));
        assert_eq!(a.champion.as_deref(), Some("v1"));
        assert_eq!(a.rollback("operator", now), None, "nothing before v1");
        assert_eq!(a.champion.as_deref(), Some("v1"));
        let actions: Vec<AliasAction> = a.history.iter().map(|e| e.action).collect();
        use AliasAction::*;
        assert_eq!(actions, [Promote, Promote, Refuse, Rollback]);
    }
}
