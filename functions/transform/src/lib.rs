//! transform: streams the raw object (pinned to its version), runs the engine, writes Parquet
//! under the table location and rejected records under a prefix outside it, stores the full
//! summary, and returns the counts. The raw object is only read.

pub mod config;

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use etl_aws::lambda::{unknown_dataset, StageError};
use etl_core::contract::{
    most_frequent, CleanUpReport, PipelineInput, TransformRequest, TransformResult,
    UNKNOWN_FIELDS_IN_RESULT,
};
use etl_core::layout::{self, S3Uri};
use etl_core::manifest::{self, Begin, Commit, Generation, Pending, Remove};
use etl_core::output::Tracked;
use etl_core::ports::ObjectStore;
use etl_core::{Dataset, Engine, SourceObject, Summary};
use serde::Serialize;
use tracing::{info, warn};

pub use config::Config;

/// What the handler needs, built once per cold start.
pub struct Deps<S> {
    /// S3 (or a local stand-in).
    pub objects: S,
    /// One engine per dataset of the deployment.
    engines: Vec<Arc<Engine>>,
    /// Output locations.
    pub config: Config,
}

impl<S> Deps<S> {
    /// Compiles every dataset once.
    pub fn new(objects: S, datasets: &[Dataset], config: Config) -> Self {
        Self {
            objects,
            engines: datasets.iter().map(|d| Arc::new(Engine::new(d))).collect(),
            config,
        }
    }

    /// The engine of the dataset named `name`.
    pub fn engine(&self, name: &str) -> Result<&Arc<Engine>, StageError> {
        let mut names = self.engines.iter().map(|e| e.dataset().name.as_str());
        match self.engines.iter().find(|e| e.dataset().name == name) {
            Some(engine) => Ok(engine),
            None => Err(unknown_dataset(name, &mut names)),
        }
    }
}

/// One invocation: what makes the attempt unique, and when Lambda stops it.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The Lambda request id (a new one for every retry).
    pub request_id: String,
    /// When Lambda kills the invocation.
    pub deadline: SystemTime,
}

impl Invocation {
    /// How long before the deadline the transform stops reading, takes back what it wrote and
    /// fails, rather than be killed mid-upload; a quarter of the time it has, when that is less
    /// (a function with a short timeout).
    pub const MARGIN: Duration = Duration::from_secs(30);

    /// The invocation Lambda describes: its request id and its deadline in milliseconds since the
    /// epoch. A deadline already past when the invocation starts is no deadline at all (runtime
    /// emulators send one): the function's `timeout` from now stands in for it.
    pub fn from_lambda(request_id: String, deadline_ms: u64, timeout: Duration) -> Self {
        let deadline = std::time::UNIX_EPOCH + Duration::from_millis(deadline_ms);
        let now = SystemTime::now();
        if deadline <= now {
            warn!(
                deadline_ms,
                timeout_seconds = timeout.as_secs(),
                "the invocation's deadline has passed already; counting the function's timeout from now"
            );
            return Self {
                request_id,
                deadline: now + timeout,
            };
        }
        Self {
            request_id,
            deadline,
        }
    }

    /// An invocation without a deadline to speak of (tests, tools).
    pub fn unhurried(request_id: &str) -> Self {
        Self {
            request_id: request_id.into(),
            deadline: SystemTime::now() + Duration::from_secs(24 * 3600),
        }
    }

    /// How long before the deadline the transform stops reading, as of now.
    fn margin(&self) -> Duration {
        let left = self
            .deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        Self::MARGIN.min(left / 4)
    }
}

/// What the function answers: a transform's result, or what a clean-up did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Response {
    /// For [`TransformRequest::Transform`] (boxed: it is the large one).
    Transformed(Box<TransformResult>),
    /// For [`TransformRequest::CleanUp`].
    CleanedUp(CleanUpReport),
}

