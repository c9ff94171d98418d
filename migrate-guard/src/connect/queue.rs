//! Writes the application handed to the layer while it was read-only, waiting to be replayed
//! in order once it is writable again, each exactly once: an entry leaves the queue only
//! after its transaction committed, or failed with an error no retry would change (then its
//! outcome says so). The queue lives in the process: a write still queued when the process
//! ends was never committed, and the application was told so (it got [`Written::Queued`],
//! not [`Written::Done`]).

use std::collections::VecDeque;

use rusqlite::types::Value;

/// What became of a write handed to `Layer::write_or_queue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Committed now, changing this many rows.
    Done {
        /// Rows changed.
        changes: usize,
    },
    /// The layer is read-only: the write waits in the queue under this ticket.
    Queued {
        /// Its place in the queue, increasing.
        ticket: u64,
    },
}

/// A queued write that was replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// The ticket it was queued under.
    pub ticket: u64,
    /// Rows changed, or the error that made it fail (it was not retried: the statement's own).
    pub result: Result<usize, String>,
}

/// One waiting write.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    /// Its ticket.
    pub ticket: u64,
    /// The statement.
    pub sql: String,
    /// Its values, bound in order.
    pub values: Vec<Value>,
}

/// The queue.
#[derive(Debug, Default)]
pub struct Queue {
    waiting: VecDeque<Waiting>,
    next: u64,
    replayed: Vec<Replayed>,
}

impl Queue {
    /// Queues a write, unless `limit` writes already wait: its ticket.
    pub fn push(&mut self, sql: &str, values: Vec<Value>, limit: usize) -> Option<u64> {
        if self.waiting.len() >= limit {
            return None;
        }
        self.next += 1;
        self.waiting.push_back(Waiting {
            ticket: self.next,
            sql: sql.to_owned(),
            values,
        });
        Some(self.next)
    }

    /// The oldest waiting write.
    pub fn front(&self) -> Option<&Waiting> {
        self.waiting.front()
    }

    /// The oldest write, `ticket`, was replayed with `result`: it leaves the queue.
    pub fn done(&mut self, ticket: u64, result: Result<usize, String>) {
        if self.waiting.front().is_some_and(|w| w.ticket == ticket) {
            self.waiting.pop_front();
            self.replayed.push(Replayed { ticket, result });
        }
    }

    /// How many wait.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// The outcomes of the writes replayed since last asked.
    pub fn take_replayed(&mut self) -> Vec<Replayed> {
        std::mem::take(&mut self.replayed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_wait_in_order_up_to_the_limit_and_leave_once() {
        let mut q = Queue::default();
        assert_eq!(q.push("a", vec![], 2), Some(1));
        assert_eq!(q.push("b", vec![Value::Integer(1)], 2), Some(2));
        assert_eq!(q.push("c", vec![], 2), None);
        assert_eq!(q.len(), 2);
        assert_eq!(q.front().unwrap().sql, "a");
        q.done(2, Ok(1)); // not the oldest: nothing leaves
        assert_eq!(q.len(), 2);
        q.done(1, Ok(1));
        q.done(1, Ok(1)); // once only
        q.done(2, Err("constraint".into()));
        assert!(q.is_empty());
        assert_eq!(
            q.take_replayed(),
            vec![
                Replayed {
                    ticket: 1,
                    result: Ok(1)
                },
                Replayed {
                    ticket: 2,
                    result: Err("constraint".into())
                }
            ]
        );
        assert!(q.take_replayed().is_empty());
        assert_eq!(q.push("d", vec![], 0), None, "a limit of 0 queues nothing");
    }
}
