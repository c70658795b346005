//! Fair queueing of bulk work: one FIFO per source (a large PredictBatch call), served
//! round-robin one window at a time, so concurrent large calls on the same model share its bulk
//! thread evenly and a call that arrives later is not stuck behind one that arrived first.
use std::collections::VecDeque;

/// Items queued per source, taken round-robin across sources.
#[derive(Debug)]
pub struct FairQueue<T> {
    /// Sources with queued items, in service order; an emptied source leaves the rotation.
    sources: VecDeque<(u64, VecDeque<T>)>,
    len: usize,
}

impl<T> Default for FairQueue<T> {
    fn default() -> Self {
        FairQueue { sources: VecDeque::new(), len: 0 }
    }
}

impl<T> FairQueue<T> {
    /// Queues `item` behind the other items of `source`; a new source joins the end of the
    /// rotation.
    pub fn push(&mut self, source: u64, item: T) {
        self.len += 1;
        match self.sources.iter_mut().find(|(s, _)| *s == source) {
            Some((_, q)) => q.push_back(item),
            None => self.sources.push_back((source, VecDeque::from([item]))),
        }
    }

    /// Items queued over all sources.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Up to `max` items, one per source in turn; the rotation continues where the previous call
    /// stopped.
    pub fn take(&mut self, max: usize) -> Vec<T> {
        let mut out = Vec::with_capacity(max.min(self.len));
        while out.len() < max {
            let Some((source, mut q)) = self.sources.pop_front() else { break };
            if let Some(item) = q.pop_front() {
                out.push(item);
                self.len -= 1;
            }
            if !q.is_empty() {
                self.sources.push_back((source, q));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_take_turns_and_keep_their_own_order() {
        let mut q = FairQueue::default();
        for i in 0..6 {
            q.push(1, ("big", i));
        }
        q.push(2, ("small", 0));
        q.push(2, ("small", 1));
        assert_eq!(q.len(), 8);
        assert_eq!(q.take(3), [("big", 0), ("small", 0), ("big", 1)]);
        // The rotation resumes with `small`, not with `big` again.
        assert_eq!(q.take(2), [("small", 1), ("big", 2)]);
        q.push(3, ("late", 0));
        assert_eq!(q.take(10), [("big", 3), ("late", 0), ("big", 4), ("big", 5)]);
        assert!(q.is_empty());
        assert!(q.take(4).is_empty());
    }
}