/// The function's entry point: a transform, or the clean-up the state machine runs after a
/// transform failed.
pub async fn handle_request<S: ObjectStore>(
    deps: &Deps<S>,
    request: TransformRequest,
    invocation: &Invocation,
) -> Result<Response, StageError> {
    match request {
        TransformRequest::Transform(input) => {
            let result = handle(deps, input, invocation).await?;
            Ok(Response::Transformed(Box::new(result)))
        }
        TransformRequest::CleanUp { clean_up } => Ok(Response::CleanedUp(
            clean_up_after(deps, clean_up, invocation).await?,
        )),
    }
}

/// After the transform of `input` failed for good: deletes the files of its attempts that were
/// killed before they finished (the engine takes back its own on any other failure), and says
/// how long to wait for attempts of the same event that Lambda may still be running.
pub async fn clean_up_after<S: ObjectStore>(
    deps: &Deps<S>,
    input: PipelineInput,
    invocation: &Invocation,
) -> Result<CleanUpReport, StageError> {
    let engine = Arc::clone(deps.engine(&input.dataset)?);
    let attempt = Attempt::new(deps, &engine, &input, invocation);
    let deleted = attempt.sweep(deps, &input.dataset).await;
    let (bucket, key) = attempt.manifest();
    let (manifest, _) = manifest::read(&deps.objects, bucket, key).await?;
    let now = millis(SystemTime::now());
    let still_running = manifest
        .iter()
        .flat_map(|m| &m.pending)
        .filter(|p| p.sequencer == input.object.sequencer && p.expires_ms != 0)
        .map(|p| (p.expires_ms + manifest::EXPIRY_GRACE_MS).saturating_sub(now))
        .max()
        .unwrap_or(0);
    // At most one Lambda timeout (15 minutes) and the grace: a bounded wait.
    let wait_seconds = (still_running / 1000 + u64::from(still_running > 0)).min(960);
    info!(dataset = %input.dataset, object = %input.object.uri(), deleted = deleted.len(), wait_seconds, "cleaned up after a failed transform");
    Ok(CleanUpReport {
        deleted,
        wait_seconds,
    })
}

