//! How a command ended, and the exit status each ending maps to (documented in the
//! README's "Exit status" table).

use std::process::ExitCode;

/// Exit status of a command that failed with an error (anything from `anyhow`).
pub const EXIT_ERROR: u8 = 1;
/// Exit status of a command that finished but left work undone (dead-lettered objects).
pub const EXIT_PARTIAL: u8 = 3;
/// Exit status of `report --fail-on <level>` when the report's status reached the level.
pub const EXIT_REPORT_STATUS: u8 = 4;
// 2 is clap's own: a usage error (unknown flag, invalid value), before any command runs.

/// A command's result when it did not fail with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything asked for was done.
    Done,
    /// Finished, but some objects could not be processed and were dead-lettered.
    Partial,
    /// The report was made and its status reached the `--fail-on` level.
    ReportStatus,
}

impl From<Outcome> for ExitCode {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Done => ExitCode::SUCCESS,
            Outcome::Partial => ExitCode::from(EXIT_PARTIAL),
            Outcome::ReportStatus => ExitCode::from(EXIT_REPORT_STATUS),
        }
    }
}
