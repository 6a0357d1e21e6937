//! The write stage: the open partitions of one source object, their Parquet files, and the memory
//! budget they share.
//!
//! Rows are buffered per partition ([`crate::parquet_out::PartitionOut`]). A partition whose
//! buffer makes a full row group is flushed; when all of them together hold more than the budget
//! (`memory_budget_mb`), the ones holding the most are flushed early, and files whose unsent upload
//! parts hold too much are completed, until memory is back under half the budget.

use crate::mapping::Value;
use crate::output::OutputStore;
use crate::parquet_out::{FileSettings, PartitionOut, WriteError};
use crate::partition::NewPartition;
use crate::summary::PartitionSummary;

/// The Parquet files of one source object, partition by partition.
pub struct TableWriter<'s> {
    store: &'s dyn OutputStore,
    settings: FileSettings,
    /// Open partitions, in order of first appearance (the partitioner's indices).
    partitions: Vec<PartitionOut>,
    buffered_bytes: usize,
    budget_bytes: usize,
}

impl<'s> TableWriter<'s> {
    /// A writer into `store` (the table location) holding at most `budget_bytes` in memory.
    pub fn new(store: &'s dyn OutputStore, settings: FileSettings, budget_bytes: usize) -> Self {
        Self {
            store,
            settings,
            partitions: Vec::new(),
            buffered_bytes: 0,
            budget_bytes,
        }
    }

    /// Partitions opened so far.
    pub fn partition_count(&self) -> usize {
        self.partitions.len()
    }

    /// Opens a partition; returns its index (the next one).
    pub fn open(&mut self, partition: NewPartition) -> usize {
        self.partitions
            .push(PartitionOut::new(partition.values, partition.path));
        self.partitions.len() - 1
    }

    /// Appends a row (values of the file columns, in order) to partition `index`, writing out
    /// rows as row groups fill and as the memory budget requires.
    #[inline]
    pub fn push_row<'v>(
        &mut self,
        index: usize,
        values: impl Iterator<Item = Value<'v>>,
    ) -> Result<(), WriteError> {
        let partition = &mut self.partitions[index];
        self.buffered_bytes += partition.push_row(&self.settings, values);
        let mut flushed = false;
        if partition.row_group_full(&self.settings) {
            self.buffered_bytes -= partition.flush(self.store, &self.settings)?;
            flushed = true;
        }
        if flushed || self.buffered_bytes > self.budget_bytes {
            self.relieve_memory()?;
        }
        Ok(())
    }

    /// Brings memory back under half the budget: first the partitions with the most buffered rows
    /// are flushed as row groups; then, if the output store holds too many written-but-unsent
    /// bytes (open upload parts), the files holding the most are completed.
    fn relieve_memory(&mut self) -> Result<(), WriteError> {
        let target = self.budget_bytes / 2;
        if self.buffered_bytes > target {
            let mut by_bytes: Vec<usize> = (0..self.partitions.len()).collect();
            by_bytes
                .sort_unstable_by_key(|&i| std::cmp::Reverse(self.partitions[i].buffered_bytes()));
            for i in by_bytes {
                if self.buffered_bytes <= target {
                    break;
                }
                self.buffered_bytes -= self.partitions[i].flush(self.store, &self.settings)?;
            }
        }
        let mut by_pending: Vec<(usize, usize)> = self
            .partitions
            .iter()
            .enumerate()
            .map(|(i, p)| (p.pending_bytes(), i))
            .filter(|&(bytes, _)| bytes > 0)
            .collect();
        let mut pending: usize = by_pending.iter().map(|&(bytes, _)| bytes).sum();
        if self.buffered_bytes + pending > self.budget_bytes {
            by_pending.sort_unstable_by_key(|&(bytes, _)| std::cmp::Reverse(bytes));
            for (bytes, i) in by_pending {
                if self.buffered_bytes + pending <= target {
                    break;
                }
                self.partitions[i].close_file()?;
                pending -= bytes;
            }
        }
        Ok(())
    }

    /// Writes what is buffered, completes every file and waits until all of them are visible.
    pub fn finish(&mut self) -> Result<(), WriteError> {
        // In path order, so files are completed in the same order on every run.
        let mut order: Vec<usize> = (0..self.partitions.len()).collect();
        order.sort_by(|&a, &b| self.partitions[a].path().cmp(self.partitions[b].path()));
        for i in order {
            self.partitions[i].finish(self.store, &self.settings)?;
        }
        self.buffered_bytes = 0;
        self.store.sync()?;
        Ok(())
    }

    /// Deletes the files committed so far (best effort: the object is failing anyway, and its
    /// files carry deterministic names, so a reprocess overwrites whatever could not be deleted).
    pub fn delete_committed(&mut self) {
        for p in &self.partitions {
            for key in p.committed_keys() {
                let _ = self.store.delete(key);
            }
        }
    }

    /// Takes back everything written (on a failure of the object as a whole): open files are
    /// dropped uncommitted, which discards them, and committed ones deleted.
    pub fn discard(&mut self) {
        for p in &mut self.partitions {
            p.abandon();
        }
        self.buffered_bytes = 0;
        // Commits and discards still finishing in the background must land before files are
        // deleted and before the caller looks.
        let _ = self.store.sync();
        self.delete_committed();
    }

    /// What each partition holds, with the partition key names. A partition opened for rows of a
    /// record that was then rejected (another of its rows could not be written) holds no file
    /// and is left out.
    pub fn summaries(&self, names: &[String]) -> Vec<PartitionSummary> {
        self.partitions
            .iter()
            .map(|p| p.summary(names))
            .filter(|s| !s.files.is_empty())
            .collect()
    }
}