/// Transforms one object as one attempt, and makes its output the generation the table holds for
/// the object's key, unless a later upload of the key is already there (see
/// [`etl_core::manifest`]).
pub async fn handle<S: ObjectStore>(
    deps: &Deps<S>,
    input: PipelineInput,
    invocation: &Invocation,
) -> Result<TransformResult, StageError> {
    let engine = Arc::clone(deps.engine(&input.dataset)?);
    let max_mb = engine.dataset().max_object_mb;
    if !input.removed && input.object.size > max_mb << 20 {
        return Err(StageError::bad_input(format!(
            "{}: {} MiB is more than the dataset's max_object_mb = {max_mb}; nothing was read or written. Split the object into smaller ones, or raise the limit if the function has the time for it.",
            input.object.uri(),
            input.object.size >> 20
        )));
    }
    let attempt = Attempt::new(deps, &engine, &input, invocation);
    if input.removed {
        // Boxed: nested in the handler's future, it took the compiler past its depth limit.
        return Box::pin(attempt.remove(deps, input)).await;
    }
    attempt.sweep(deps, &input.dataset).await;
    let pending = Pending {
        attempt: attempt.id.clone(),
        sequencer: input.object.sequencer.clone(),
        table_prefix: attempt.table.key.clone(),
        stem: attempt.stem.clone(),
        expires_ms: millis(invocation.deadline),
    };
    let object = (input.object.bucket.as_str(), input.object.key.as_str());
    if let Begin::Superseded { by } =
        manifest::begin(&deps.objects, attempt.manifest(), object, &pending).await?
    {
        info!(dataset = %input.dataset, object = %input.object.uri(), superseded_by = ?by, "superseded: a later upload of the key is current");
        return Ok(unchanged(input, Unchanged::Superseded));
    }
    let (summary, left_behind) = attempt.transform(deps, engine, &input).await;
    let summary = match summary {
        Ok(summary) => summary,
        Err(e) => {
            // The engine took its files back. What a failed delete left is tried once more; if
            // some is still there, the attempt is marked dead for the clean-up that follows every
            // failed transform, which finds it by name.
            match left_behind {
                Some(left) if attempt.delete(deps, &left).await.len() == left.len() => {
                    attempt.abandon(deps, &[]).await
                }
                _ => attempt.expire(deps).await,
            }
            return Err(e);
        }
    };
    let summary_key = deps
        .config
        .layout
        .summary_key(&input.dataset, &attempt.stem);
    let body = serde_json::to_vec_pretty(&summary).expect("summary serialises");
    deps.objects
        .put(
            &deps.config.layout.bucket,
            &summary_key,
            body,
            "application/json",
        )
        .await?;
    if summary.quality.threshold_crossed {
        // Its rows never reached the table: what the table held stays. The rejected records and
        // the summary stay for the failure message, until a later upload of the key commits.
        let mut kept = vec![summary_key.clone()];
        if summary.rejected_file.is_some() {
            kept.push(attempt.rejected_key(deps, &input.dataset));
        }
        // Data files whose delete failed are tried once more; what is left goes with the
        // evidence, at the next commit.
        let data_left: Vec<String> = left_behind
            .unwrap_or_default()
            .into_iter()
            .filter(|k| k.starts_with(&attempt.table.key))
            .collect();
        let deleted = attempt.delete(deps, &data_left).await;
        kept.extend(data_left.into_iter().filter(|k| !deleted.contains(k)));
        attempt.abandon(deps, &kept).await;
    } else if !attempt.commit(deps, &input, &summary, &summary_key).await? {
        info!(dataset = %input.dataset, object = %input.object.uri(), "superseded at commit: a later upload of the key was committed first");
        return Ok(unchanged(input, Unchanged::Superseded));
    }
    info!(
        dataset = %input.dataset,
        object = %input.object.uri(),
        records_in = summary.records_in,
        records_written = summary.records_written,
        records_rejected = summary.records_rejected,
        rows_written = summary.rows_written,
        partitions = summary.partitions.len(),
        files = summary.files_written(),
        bytes_written = summary.bytes_written(),
        threshold_crossed = summary.quality.threshold_crossed,
        "transformed"
    );
    Ok(TransformResult {
        dataset: input.dataset.clone(),
        object: input.object.clone(),
        table_location: attempt.table.to_string(),
        summary_uri: deps.config.layout.uri(&summary_key).to_string(),
        records_in: summary.records_in,
        records_written: summary.records_written,
        records_rejected: summary.records_rejected,
        rows_written: summary.rows_written,
        rejected_by_reason: summary.rejected_by_reason.clone(),
        rejected_uri: summary.rejected_file.clone(),
        values_nulled: summary.values_nulled,
        nulled_by_field: summary.nulled_by_field.clone(),
        unknown_fields: most_frequent(&summary.unknown_fields, UNKNOWN_FIELDS_IN_RESULT),
        partitions: summary.partitions.len() as u64,
        files: summary.files_written() as u64,
        bytes_written: summary.bytes_written(),
        threshold_crossed: summary.quality.threshold_crossed,
        superseded: false,
        removed: false,
    })
}

/// Why an event wrote no rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unchanged {
    /// A later upload of the key is what the table holds.
    Superseded,
    /// The object was deleted: its rows were removed (or an older version was deleted).
    Removed,
}

/// Milliseconds since the epoch.
fn millis(at: SystemTime) -> u64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The raw object's bytes until `stop_at`, then an error: the engine then fails the object and
/// takes back what it wrote, in time, instead of being killed mid-upload.
struct Deadline {
    inner: Box<dyn Read + Send>,
    stop_at: SystemTime,
}

impl Read for Deadline {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if SystemTime::now() >= self.stop_at {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the Lambda deadline is near",
            ));
        }
        self.inner.read(buf)
    }
}

