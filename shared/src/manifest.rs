//! Which version of a raw object the table holds: one manifest per source key (bucket + key),
//! the single source of truth for replacing an object's rows.
//!
//! Every processed version of a key is a *generation*: the files one attempt of the transform
//! wrote (named after that attempt, so two attempts never write or delete each other's files),
//! with the version, the S3 event's sequencer and the counts. The manifest
//! (`manifests/<dataset>/<key id>.json`, outside every table) names the current generation and
//! the attempts under way. It changes only by conditional writes (`If-None-Match: *` to create it,
//! `If-Match: <etag>` to change it): of two writers that read the same manifest, one wins and the
//! other reads again and decides again.
//!
//! An attempt:
//! 1. [`begin`]: reads the manifest; if its current generation came from a later event of the key
//!    (a greater sequencer), the attempt is *superseded* and writes nothing; else it records itself
//!    as pending (the files it is about to write can be found by its id) and goes on.
//! 2. writes its files;
//! 3. [`commit`]: reads the manifest again; if a later event's generation was committed meanwhile,
//!    the attempt is superseded and deletes its own files; else it makes itself current and, in
//!    the same write, lists the replaced generation's files as garbage; only then are they
//!    deleted, and [`collected`] takes them off the list.
//!
//! **Guarantee.** Once the attempts of a key have ended, the manifest names the generation of
//! the latest event among those that finished, and the table holds exactly its files: whatever
//! the order of the events, their duplicates, and overlapping attempts. Between a commit and the
//! deletion of the replaced generation's files (one `DeleteObject` per file, right after the
//! commit) a query can see both generations; before the commit it sees the old one only. An
//! attempt that fails takes its own files back and leaves the pending list ([`abandon`]), or,
//! when it cannot be sure they are all gone, marks its entry dead ([`expire`]); one that is
//! killed leaves its pending entry, naming its files and its deadline, dead once that has passed
//! ([`Manifest::expired`]). The next sweep (the state machine's clean-up after a failed
//! transform, or the key's next attempt) deletes what is left of a dead attempt and [`forget`]s
//! the entry. An attempt that fails the quality bar deletes its data files and
//! [`abandon`]s its entry, leaving its rejected records and summary until a later commit.
//!
//! A deleted raw object, when its dataset says `on_delete = "remove"`, is a generation without
//! files ([`remove`]): its rows go, and an upload older than the delete whose event arrives late
//! is superseded like any other.
//!
//! Events are ordered by their `sequencer`, which S3 gives every PUT and DELETE of a key: the
//! greater one (compared as hex strings, the shorter right-padded with zeros, as S3 documents it)
//! happened later. An attempt without a sequencer (an execution started by hand, a backfill) is
//! ordered by when it commits: it replaces whatever is current.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::ports::{ObjectStore, PortError, Precondition};

/// The manifest of one source key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The raw bucket.
    pub bucket: String,
    /// The raw key.
    pub key: String,
    /// The generation the table holds; `None` before the first commit.
    #[serde(default)]
    pub current: Option<Generation>,
    /// Attempts that began and have not committed or given up yet.
    #[serde(default)]
    pub pending: Vec<Pending>,
    /// Keys still to delete: a commit lists those of the generation it replaces in the same write
    /// that replaces it, so they are deleted even when the attempt that committed stops before it
    /// deleted them (the next commit of the key deletes them then); and an attempt that failed
    /// the quality bar leaves its rejected records and summary here ([`abandon`]).
    #[serde(default)]
    pub garbage: Vec<String>,
}

/// What one attempt wrote for one version of the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generation {
    /// The attempt that wrote it (its files carry this id).
    pub attempt: String,
    /// The raw object's version id, when the bucket is versioned.
    #[serde(default)]
    pub version_id: Option<String>,
    /// The raw object's ETag.
    #[serde(default)]
    pub etag: Option<String>,
    /// The S3 event's sequencer, when the attempt came from an event.
    #[serde(default)]
    pub sequencer: Option<String>,
    /// Every key it wrote in the curated bucket: data files, the rejected-records file, the
    /// summary.
    pub keys: Vec<String>,
    /// The partition paths its data files are in.
    pub partitions: Vec<String>,
    /// Rows written.
    pub records_written: u64,
}

