use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::Message;

/// An in-process queue with SQS-like semantics, for embedded mode and tests.
///
/// [`receive`](crate::Queue::receive) moves messages to "in flight" and increments their
/// receive count; [`ack`](crate::Queue::ack) removes them; [`retry`](crate::Queue::retry)
/// puts them back (visible again after the delay). There is no visibility timeout: a
/// received message stays in flight until it is acknowledged or retried. A message that
/// would be received more than `max_receives` times goes to the dead-letter list instead.
/// Unknown receipts are ignored. Clones share the same queue.
#[derive(Debug, Clone)]
pub struct MemoryQueue {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    notify: Notify,
    max_receives: u32,
}

#[derive(Debug, Default)]
struct State {
    pending: VecDeque<Stored>,
    in_flight: HashMap<String, Stored>,
    dead: Vec<Message>,
    next_id: u64,
    next_receipt: u64,
}

#[derive(Debug)]
struct Stored {
    id: String,
    body: String,
    receive_count: u32,
    visible_at: Instant,
}

impl MemoryQueue {
    /// An empty queue that dead-letters a message after `max_receives` receives (at least 1).
    pub fn new(max_receives: u32) -> MemoryQueue {
        MemoryQueue {
            inner: Arc::new(Inner {
                state: Mutex::default(),
                notify: Notify::new(),
                max_receives: max_receives.max(1),
            }),
        }
    }

    /// The messages that exceeded `max_receives`, oldest first.
    pub fn dead_letters(&self) -> Vec<Message> {
        self.state().dead.clone()
    }

    /// The number of pending messages (not in flight), including retried ones whose delay
    /// has not passed yet.
    pub fn len(&self) -> usize {
        self.state().pending.len()
    }