/// The result of an event that wrote no rows.
fn unchanged(input: PipelineInput, why: Unchanged) -> TransformResult {
    TransformResult {
        dataset: input.dataset,
        object: input.object,
        table_location: String::new(),
        summary_uri: String::new(),
        records_in: 0,
        records_written: 0,
        records_rejected: 0,
        rows_written: 0,
        rejected_by_reason: Default::default(),
        rejected_uri: None,
        values_nulled: 0,
        nulled_by_field: Default::default(),
        unknown_fields: Default::default(),
        partitions: 0,
        files: 0,
        bytes_written: 0,
        threshold_crossed: false,
        superseded: why == Unchanged::Superseded,
        removed: why == Unchanged::Removed,
    }
}

/// One attempt at one object: where its output goes and what it is named by.
struct Attempt {
    id: String,
    /// When it stops reading, `margin` before the Lambda deadline.
    stop_at: SystemTime,
    margin: Duration,
    /// The object as this attempt names its output.
    source: SourceObject,
    stem: String,
    table: S3Uri,
    manifest_key: String,
    bucket: String,
}

impl Attempt {
    fn new<S>(deps: &Deps<S>, engine: &Engine, input: &PipelineInput, inv: &Invocation) -> Self {
        let layout = &deps.config.layout;
        let o = &input.object;
        let id = layout::attempt_id(&inv.request_id);
        let source = SourceObject {
            bucket: o.bucket.clone(),
            key: o.key.clone(),
            version: o.identity_version().map(String::from),
            attempt: Some(id.clone()),
            created: o.created.clone(),
        };
        let margin = inv.margin();
        Self {
            id,
            stop_at: inv.deadline - margin,
            margin,
            stem: source.file_stem(),
            source,
            table: layout.table_location(engine.dataset()),
            manifest_key: layout.manifest_key(&input.dataset, &o.bucket, &o.key),
            bucket: layout.bucket.clone(),
        }
    }

    fn manifest(&self) -> (&str, &str) {
        (&self.bucket, &self.manifest_key)
    }

    /// Runs the engine on the object, on a blocking thread (it is synchronous and CPU-bound).
    /// Also returns the keys it committed and did not delete since (on a failure, what its
    /// take-back could not delete), `None` when that is not known (the engine panicked).
    async fn transform<S: ObjectStore>(
        &self,
        deps: &Deps<S>,
        engine: Arc<Engine>,
        input: &PipelineInput,
    ) -> (Result<Summary, StageError>, Option<Vec<String>>) {
        let o = &input.object;
        let raw = match deps
            .objects
            .open(&o.bucket, &o.key, o.version_id.as_deref())
            .await
        {
            Ok(raw) => raw,
            Err(e) => return (Err(e.into()), Some(Vec::new())),
        };
        let reader = Deadline {
            inner: raw,
            stop_at: self.stop_at,
        };
        let data = deps
            .objects
            .output_store(&self.table.bucket, &self.table.key);
        let layout = &deps.config.layout;
        let rejected = deps
            .objects
            .output_store(&layout.bucket, layout.rejected_prefix());
        let source = self.source.clone();
        let object_uri = o.uri();
        let (table_prefix, rejected_prefix) =
            (self.table.key.clone(), layout.rejected_prefix().to_string());
        let run = tokio::task::spawn_blocking(move || {
            let (data, rejected) = (Tracked::new(data.as_ref()), Tracked::new(rejected.as_ref()));
            let summary = engine.transform(reader, &source, &data, &rejected);
            let left: Vec<String> = (data
                .left_behind()
                .into_iter()
                .map(|k| format!("{table_prefix}{k}")))
            .chain(
                rejected
                    .left_behind()
                    .into_iter()
                    .map(|k| format!("{rejected_prefix}{k}")),
            )
            .collect();
            (summary, left)
        })
        .await;
        let (summary, left_behind) = match run {
            Ok(run) => run,
            Err(e) => {
                let panicked =
                    StageError::permanent(format!("the transform of {object_uri} panicked: {e}"));
                return (Err(panicked), None);
            }
        };
        let summary = match summary {
            Ok(summary) => Ok(summary),
            Err(_) if SystemTime::now() >= self.stop_at => {
                Err(StageError::permanent(format!(
                    "{object_uri}: stopped {:.1}s before the Lambda deadline and took back what it wrote: the object needs more time than the function has. Split it into smaller objects, or raise the function's memory (more CPU) or timeout, then upload it again.",
                    self.margin.as_secs_f64()
                )))
            }
            Err(e) => Err(e.into()),
        };
        (summary, Some(left_behind))
    }

