//! The write stage: the open partitions of one source object, their Parquet files, and the memory
//! budget they share.
//!
//! Rows are buffered per partition ([`crate::parquet_out::PartitionOut`]). A partition whose
//! buffer makes a full row group is flushed. Memory held is the buffered rows plus the state of
//! every open file (the Parquet writer's buffer and its row group's column writers, about
//! [`open_file_bytes`]; with thousands of partitions that is most of it) plus upload parts not
//! sent yet. When it passes the budget (`memory_budget_mb`), it is brought back under half the
//! budget: partitions holding enough rows to be worth an open file are flushed as row groups of
//! their open files; partitions holding fewer are written as complete files (a flush that opened a
//! file for a few rows would hold more than it frees); then files are completed, those with the
//! most unsent bytes and those without rows waiting first.

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
    /// Partitions with an open file.
    open_files: usize,
    /// What one open file holds ([`open_file_bytes`]).
    file_bytes: usize,
    budget_bytes: usize,
}

/// An estimate of what an open Parquet file holds in memory besides its rows: the writer's
/// 8 KiB output buffer and, per column, its writer's state and page buffers (measured with
/// massif: about 13 KiB for 6 columns).
pub fn open_file_bytes(columns: usize) -> usize {
    (8 << 10) + columns * 1200
}

impl<'s> TableWriter<'s> {
    /// A writer into `store` (the table location) holding at most `budget_bytes` in memory.
    pub fn new(store: &'s dyn OutputStore, settings: FileSettings, budget_bytes: usize) -> Self {
        Self {
            store,
            file_bytes: open_file_bytes(settings.schema.fields().len()),
            settings,
            partitions: Vec::new(),
            buffered_bytes: 0,
            open_files: 0,
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
            self.flush(index, false)?;
            flushed = true;
        }
        if flushed || self.held_bytes() > self.budget_bytes {
            self.relieve_memory()?;
        }
        Ok(())
    }

    /// Rows buffered and the state of open files (not upload parts, which the store holds).
    fn held_bytes(&self) -> usize {
        self.buffered_bytes + self.open_files * self.file_bytes
    }

    /// Writes partition `index`'s rows as a row group (and completes its file when `close`),
    /// keeping the counts of buffered bytes and open files.
    fn flush(&mut self, index: usize, close: bool) -> Result<(), WriteError> {
        let partition = &mut self.partitions[index];
        let was_open = partition.has_open_file();
        self.buffered_bytes -= partition.flush(self.store, &self.settings)?;
        if close {
            partition.close_file()?;
        }
        match (was_open, partition.has_open_file()) {
            (false, true) => self.open_files += 1,
            (true, false) => self.open_files -= 1,
            _ => {}
        }
        Ok(())
    }

    /// Brings memory back under half the budget: first the partitions with the most buffered
    /// rows are written (as row groups of open files when they hold enough rows to be worth one,
    /// as complete files otherwise); then files are completed while open files and the upload
    /// parts the output store holds for them (written but unsent) are too much: those holding the
    /// most unsent bytes first, then those with no rows waiting.
    fn relieve_memory(&mut self) -> Result<(), WriteError> {
        let target = self.budget_bytes / 2;
        if self.held_bytes() > target {
            let mut by_bytes: Vec<usize> = (0..self.partitions.len())
                .filter(|&i| self.partitions[i].buffered_bytes() > 0)
                .collect();
            by_bytes
                .sort_unstable_by_key(|&i| std::cmp::Reverse(self.partitions[i].buffered_bytes()));
            for i in by_bytes {
                if self.held_bytes() <= target {
                    break;
                }
                let worth_a_file = self.partitions[i].buffered_bytes() >= 4 * self.file_bytes;
                self.flush(i, !worth_a_file)?;
            }
        }
        let mut by_pending: Vec<(usize, usize)> = self
            .partitions
            .iter()
            .enumerate()
            .filter(|(_, p)| p.has_open_file())
            .map(|(i, p)| (p.pending_bytes(), i))
            .collect();
        let mut pending: usize = by_pending.iter().map(|&(bytes, _)| bytes).sum();
        if self.held_bytes() + pending > self.budget_bytes {
            // Most unsent bytes first; among files with none, those with no rows waiting.
            by_pending.sort_unstable_by_key(|&(bytes, i)| {
                (
                    std::cmp::Reverse(bytes),
                    self.partitions[i].buffered_bytes(),
                )
            });
            for (bytes, i) in by_pending {
                if self.held_bytes() + pending <= target {
                    break;
                }
                self.flush(i, true)?;
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
        self.open_files = 0;
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
        self.open_files = 0;
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