    /// Whether no message is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of messages received and neither acknowledged nor retried yet.
    pub fn in_flight(&self) -> usize {
        self.state().in_flight.len()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-updated in a way
        // that matters for a test queue: keep going.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) async fn receive(&self, max: usize, wait: Duration) -> Vec<Message> {
        let deadline = Instant::now() + wait;
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            // Register before looking at the state, so that a send in between is not missed.
            notified.as_mut().enable();
            let (batch, next_visible) = self.take(max);
            if !batch.is_empty() || max == 0 {
                return batch;
            }
            let until = next_visible.map_or(deadline, |t| t.min(deadline));
            if tokio::time::timeout_at(until, notified).await.is_err() && until >= deadline {
                return Vec::new();
            }
        }
    }

    /// Takes up to `max` visible messages; also returns when the next invisible one shows up.
    fn take(&self, max: usize) -> (Vec<Message>, Option<Instant>) {
        let now = Instant::now();
        let max_receives = self.inner.max_receives;
        let mut guard = self.state();
        let state = &mut *guard;
        let mut batch = Vec::new();
        let mut next_visible: Option<Instant> = None;
        let mut i = 0;
        while batch.len() < max && i < state.pending.len() {
            let visible_at = state.pending[i].visible_at;
            if visible_at > now {
                next_visible = Some(next_visible.map_or(visible_at, |t| t.min(visible_at)));
                i += 1;
                continue;
            }
            let Some(mut stored) = state.pending.remove(i) else {
                break; // `i` is in bounds: the loop condition checked it.
            };
            if stored.receive_count >= max_receives {
                state.dead.push(Message {
                    id: stored.id,
                    receipt: String::new(),
                    body: stored.body,
                    receive_count: stored.receive_count,
                });
                continue;
            }
            stored.receive_count += 1;
            state.next_receipt += 1;
            let receipt = format!("{}#{}", stored.id, state.next_receipt);
            batch.push(Message {
                id: stored.id.clone(),
                receipt: receipt.clone(),
                body: stored.body.clone(),
                receive_count: stored.receive_count,
            });
            state.in_flight.insert(receipt, stored);
        }
        (batch, next_visible)
    }

    pub(crate) fn ack(&self, messages: &[Message]) {
        let mut state = self.state();
        for m in messages {
            state.in_flight.remove(&m.receipt);
        }
    }

    pub(crate) fn retry(&self, messages: &[Message], delay: Duration) {
        let visible_at = Instant::now() + delay;
        let mut state = self.state();
        for m in messages {
            if let Some(mut stored) = state.in_flight.remove(&m.receipt) {
                stored.visible_at = visible_at;
                state.pending.push_back(stored);
            }
        }
        drop(state);
        self.inner.notify.notify_waiters();
    }

    pub(crate) fn send(&self, bodies: Vec<String>) {
        let now = Instant::now();
        let mut state = self.state();
        for body in bodies {
            state.next_id += 1;
            let id = format!("mem-{}", state.next_id);
            state.pending.push_back(Stored {
                id,
                body,
                receive_count: 0,
                visible_at: now,
            });
        }
        drop(state);
        self.inner.notify.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Queue;

    const NOW: Duration = Duration::ZERO;

    #[tokio::test]
    async fn receive_ack_retry() {
        let queue = Queue::Memory(MemoryQueue::new(3));
        let Queue::Memory(mem) = &queue else {
            unreachable!()
        };
        queue
            .send(vec!["a".into(), "b".into(), "c".into()])
            .await
            .unwrap();
        assert_eq!(mem.len(), 3);

        let first = queue.receive(2, NOW).await.unwrap();
        assert_eq!(
            first.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(first.iter().all(|m| m.receive_count == 1));
        assert_eq!((mem.len(), mem.in_flight()), (1, 2));

        queue.ack(&first[..1]).await.unwrap();
        queue.retry(&first[1..], NOW).await.unwrap();
        assert_eq!((mem.len(), mem.in_flight()), (2, 0));

        let second = queue.receive(10, NOW).await.unwrap();
        assert_eq!(
            second
                .iter()
                .map(|m| (m.body.as_str(), m.receive_count))
                .collect::<Vec<_>>(),
            [("c", 1), ("b", 2)]
        );
        assert_ne!(
            second[1].receipt, first[1].receipt,
            "a new receipt per receive"
        );
        assert_eq!(second[1].id, first[1].id);
        // A stale receipt is ignored.
        queue.ack(&first[1..]).await.unwrap();
        assert_eq!(mem.in_flight(), 2);
        queue.ack(&second).await.unwrap();
        assert!(mem.is_empty() && mem.in_flight() == 0 && mem.dead_letters().is_empty());
    }

    #[tokio::test]
    async fn dead_letter_after_max_receives() {
        let queue = MemoryQueue::new(2);
        queue.send(vec!["poison".into()]);
        for attempt in 1..=2 {
            let batch = queue.receive(10, NOW).await;
            assert_eq!(batch[0].receive_count, attempt);
            queue.retry(&batch, NOW);
        }
        assert!(queue.receive(10, NOW).await.is_empty());
        let dead = queue.dead_letters();
        assert_eq!(
            (dead.len(), dead[0].body.as_str(), dead[0].receive_count),
            (1, "poison", 2)
        );
        assert!(queue.is_empty());
    }

    #[tokio::test]
    async fn receive_waits_for_a_send() {
        let queue = MemoryQueue::new(1);
        let sender = queue.clone();
        let waiter = tokio::spawn(async move { queue.receive(10, Duration::from_secs(10)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        sender.send(vec!["late".into()]);
        let batch = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(batch[0].body, "late");
    }

    #[tokio::test(start_paused = true)]
    async fn retry_delay_and_wait_timeout() {
        let queue = MemoryQueue::new(5);
        let started = Instant::now();
        assert!(queue.receive(10, Duration::from_secs(3)).await.is_empty());
        assert_eq!(started.elapsed(), Duration::from_secs(3));

        queue.send(vec!["x".into()]);
        let batch = queue.receive(10, NOW).await;
        queue.retry(&batch, Duration::from_secs(30));
        assert_eq!(queue.len(), 1);
        assert!(
            queue.receive(10, Duration::from_secs(10)).await.is_empty(),
            "still invisible"
        );
        let started = Instant::now();
        let batch = queue.receive(10, Duration::from_secs(60)).await;
        assert_eq!((batch.len(), batch[0].receive_count), (1, 2));
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(20),
            "woke when the message became visible"
        );
    }
}
