//! The memory budget: a weighted semaphore in KiB. Each image holds a [`BudgetPermit`]
//! for the peak memory its decode and preprocessing need (see `footprint`) while it is
//! decoded, then only for what it keeps until its row is settled; images wait for
//! room instead of being decoded all at once. Waiters are served in order (tokio's
//! semaphore is fair): a large image is not starved by smaller ones behind it, which wait.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The unit of the budget's semaphore: one permit per KiB.
pub const UNIT_BYTES: u64 = 1024;

/// Why a reservation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    /// More than the whole budget: waiting would never end.
    #[error("needs {needed_kib} KiB, more than the whole memory budget of {budget_kib} KiB")]
    OverBudget {
        /// What was asked for, in KiB.
        needed_kib: u64,
        /// The whole budget, in KiB.
        budget_kib: u64,
    },
    /// The semaphore was closed (the pipeline is shutting down).
    #[error("the memory budget is closed")]
    Closed,
}

/// What the budget has handed out, for tests and metrics.
#[derive(Debug, Default)]
struct Usage {
    /// KiB held now.
    in_use: AtomicU64,
    /// Most KiB ever held at once.
    high_water: AtomicU64,
    /// Permits held now.
    holders: AtomicUsize,
    /// Most permits ever held at once.
    peak_holders: AtomicUsize,
}

/// A budget of memory shared by the images of every batch of a pipeline.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    semaphore: Arc<Semaphore>,
    total_kib: u64,
    usage: Arc<Usage>,
}

/// Room reserved in a [`MemoryBudget`]; given back when dropped.
#[derive(Debug)]
pub struct BudgetPermit {
    permit: OwnedSemaphorePermit,
    kib: u64,
    usage: Arc<Usage>,
}

/// Whole KiB needed for `bytes` (rounded up).
pub fn kib_for(bytes: u64) -> u64 {
    bytes.div_ceil(UNIT_BYTES)
}

impl MemoryBudget {
    /// A budget of `bytes` (rounded down to whole KiB, at most `u32::MAX` KiB).
    pub fn new(bytes: u64) -> MemoryBudget {
        let total_kib = (bytes / UNIT_BYTES).min(u64::from(u32::MAX));
        MemoryBudget {
            semaphore: Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
            usage: Arc::default(),
        }
    }

    /// The whole budget in bytes.
    pub fn total_bytes(&self) -> u64 {
        self.total_kib * UNIT_BYTES
    }

    /// Bytes reserved now.
    pub fn in_use_bytes(&self) -> u64 {
        self.usage.in_use.load(Ordering::SeqCst) * UNIT_BYTES
    }

    /// The most bytes ever reserved at once (never above [`MemoryBudget::total_bytes`]).
    pub fn high_water_bytes(&self) -> u64 {
        self.usage.high_water.load(Ordering::SeqCst) * UNIT_BYTES
    }

    /// The most permits ever held at once (images decoded or kept at the same time).
    pub fn peak_holders(&self) -> usize {
        self.usage.peak_holders.load(Ordering::SeqCst)
    }

    /// Waits until `bytes` fit, then reserves them. Refused at once when `bytes` exceed
    /// the whole budget.
    pub async fn acquire(&self, bytes: u64) -> Result<BudgetPermit, BudgetError> {
        let kib = kib_for(bytes);
        if kib > self.total_kib {
            return Err(BudgetError::OverBudget {
                needed_kib: kib,
                budget_kib: self.total_kib,
            });
        }
        // `kib <= total_kib <= u32::MAX`, checked above.
        let permit = Arc::clone(&self.semaphore)
            .acquire_many_owned(kib as u32)
            .await
            .map_err(|_| BudgetError::Closed)?;
        let usage = Arc::clone(&self.usage);
        let now = usage.in_use.fetch_add(kib, Ordering::SeqCst) + kib;
        usage.high_water.fetch_max(now, Ordering::SeqCst);
        let holders = usage.holders.fetch_add(1, Ordering::SeqCst) + 1;
        usage.peak_holders.fetch_max(holders, Ordering::SeqCst);
        Ok(BudgetPermit { permit, kib, usage })
    }
}

impl BudgetPermit {
    /// Bytes this permit reserves.
    pub fn bytes(&self) -> u64 {
        self.kib * UNIT_BYTES
    }

    /// Gives back all but `bytes` (rounded up to whole KiB); a permit never grows.
    pub fn shrink_to(&mut self, bytes: u64) {
        let keep = kib_for(bytes).min(self.kib);
        let excess = self.kib - keep;
        // The usage is lowered before the permits return, so that the high-water mark
        // never counts the same KiB twice.
        self.usage.in_use.fetch_sub(excess, Ordering::SeqCst);
        self.kib = keep;
        drop(self.permit.split(excess as usize));
    }
}

impl Drop for BudgetPermit {
    fn drop(&mut self) {
        // Runs before the semaphore permit (a field) is released: see `shrink_to`.
        self.usage.in_use.fetch_sub(self.kib, Ordering::SeqCst);
        self.usage.holders.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_wait_for_room_and_shrink() {
        let budget = MemoryBudget::new(10 * UNIT_BYTES);
        let mut a = budget.acquire(6 * UNIT_BYTES).await.unwrap();
        assert_eq!(budget.in_use_bytes(), 6 * UNIT_BYTES);
        // 1 byte still takes a whole KiB; 5 KiB do not fit next to 6.
        let b = budget.acquire(1).await.unwrap();
        assert_eq!(b.bytes(), UNIT_BYTES);
        let waiting = budget.acquire(5 * UNIT_BYTES);
        tokio::pin!(waiting);
        assert!(futures::poll!(&mut waiting).is_pending());
        a.shrink_to(2 * UNIT_BYTES);
        let c = waiting.await.unwrap();
        assert_eq!(budget.in_use_bytes(), 8 * UNIT_BYTES);
        drop((a, b, c));
        assert_eq!(budget.in_use_bytes(), 0);
        assert_eq!(budget.high_water_bytes(), 8 * UNIT_BYTES);
        assert_eq!(budget.peak_holders(), 3);
    }

    #[tokio::test]
    async fn more_than_the_whole_budget_is_refused_at_once() {
        let budget = MemoryBudget::new(4 * UNIT_BYTES);
        let err = budget.acquire(4 * UNIT_BYTES + 1).await.unwrap_err();
        assert_eq!(
            err,
            BudgetError::OverBudget {
                needed_kib: 5,
                budget_kib: 4
            }
        );
        assert!(budget.acquire(4 * UNIT_BYTES).await.is_ok());
    }
}
