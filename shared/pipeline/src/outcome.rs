//! What happens to one work item: a row, or a retry of its message.

use sightline_core::{Disposition, ResultRow, WorkItem};

use crate::rows::{build_row, RowContent, RowContext};
use crate::PipelineError;

/// What happened to one work item.
#[derive(Debug, Clone)]
pub enum ItemOutcome {
    /// A result or error row.
    Row(Box<ResultRow>),
    /// A transient failure: the message must be retried; no row is written.
    Retry(String),
}

impl ItemOutcome {
    /// The outcome of a failure: an error row when it is permanent, else a retry.
    pub fn settle(
        item: &WorkItem,
        ctx: RowContext,
        disposition: Disposition,
        message: String,
    ) -> ItemOutcome {
        match disposition {
            Disposition::Transient => ItemOutcome::Retry(message),
            Disposition::Permanent(kind) => {
                let row = build_row(item, ctx, RowContent::Failed { kind, message });
                ItemOutcome::Row(Box::new(row))
            }
        }
    }

    /// [`ItemOutcome::settle`] with the error's own classification.
    pub fn failed(item: &WorkItem, ctx: RowContext, error: PipelineError) -> ItemOutcome {
        Self::settle(item, ctx, error.disposition(), error.to_string())
    }
}

/// The outcome of the item at `index` in its batch.
#[derive(Debug)]
pub(crate) struct Settled {
    /// Position of the work item in its batch.
    pub index: usize,
    /// What happened to it.
    pub outcome: ItemOutcome,
}
