//! The storage-format versions of vicinity's RocksDB and the steps that upgrade one to the next.
//!
//! The service stores the version it wrote in its metadata column family. At open:
//! - a fresh database is stamped with [`CURRENT`];
//! - an older one is upgraded step by step, each step committing its own version bump;
//! - a newer one is refused: this build does not know its layout and must not touch it.
//!
//! Each step lives in its own module (`v1_to_v2.rs`, …) and never changes once released.
//! `tests/frozen_fixture.rs` runs the check on a copy of a data dir written at v1
//! (`tests/fixtures/datadir`); a new version adds its own frozen data dir and a test of its step.
//!
//! Version history:
//! - 1: column families `meta`, `collections`, `ids`, `points`, `vectors`, `changes` (see the
//!   service's `storage` module for the key layout).
//! - 2: named vectors. A collection config lists its vectors by name, each with a storage slot;
//!   a vector key is `cid · internal id` in slot 0 (v1's layout) and `cid · internal id · slot`
//!   in the others ([`v1_to_v2`]).
//! - 3: users. A column family `interactions` holds users' events and items' popularity; each
//!   collection config gains its `recommendation` settings, the defaults of their time
//!   ([`v2_to_v3`]).

mod v1_to_v2;
mod v2_to_v3;

use rocksdb::DB;

/// The version this build writes.
pub const CURRENT: u32 = 3;

/// One upgrade: from `from` to `from + 1`.
#[derive(Debug)]
pub struct Step {
    pub from: u32,
    pub describe: &'static str,
    pub apply: fn(&DB) -> Result<(), String>,
}

/// Every step, in order.
pub const STEPS: &[Step] = &[
    Step {
        from: 1,
        describe: "named vectors: each collection's one vector becomes the unnamed vector in slot 0",
        apply: v1_to_v2::apply,
    },
    Step {
        from: 2,
        describe: "users: the interactions family, and each collection's recommendation settings",
        apply: v2_to_v3::apply,
    },
];

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MigrationError {
    #[error(
        "the data directory holds storage format v{found}, newer than this build knows (v{current}); \
         run a newer vicinity or point --data-dir elsewhere"
    )]
    TooNew { found: u32, current: u32 },
    #[error("no upgrade step from storage format v{from}; this build cannot open it")]
    MissingStep { from: u32 },
    #[error("upgrading storage format v{from} ({describe}) failed: {reason}")]
    StepFailed { from: u32, describe: &'static str, reason: String },
}

/// The steps that take a database at `found` to [`CURRENT`], in order.
pub fn plan(found: u32) -> Result<Vec<&'static Step>, MigrationError> {
    plan_with(found, CURRENT, STEPS)
}

fn plan_with(found: u32, current: u32, steps: &'static [Step]) -> Result<Vec<&'static Step>, MigrationError> {
    if found > current {
        return Err(MigrationError::TooNew { found, current });
    }
    (found..current)
        .map(|from| steps.iter().find(|s| s.from == from).ok_or(MigrationError::MissingStep { from }))
        .collect()
}

/// Runs one step, mapping its failure to a [`MigrationError`].
pub fn apply(step: &Step, db: &DB) -> Result<(), MigrationError> {
    (step.apply)(db).map_err(|reason| MigrationError::StepFailed {
        from: step.from,
        describe: step.describe,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noop(_: &DB) -> Result<(), String> {
        Ok(())
    }

    static TWO_STEPS: [Step; 2] =
        [Step { from: 1, describe: "one", apply: noop }, Step { from: 2, describe: "two", apply: noop }];

    #[test]
    fn current_needs_no_steps() {
        assert!(plan(CURRENT).unwrap().is_empty());
    }

    #[test]
    fn newer_version_is_refused_with_both_versions_named() {
        let err = plan(CURRENT + 1).unwrap_err();
        assert_eq!(err, MigrationError::TooNew { found: CURRENT + 1, current: CURRENT });
        let text = err.to_string();
        assert!(
            text.contains(&format!("v{}", CURRENT + 1)) && text.contains(&format!("v{CURRENT}")),
            "{text}"
        );
    }

    #[test]
    fn older_version_runs_every_step_in_order() {
        let steps = plan_with(1, 3, &TWO_STEPS).unwrap();
        assert_eq!(steps.iter().map(|s| s.describe).collect::<Vec<_>>(), ["one", "two"]);
    }

    #[test]
    fn a_gap_in_the_steps_is_reported() {
        assert_eq!(plan_with(0, 3, &TWO_STEPS).unwrap_err(), MigrationError::MissingStep { from: 0 });
    }
}
