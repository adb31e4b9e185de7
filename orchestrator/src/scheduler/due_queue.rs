//! When each DAG needs the scheduler next, kept in time order, so that a loop with
//! nothing due looks at no DAG at all: a DAG is looked at when its next run falls due,
//! when its file changed, when it was unpaused, or when one of its runs ended.

use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap};

/// The DAGs to look at, by when.
#[derive(Default)]
pub struct DueQueue {
    by_time: BTreeSet<(DateTime<Utc>, String)>,
    at: HashMap<String, DateTime<Utc>>,
    /// DAGs to look at on the next loop, whatever their time.
    now: BTreeSet<String>,
}

impl DueQueue {
    /// Looks at `dag_id` on the next loop.
    pub fn mark(&mut self, dag_id: &str) {
        self.now.insert(dag_id.to_string());
    }

    /// Looks at `dag_id` at `at` (never again by itself when None).
    pub fn set(&mut self, dag_id: &str, at: Option<DateTime<Utc>>) {
        if let Some(old) = self.at.remove(dag_id) {
            self.by_time.remove(&(old, dag_id.to_string()));
        }
        if let Some(at) = at {
            self.by_time.insert((at, dag_id.to_string()));
            self.at.insert(dag_id.to_string(), at);
        }
    }

    /// Forgets a DAG (its file is gone).
    pub fn remove(&mut self, dag_id: &str) {
        self.set(dag_id, None);
        self.now.remove(dag_id);
    }

    /// The DAGs to look at now: those marked, and those whose time has come.
    pub fn take_due(&mut self, now: DateTime<Utc>) -> Vec<String> {
        let mut due: Vec<String> = std::mem::take(&mut self.now).into_iter().collect();
        while let Some((at, _)) = self.by_time.first()
            && *at <= now
        {
            if let Some((_, dag_id)) = self.by_time.pop_first() {
                self.at.remove(&dag_id);
                if !due.contains(&dag_id) {
                    due.push(dag_id);
                }
            }
        }
        due
    }

    /// When the next DAG needs looking at (now, when some are marked).
    pub fn next(&self) -> Option<DateTime<Utc>> {
        if !self.now.is_empty() {
            return Some(DateTime::<Utc>::MIN_UTC);
        }
        self.by_time.first().map(|(at, _)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn dags_come_due_in_time_order_and_marked_ones_at_once() {
        let now = Utc::now();
        let mut q = DueQueue::default();
        q.set("later", Some(now + TimeDelta::seconds(60)));
        q.set("soon", Some(now - TimeDelta::seconds(1)));
        q.set("manual", None);
        assert_eq!(q.take_due(now), ["soon"]);
        assert_eq!(q.next(), Some(now + TimeDelta::seconds(60)));
        q.mark("manual");
        q.set("later", Some(now + TimeDelta::seconds(120)));
        assert_eq!(q.take_due(now), ["manual"]);
        assert!(q.take_due(now).is_empty());
        assert_eq!(q.take_due(now + TimeDelta::seconds(121)), ["later"]);
        assert_eq!(q.next(), None);
    }
}