/// An attempt under way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The attempt's id.
    pub attempt: String,
    /// The event's sequencer.
    #[serde(default)]
    pub sequencer: Option<String>,
    /// The table location's key prefix its data files go under.
    pub table_prefix: String,
    /// What its files are named by (`part-<stem>-…`, `rejected-<stem>.jsonl`, `<stem>.json`).
    #[serde(default)]
    pub stem: String,
    /// When Lambda stops it at the latest (milliseconds since the epoch; 0: unknown). Past it
    /// (and [`EXPIRY_GRACE_MS`]) the attempt is dead for certain, and its files are garbage.
    #[serde(default)]
    pub expires_ms: u64,
}

/// How long after an attempt's deadline its files count as garbage: clocks of different hosts
/// may disagree by this much.
pub const EXPIRY_GRACE_MS: u64 = 60_000;

/// The deadline of an attempt that stopped itself ([`expire`]): long past, and not 0, which is
/// "unknown" (never expires).
pub const EXPIRED_MS: u64 = 1;

impl Manifest {
    /// The manifest of a key nothing was recorded for yet.
    pub fn new(bucket: &str, key: &str) -> Self {
        Self {
            bucket: bucket.into(),
            key: key.into(),
            ..Self::default()
        }
    }

    /// The attempts that are certainly dead at `now_ms`: killed before they committed or gave up.
    pub fn expired(&self, now_ms: u64) -> Vec<Pending> {
        self.pending
            .iter()
            .filter(|p| p.expires_ms != 0 && p.expires_ms + EXPIRY_GRACE_MS < now_ms)
            .cloned()
            .collect()
    }
}

/// What [`begin`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// The attempt is recorded as pending: write the files.
    Proceed,
    /// A later event's generation is current: write nothing.
    Superseded {
        /// The current generation's sequencer.
        by: Option<String>,
    },
}

/// What [`commit`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Commit {
    /// The generation is current.
    Committed(Committed),
    /// A later event's generation was committed first: the attempt's own files are not in the
    /// table's manifest and must be deleted, then the attempt [`abandon`]ed (in that order, so
    /// a crash in between leaves the pending entry that finds the files).
    Superseded {
        /// The current generation's sequencer.
        by: Option<String>,
    },
}

/// A successful commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The generation it replaced.
    pub replaced: Option<Generation>,
    /// The keys to delete now (the replaced generation's, and any an earlier commit left), then
    /// to report with [`collected`].
    pub garbage: Vec<String>,
}

/// The manifest could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] PortError),
    /// What is stored is not a manifest.
    #[error("s3://{bucket}/{key} is not a manifest: {message}; delete it to let the next upload of the object recreate it")]
    Corrupt {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// The parser's message.
        message: String,
    },
    /// Conditional writes kept losing.
    #[error("s3://{bucket}/{key} changed under {attempts} writes in a row; try again")]
    Contended {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// Writes tried.
        attempts: u32,
    },
}

impl ManifestError {
    /// Whether trying again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            ManifestError::Store(e) => e.kind == crate::ports::FailureKind::Retryable,
            ManifestError::Corrupt { .. } => false,
            ManifestError::Contended { .. } => true,
        }
    }
}

/// How often a conditional write is tried before giving up with [`ManifestError::Contended`]:
/// each loss means another attempt of the same key wrote in between, which takes a burst of
/// duplicate events far beyond S3's own delivery to exhaust.
pub const WRITE_TRIES: u32 = 20;

/// Orders two events of one key by their sequencers; `None` when either has none.
pub fn sequencer_order(a: Option<&str>, b: Option<&str>) -> Option<Ordering> {
    let (a, b) = (a?, b?);
    let width = a.len().max(b.len());
    let pad = |s: &str| format!("{:0<width$}", s.to_ascii_uppercase());
    Some(pad(a).cmp(&pad(b)))
}

/// Whether the current generation came from a later event than `sequencer`.
fn later_than(current: Option<&Generation>, sequencer: Option<&str>) -> Option<Option<String>> {
    let current = current?;
    match sequencer_order(current.sequencer.as_deref(), sequencer) {
        Some(Ordering::Greater) => Some(current.sequencer.clone()),
        _ => None,
    }
}