    /// Makes the attempt's output current and deletes what it replaced; false when a later
    /// upload was committed first (the attempt's own output is then deleted).
    async fn commit<S: ObjectStore>(
        &self,
        deps: &Deps<S>,
        input: &PipelineInput,
        summary: &Summary,
        summary_key: &str,
    ) -> Result<bool, StageError> {
        let o = &input.object;
        let mut keys: Vec<String> = summary
            .partitions
            .iter()
            .flat_map(|p| &p.files)
            .map(|f| format!("{}{}", self.table.key, f.key))
            .collect();
        if summary.rejected_file.is_some() {
            keys.push(self.rejected_key(deps, &input.dataset));
        }
        keys.push(summary_key.to_string());
        let generation = Generation {
            attempt: self.id.clone(),
            version_id: o.version_id.clone(),
            etag: o.etag.clone(),
            sequencer: o.sequencer.clone(),
            keys,
            partitions: summary.partitions.iter().map(|p| p.path.clone()).collect(),
            records_written: summary.records_written,
        };
        let object = (o.bucket.as_str(), o.key.as_str());
        match manifest::commit(&deps.objects, self.manifest(), object, &generation).await? {
            Commit::Committed(committed) => {
                let deleted = self.delete(deps, &committed.garbage).await;
                manifest::collected(&deps.objects, self.manifest(), &deleted).await?;
                info!(object = %o.uri(), replaced = ?committed.replaced.map(|g| g.attempt), deleted = deleted.len(), "committed");
                Ok(true)
            }
            Commit::Superseded { .. } => {
                let deleted = self.delete(deps, &generation.keys).await;
                if deleted.len() < generation.keys.len() {
                    // The next sweep deletes the rest.
                    self.expire(deps).await;
                    return Err(StageError::retryable(format!(
                        "{}: superseded, but {} of its files could not be deleted; retrying",
                        o.uri(),
                        generation.keys.len() - deleted.len()
                    )));
                }
                self.abandon(deps, &[]).await;
                Ok(false)
            }
        }
    }

    /// The object was deleted: its generation gives way to an empty one, and its keys are
    /// deleted, unless a later upload of the key is current.
    async fn remove<S: ObjectStore>(
        &self,
        deps: &Deps<S>,
        input: PipelineInput,
    ) -> Result<TransformResult, StageError> {
        let o = &input.object;
        let tombstone = Generation {
            attempt: self.id.clone(),
            version_id: None,
            etag: None,
            sequencer: o.sequencer.clone(),
            keys: Vec::new(),
            partitions: Vec::new(),
            records_written: 0,
        };
        let object = (o.bucket.as_str(), o.key.as_str());
        let version = o.version_id.as_deref();
        let why = match manifest::remove(
            &deps.objects,
            self.manifest(),
            object,
            &tombstone,
            version,
        )
        .await?
        {
            Remove::Removed(removed) => {
                let deleted = self.delete(deps, &removed.garbage).await;
                manifest::collected(&deps.objects, self.manifest(), &deleted).await?;
                let rows = removed.replaced.map_or(0, |g| g.records_written);
                info!(dataset = %input.dataset, object = %o.uri(), rows, deleted = deleted.len(), "removed the rows of a deleted object");
                Unchanged::Removed
            }
            Remove::NotCurrent => {
                info!(dataset = %input.dataset, object = %o.uri(), version, "an older version was deleted; the table holds another");
                Unchanged::Removed
            }
            Remove::Superseded { by } => {
                info!(dataset = %input.dataset, object = %o.uri(), superseded_by = ?by, "delete superseded: a later upload of the key is current");
                Unchanged::Superseded
            }
        };
        Ok(unchanged(input, why))
    }

