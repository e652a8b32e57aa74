//! Deduplication: one open alert per kind and key. Comparing the conditions that hold with the
//! open alerts gives the changes to store: fire what is new, clear what no longer holds, update
//! the detail of what still holds (no new notice for that).

use super::{Condition, Facts, OpenAlert};

/// One change to the `alerts` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Fire(Condition),
    Clear {
        id: i64,
    },
    Update {
        id: i64,
        detail: String,
        facts: Facts,
    },
}

pub fn reconcile(open: &[OpenAlert], holding: &[Condition]) -> Vec<Change> {
    let mut changes = Vec::new();
    for alert in open {
        match holding
            .iter()
            .find(|c| c.kind == alert.kind && c.key == alert.key)
        {
            None => changes.push(Change::Clear { id: alert.id }),
            Some(c) if c.detail != alert.detail => changes.push(Change::Update {
                id: alert.id,
                detail: c.detail.clone(),
                facts: c.facts.clone(),
            }),
            Some(_) => {}
        }
    }
    for condition in holding {
        let is_open = open
            .iter()
            .any(|a| a.kind == condition.kind && a.key == condition.key);
        let repeated = changes.iter().any(
            |c| matches!(c, Change::Fire(f) if f.kind == condition.kind && f.key == condition.key),
        );
        if !is_open && !repeated {
            changes.push(Change::Fire(condition.clone()));
        }
    }
    changes
}