/// The manifest at `bucket`/`key`, with the precondition a write of it must meet.
pub async fn read(
    store: &impl ObjectStore,
    bucket: &str,
    key: &str,
) -> Result<(Option<Manifest>, Precondition), ManifestError> {
    let Some(tagged) = store.get_tagged(bucket, key).await? else {
        return Ok((None, Precondition::Absent));
    };
    let manifest = serde_json::from_slice(&tagged.body).map_err(|e| ManifestError::Corrupt {
        bucket: bucket.into(),
        key: key.into(),
        message: e.to_string(),
    })?;
    Ok((Some(manifest), Precondition::Unchanged(tagged.etag)))
}

/// What a change to the manifest decided.
#[allow(clippy::large_enum_variant)] // one per manifest write: its size costs nothing
enum Decision<T> {
    /// Write this manifest (if nobody else wrote first), then answer.
    Write(Manifest, T),
    /// Answer without writing.
    Stop(T),
}

/// Reads the manifest, lets `change` decide, and writes what it decides conditionally, reading
/// and deciding again whenever another writer came first.
async fn update<T>(
    store: &impl ObjectStore,
    bucket: &str,
    key: &str,
    mut change: impl FnMut(Option<Manifest>) -> Decision<T>,
) -> Result<T, ManifestError> {
    for _ in 0..WRITE_TRIES {
        let (manifest, precondition) = read(store, bucket, key).await?;
        let (next, answer) = match change(manifest) {
            Decision::Write(next, answer) => (next, answer),
            Decision::Stop(answer) => return Ok(answer),
        };
        let body = serde_json::to_vec_pretty(&next).expect("plain struct serialises");
        if store.put_if(bucket, key, body, &precondition).await? {
            return Ok(answer);
        }
    }
    Err(ManifestError::Contended {
        bucket: bucket.into(),
        key: key.into(),
        attempts: WRITE_TRIES,
    })
}

/// Step 1: records `pending` in the manifest of `source_bucket`/`source_key` at `bucket`/`key`,
/// unless a later event's generation is current.
pub async fn begin(
    store: &impl ObjectStore,
    (bucket, key): (&str, &str),
    (source_bucket, source_key): (&str, &str),
    pending: &Pending,
) -> Result<Begin, ManifestError> {
    update(store, bucket, key, |manifest| {
        let mut manifest = manifest.unwrap_or_else(|| Manifest::new(source_bucket, source_key));
        if let Some(by) = later_than(manifest.current.as_ref(), pending.sequencer.as_deref()) {
            return Decision::Stop(Begin::Superseded { by });
        }
        manifest.pending.retain(|p| p.attempt != pending.attempt);
        manifest.pending.push(pending.clone());
        Decision::Write(manifest, Begin::Proceed)
    })
    .await
}

/// Step 3: makes `generation` current, unless a later event's generation was committed first.
pub async fn commit(
    store: &impl ObjectStore,
    (bucket, key): (&str, &str),
    (source_bucket, source_key): (&str, &str),
    generation: &Generation,
) -> Result<Commit, ManifestError> {
    update(store, bucket, key, |manifest| {
        let mut manifest = manifest.unwrap_or_else(|| Manifest::new(source_bucket, source_key));
        if let Some(by) = later_than(manifest.current.as_ref(), generation.sequencer.as_deref()) {
            return Decision::Stop(Commit::Superseded { by });
        }
        manifest.pending.retain(|p| p.attempt != generation.attempt);
        let replaced = manifest.current.replace(generation.clone());
        if let Some(old) = &replaced {
            manifest.garbage.extend(old.keys.iter().cloned());
        }
        // A key the new generation wrote too (the same name) is not garbage.
        manifest.garbage.retain(|k| !generation.keys.contains(k));
        manifest.garbage.sort();
        manifest.garbage.dedup();
        let garbage = manifest.garbage.clone();
        Decision::Write(manifest, Commit::Committed(Committed { replaced, garbage }))
    })
    .await
}

/// What [`remove`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remove {
    /// The key's generation is replaced by an empty one (which also supersedes older uploads
    /// whose events arrive late): delete the garbage, then report it [`collected`].
    Removed(Committed),
    /// A later upload of the key is current: the delete changes nothing.
    Superseded {
        /// The current generation's sequencer.
        by: Option<String>,
    },
    /// The version deleted is not the one the table holds (an older version was deleted).
    NotCurrent,
}