    /// Deletes the files of the key's attempts that were killed before they committed or gave up
    /// (their deadline long past) and forgets them. Best effort: what is left is found again by
    /// the key's next attempt.
    async fn sweep<S: ObjectStore>(&self, deps: &Deps<S>, dataset: &str) -> Vec<String> {
        let (bucket, key) = self.manifest();
        let manifest = match manifest::read(&deps.objects, bucket, key).await {
            Ok((Some(m), _)) => m,
            Ok((None, _)) => return Vec::new(),
            Err(e) => {
                warn!(manifest = key, error = %e, "could not read the manifest to sweep it");
                return Vec::new();
            }
        };
        let dead = manifest.expired(millis(SystemTime::now()));
        if dead.is_empty() {
            return Vec::new();
        }
        let layout = &deps.config.layout;
        let mut swept = Vec::new();
        let mut all_deleted = Vec::new();
        for attempt in dead {
            let Ok(listed) = deps.objects.list(bucket, &attempt.table_prefix).await else {
                continue;
            };
            let data_file = format!("part-{}-", attempt.stem);
            let mut keys: Vec<String> = listed
                .into_iter()
                .map(|o| o.key)
                .filter(|k| {
                    k.rsplit('/')
                        .next()
                        .is_some_and(|name| name.starts_with(&data_file))
                })
                .collect();
            for key in [
                layout.rejected_key(dataset, &attempt.stem),
                layout.summary_key(dataset, &attempt.stem),
            ] {
                // Only what is there, so the report counts files that were deleted.
                match deps.objects.list(bucket, &key).await {
                    Ok(listed) if listed.iter().any(|o| o.key == key) => keys.push(key),
                    Ok(_) => {}
                    // Deleting a key that is not there is harmless.
                    Err(_) => keys.push(key),
                }
            }
            let deleted = self.delete(deps, &keys).await;
            info!(manifest = key, attempt = %attempt.attempt, deleted = deleted.len(), "swept the files of an attempt killed before it finished");
            if deleted.len() == keys.len() {
                swept.push(attempt.attempt);
            }
            all_deleted.extend(deleted);
        }
        if let Err(e) = manifest::forget(&deps.objects, self.manifest(), &swept).await {
            warn!(manifest = key, error = %e, "could not forget the swept attempts");
        }
        all_deleted
    }

    /// Deletes `keys` from the curated bucket; returns those deleted.
    async fn delete<S: ObjectStore>(&self, deps: &Deps<S>, keys: &[String]) -> Vec<String> {
        let mut deleted = Vec::with_capacity(keys.len());
        for key in keys {
            match deps.objects.delete(&self.bucket, key).await {
                Ok(()) => deleted.push(key.clone()),
                Err(e) => {
                    warn!(key, error = %e, "could not delete; the next commit of the key tries again")
                }
            }
        }
        deleted
    }

    /// The key of this attempt's rejected-records file.
    fn rejected_key<S>(&self, deps: &Deps<S>, dataset: &str) -> String {
        deps.config.layout.rejected_key(dataset, &self.stem)
    }

    /// Leaves the manifest's pending list, `kept` left for the key's next commit to delete
    /// (best effort: a stale entry only names files that are already gone).
    async fn abandon<S: ObjectStore>(&self, deps: &Deps<S>, kept: &[String]) {
        if let Err(e) = manifest::abandon(&deps.objects, self.manifest(), &self.id, kept).await {
            warn!(manifest = %self.manifest_key, error = %e, "could not leave the pending list");
        }
    }

    /// Marks the attempt dead for the next sweep (best effort: otherwise its deadline does).
    async fn expire<S: ObjectStore>(&self, deps: &Deps<S>) {
        if let Err(e) = manifest::expire(&deps.objects, self.manifest(), &self.id).await {
            warn!(manifest = %self.manifest_key, error = %e, "could not mark the attempt dead");
        }
    }
}

#[cfg(test)]
mod tests;
