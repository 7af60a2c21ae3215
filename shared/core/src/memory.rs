//! The default memory budget of the image pipeline (`SIGHTLINE_MEMORY_BUDGET_MB` when it
//! is not set): a fraction of the memory the process may use, minus what the models keep
//! resident, never below a floor.
//!
//! The memory the process may use is, in order: the Lambda function's memory
//! (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, set by Lambda); else the smaller of the cgroup's
//! limit (`/sys/fs/cgroup/memory.max`, or cgroup v1's `memory.limit_in_bytes`) and
//! `MemAvailable` of `/proc/meminfo`; else [`UNKNOWN_LIMIT_MB`].

use std::fmt;

/// Share of the memory limit given to the budget (the rest: the runtime, the fetched
/// objects, the tensors waiting for inference, the allocator's slack).
pub const BUDGET_FRACTION: f64 = 0.6;

/// The smallest default budget, in MiB.
pub const BUDGET_FLOOR_MB: u64 = 64;

/// The memory limit assumed when neither Lambda nor the machine tells, in MiB.
pub const UNKNOWN_LIMIT_MB: u64 = 1024;

/// The memory the process may use, and where that figure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimit {
    /// MiB.
    pub mb: u64,
    /// Where it came from.
    pub source: LimitSource,
}

/// Where a [`MemoryLimit`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitSource {
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`.
    Lambda,
    /// The cgroup's memory limit.
    Cgroup,
    /// `MemAvailable` in `/proc/meminfo`.
    MemAvailable,
    /// Nothing could be read: [`UNKNOWN_LIMIT_MB`].
    Unknown,
}

impl fmt::Display for LimitSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LimitSource::Lambda => "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            LimitSource::Cgroup => "the cgroup memory limit",
            LimitSource::MemAvailable => "MemAvailable",
            LimitSource::Unknown => "an assumed limit (none could be read)",
        })
    }
}

/// `max(BUDGET_FRACTION × limit − models_resident, BUDGET_FLOOR_MB)`, in MiB.
pub fn default_budget_mb(limit_mb: u64, models_resident_mb: u64) -> u64 {
    let share = (limit_mb as f64 * BUDGET_FRACTION) as u64;
    share
        .saturating_sub(models_resident_mb)
        .max(BUDGET_FLOOR_MB)
}

/// The memory limit: the Lambda function's memory if given, else the machine's
/// ([`machine_limit`]), else [`UNKNOWN_LIMIT_MB`].
pub fn memory_limit(lambda_mb: Option<u64>) -> MemoryLimit {
    if let Some(mb) = lambda_mb {
        return MemoryLimit {
            mb,
            source: LimitSource::Lambda,
        };
    }
    machine_limit().unwrap_or(MemoryLimit {
        mb: UNKNOWN_LIMIT_MB,
        source: LimitSource::Unknown,
    })
}

/// The smaller of the cgroup limit and `MemAvailable`, if either can be read.
pub fn machine_limit() -> Option<MemoryLimit> {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let cgroup = read("/sys/fs/cgroup/memory.max")
        .or_else(|| read("/sys/fs/cgroup/memory/memory.limit_in_bytes"))
        .and_then(|t| parse_cgroup_limit_mb(&t))
        .map(|mb| MemoryLimit {
            mb,
            source: LimitSource::Cgroup,
        });
    let available = read("/proc/meminfo")
        .and_then(|t| parse_mem_available_mb(&t))
        .map(|mb| MemoryLimit {
            mb,
            source: LimitSource::MemAvailable,
        });
    [cgroup, available]
        .into_iter()
        .flatten()
        .min_by_key(|l| l.mb)
}

/// A cgroup memory limit in MiB: `None` for `max` and for cgroup v1's "unlimited" (a
/// number close to `i64::MAX`).
pub fn parse_cgroup_limit_mb(text: &str) -> Option<u64> {
    let bytes: u64 = text.trim().parse().ok()?;
    (bytes < 1 << 60).then_some(bytes >> 20)
}

/// `MemAvailable` of a `/proc/meminfo` text, in MiB.
pub fn parse_mem_available_mb(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib >> 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_a_share_of_the_limit_minus_the_models_with_a_floor() {
        // The Lambda: 1769 MiB, 120 MiB of models → 941 MiB.
        assert_eq!(default_budget_mb(1769, 120), 941);
        assert_eq!(default_budget_mb(128, 100), BUDGET_FLOOR_MB);
        let lambda = memory_limit(Some(1769));
        assert_eq!((lambda.mb, lambda.source), (1769, LimitSource::Lambda));
    }

    #[test]
    fn machine_limits_are_parsed() {
        assert_eq!(parse_cgroup_limit_mb("max\n"), None);
        assert_eq!(parse_cgroup_limit_mb("9223372036854771712\n"), None);
        assert_eq!(parse_cgroup_limit_mb("2147483648\n"), Some(2048));
        let meminfo = "MemTotal:       24000000 kB\nMemFree: 1 kB\nMemAvailable:    2097152 kB\n";
        assert_eq!(parse_mem_available_mb(meminfo), Some(2048));
        assert_eq!(parse_mem_available_mb("MemTotal: 5 kB\n"), None);
    }
}