/// The raw object was deleted (`version`: the version deleted, `None` for a delete marker or an
/// unversioned bucket): its generation gives way to an empty one, carrying the delete's
/// sequencer, unless a later upload is current.
pub async fn remove(
    store: &impl ObjectStore,
    (bucket, key): (&str, &str),
    (source_bucket, source_key): (&str, &str),
    tombstone: &Generation,
    version: Option<&str>,
) -> Result<Remove, ManifestError> {
    debug_assert!(tombstone.keys.is_empty() && tombstone.records_written == 0);
    update(store, bucket, key, |manifest| {
        let mut manifest = manifest.unwrap_or_else(|| Manifest::new(source_bucket, source_key));
        if let Some(by) = later_than(manifest.current.as_ref(), tombstone.sequencer.as_deref()) {
            return Decision::Stop(Remove::Superseded { by });
        }
        if let (Some(version), Some(current)) = (version, &manifest.current) {
            if current.version_id.as_deref() != Some(version) {
                return Decision::Stop(Remove::NotCurrent);
            }
        }
        let replaced = manifest.current.replace(tombstone.clone());
        if let Some(old) = &replaced {
            manifest.garbage.extend(old.keys.iter().cloned());
        }
        manifest.garbage.sort();
        manifest.garbage.dedup();
        let garbage = manifest.garbage.clone();
        Decision::Write(manifest, Remove::Removed(Committed { replaced, garbage }))
    })
    .await
}

/// Removes `deleted` keys from the garbage list once they are deleted.
pub async fn collected(
    store: &impl ObjectStore,
    (bucket, key): (&str, &str),
    deleted: &[String],
) -> Result<(), ManifestError> {
    if deleted.is_empty() {
        return Ok(());
    }
    update(store, bucket, key, |manifest| match manifest {
        Some(mut m) if m.garbage.iter().any(|k| deleted.contains(k)) => {
            m.garbage.retain(|k| !deleted.contains(k));
            Decision::Write(m, ())
        }
        _ => Decision::Stop(()),
    })
    .await
}

/// Removes an attempt that gave up from the pending list. Its data files are already deleted;
/// `kept` are keys it leaves on purpose (the rejected records and summary of an object that
/// failed its quality bar, which the failure message points to): they go on the garbage list, and
/// the key's next commit deletes them with the generation it replaces.
pub async fn abandon(
    store: &impl ObjectStore,
    (bucket, key): (&str, &str),
    attempt: &str,
    kept: &[String],
) -> Result<(), ManifestError> {
    update(store, bucket, key, |manifest| match manifest {
        Some(mut m) if m.pending.iter().any(|p| p.attempt == attempt) => {
            m.pending.retain(|p| p.attempt != attempt);
            m.garbage.extend(kept.iter().cloned());
            m.garbage.sort();
            m.garbage.dedup();
            Decision::Write(m, ())
        }
        _ => Decision::Stop(()),
    })
    .await
}

/// Marks an attempt that stopped without committing as dead now, so that the next sweep (the
/// state machine's clean-up, or the key's next attempt) finds what it may have left, deletes it
/// and [`forget`]s it: for attempts that cannot be sure their own take-back deleted everything.
pub async fn expire(
    store: &impl ObjectStore,
    (bucket, key): (&str, &str),
    attempt: &str,
) -> Result<(), ManifestError> {
    update(store, bucket, key, |manifest| match manifest {
        Some(mut m) => match m.pending.iter_mut().find(|p| p.attempt == attempt) {
            Some(p) if p.expires_ms != EXPIRED_MS => {
                p.expires_ms = EXPIRED_MS;
                Decision::Write(m, ())
            }
            _ => Decision::Stop(()),
        },
        None => Decision::Stop(()),
    })
    .await
}

/// Removes attempts from the pending list: those that gave up, or dead ones whose files were
/// deleted (see [`Manifest::expired`]).
pub async fn forget(
    store: &impl ObjectStore,
    (bucket, key): (&str, &str),
    attempts: &[String],
) -> Result<(), ManifestError> {
    update(store, bucket, key, |manifest| match manifest {
        Some(mut m) if m.pending.iter().any(|p| attempts.contains(&p.attempt)) => {
            m.pending.retain(|p| !attempts.contains(&p.attempt));
            Decision::Write(m, ())
        }
        _ => Decision::Stop(()),
    })
    .await
}

#[cfg(test)]
mod tests;
