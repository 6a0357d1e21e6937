use std::future::Future;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::Arc;

use super::*;
use crate::output::OutputStore;
use crate::ports::local::LocalObjects;
use crate::ports::Tagged;

/// Runs a future of the local adapter, which never waits.
fn now<T>(f: impl Future<Output = T>) -> T {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("the local adapter does not wait"),
    }
}

const AT: (&str, &str) = ("curated", "manifests/d/k.json");
const SOURCE: (&str, &str) = ("raw", "iot/a.json");

fn generation(attempt: &str, sequencer: Option<&str>) -> Generation {
    Generation {
        attempt: attempt.into(),
        version_id: None,
        etag: Some("e".into()),
        sequencer: sequencer.map(String::from),
        keys: vec![
            format!("tables/d/t/p=1/part-x-{attempt}-00000.parquet"),
            format!("summaries/d/x-{attempt}.json"),
        ],
        partitions: vec!["p=1/".into()],
        records_written: 1,
    }
}

fn pending(attempt: &str, sequencer: Option<&str>) -> Pending {
    Pending {
        attempt: attempt.into(),
        sequencer: sequencer.map(String::from),
        table_prefix: "tables/d/t/".into(),
        stem: format!("x-{attempt}"),
        expires_ms: 1_000_000,
    }
}

fn current(store: &impl ObjectStore) -> Manifest {
    now(read(store, AT.0, AT.1)).unwrap().0.unwrap()
}

#[test]
fn sequencers_compare_as_s3_documents() {
    use Ordering::*;
    let order = |a, b| sequencer_order(Some(a), Some(b));
    assert_eq!(
        order("0055AED6DCD90281E5", "0055AED6DCD90281E6"),
        Some(Less)
    );
    assert_eq!(
        order("0055AED6DCD90281E5", "0055aed6dcd90281e5"),
        Some(Equal)
    );
    // The shorter is right-padded: "01" is "0100" against "0011".
    assert_eq!(order("01", "0011"), Some(Greater));
    assert_eq!(order("0A", "0A00"), Some(Equal));
    assert_eq!(sequencer_order(None, Some("01")), None);
    assert_eq!(sequencer_order(Some("01"), None), None);
}

#[test]
fn a_new_version_replaces_the_current_generation() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalObjects::new(dir.path());
    let v1 = generation("a1", Some("0010"));
    assert_eq!(
        now(begin(&store, AT, SOURCE, &pending("a1", Some("0010")))).unwrap(),
        Begin::Proceed
    );
    assert_eq!(current(&store).pending, [pending("a1", Some("0010"))]);
    let Commit::Committed(first) = now(commit(&store, AT, SOURCE, &v1)).unwrap() else {
        panic!("the first generation commits")
    };
    assert_eq!(first.replaced, None);
    assert!(first.garbage.is_empty());
    let m = current(&store);
    assert_eq!((m.bucket.as_str(), m.key.as_str()), SOURCE);
    assert_eq!(m.current, Some(v1.clone()));
    assert!(m.pending.is_empty());

    let v2 = generation("a2", Some("0020"));
    now(begin(&store, AT, SOURCE, &pending("a2", Some("0020")))).unwrap();
    let Commit::Committed(second) = now(commit(&store, AT, SOURCE, &v2)).unwrap() else {
        panic!("a later event commits")
    };
    assert_eq!(second.replaced, Some(v1.clone()));
    let mut old_keys = v1.keys.clone();
    old_keys.sort();
    assert_eq!(second.garbage, old_keys);
    assert_eq!(
        current(&store).garbage,
        old_keys,
        "listed in the same write"
    );
    assert_eq!(current(&store).current, Some(v2.clone()));

    // The committer stopped before deleting: the next commit gets the keys to delete too.
    let v3 = generation("a3", Some("0030"));
    let Commit::Committed(third) = now(commit(&store, AT, SOURCE, &v3)).unwrap() else {
        panic!("a later event commits")
    };
    let mut both: Vec<String> = v1.keys.iter().chain(&v2.keys).cloned().collect();
    both.sort();
    assert_eq!(third.garbage, both);
    now(collected(&store, AT, &third.garbage)).unwrap();
    assert!(current(&store).garbage.is_empty());
    assert_eq!(current(&store).current, Some(v3));
}

#[test]
fn a_late_event_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalObjects::new(dir.path());
    let v2 = generation("a2", Some("0020"));
    now(commit(&store, AT, SOURCE, &v2)).unwrap();
    let before = current(&store);
    assert_eq!(
        now(begin(&store, AT, SOURCE, &pending("a1", Some("0010")))).unwrap(),
        Begin::Superseded {
            by: Some("0020".into())
        }
    );
    assert_eq!(current(&store), before, "a superseded begin writes nothing");
    // One that began before v2 committed is turned away at its commit.
    assert_eq!(
        now(commit(&store, AT, SOURCE, &generation("a1", Some("0010")))).unwrap(),
        Commit::Superseded {
            by: Some("0020".into())
        }
    );
    assert_eq!(current(&store), before);
}

#[test]
fn the_same_event_again_and_runs_by_hand_replace() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalObjects::new(dir.path());
    now(commit(&store, AT, SOURCE, &generation("a1", Some("0010")))).unwrap();
    // Reprocessing the same version (after a definition was fixed) replaces it.
    let again = generation("a2", Some("0010"));
    assert_eq!(
        now(begin(&store, AT, SOURCE, &pending("a2", Some("0010")))).unwrap(),
        Begin::Proceed
    );
    assert!(matches!(
        now(commit(&store, AT, SOURCE, &again)).unwrap(),
        Commit::Committed(_)
    ));
    // An execution started by hand has no sequencer: it replaces whatever is current.
    let by_hand = generation("a3", None);
    assert!(matches!(
        now(commit(&store, AT, SOURCE, &by_hand)).unwrap(),
        Commit::Committed(Committed { replaced: Some(g), .. }) if g == again
    ));
}

/// A store that lets a competitor write the manifest right before our first conditional write,
/// as another attempt of the same key would between our read and our write.
struct Interfering<F: Fn(&LocalObjects)> {
    inner: LocalObjects,
    competitor: F,
    done: AtomicBool,
}

impl<F: Fn(&LocalObjects) + Send + Sync> ObjectStore for Interfering<F> {
    async fn open(
        &self,
        b: &str,
        k: &str,
        v: Option<&str>,
    ) -> Result<Box<dyn Read + Send>, PortError> {
        self.inner.open(b, k, v).await
    }
    async fn get(&self, b: &str, k: &str) -> Result<Vec<u8>, PortError> {
        self.inner.get(b, k).await
    }
    fn output_store(&self, b: &str, p: &str) -> Box<dyn OutputStore> {
        self.inner.output_store(b, p)
    }
    async fn put(&self, b: &str, k: &str, body: Vec<u8>, t: &str) -> Result<(), PortError> {
        self.inner.put(b, k, body, t).await
    }
    async fn get_tagged(&self, b: &str, k: &str) -> Result<Option<Tagged>, PortError> {
        self.inner.get_tagged(b, k).await
    }
    async fn put_if(
        &self,
        b: &str,
        k: &str,
        body: Vec<u8>,
        p: &Precondition,
    ) -> Result<bool, PortError> {
        if !self.done.swap(true, AtomicOrdering::SeqCst) {
            (self.competitor)(&self.inner);
        }
        self.inner.put_if(b, k, body, p).await
    }
    async fn list(&self, b: &str, p: &str) -> Result<Vec<crate::ports::Listed>, PortError> {
        self.inner.list(b, p).await
    }
    async fn delete(&self, b: &str, k: &str) -> Result<(), PortError> {
        self.inner.delete(b, k).await
    }
}

fn interfering(
    dir: &std::path::Path,
    competitor: impl Fn(&LocalObjects) + Send + Sync,
) -> Interfering<impl Fn(&LocalObjects) + Send + Sync> {
    Interfering {
        inner: LocalObjects::new(dir),
        competitor,
        done: AtomicBool::new(false),
    }
}

#[test]
fn the_losing_side_of_a_conditional_write_reads_again_and_decides_again() {
    // A later event commits between our read and our write: we are superseded.
    let dir = tempfile::tempdir().unwrap();
    let store = interfering(dir.path(), |s| {
        now(commit(s, AT, SOURCE, &generation("later", Some("0030")))).unwrap();
    });
    let ours = generation("ours", Some("0020"));
    assert_eq!(
        now(commit(&store, AT, SOURCE, &ours)).unwrap(),
        Commit::Superseded {
            by: Some("0030".into())
        }
    );
    assert_eq!(current(&store.inner).current.unwrap().attempt, "later");

    // An earlier event commits in between: ours still wins, and replaces it.
    let dir = tempfile::tempdir().unwrap();
    let store = interfering(dir.path(), |s| {
        now(commit(s, AT, SOURCE, &generation("earlier", Some("0010")))).unwrap();
    });
    let Commit::Committed(c) = now(commit(&store, AT, SOURCE, &ours)).unwrap() else {
        panic!("the later event wins")
    };
    assert_eq!(c.replaced.unwrap().attempt, "earlier");
    assert_eq!(current(&store.inner).current, Some(ours.clone()));

    // A competitor creates the manifest first: `If-None-Match` fails, the update merges.
    let dir = tempfile::tempdir().unwrap();
    let store = interfering(dir.path(), |s| {
        now(begin(s, AT, SOURCE, &pending("other", Some("0040")))).unwrap();
    });
    assert_eq!(
        now(begin(&store, AT, SOURCE, &pending("ours", Some("0020")))).unwrap(),
        Begin::Proceed
    );
    let attempts: Vec<String> = current(&store.inner)
        .pending
        .into_iter()
        .map(|p| p.attempt)
        .collect();
    assert_eq!(attempts, ["other", "ours"]);
}

#[test]
fn racing_attempts_leave_exactly_the_latest_event_current() {
    for round in 0..20u32 {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(LocalObjects::new(dir.path()));
        // Eight attempts of five events (duplicates included), in a shuffled order.
        let sequencers: Vec<String> = (0..8u32)
            .map(|i| format!("{:04X}", (i * 7 + round) % 5 + 1))
            .collect();
        let threads: Vec<_> = sequencers
            .iter()
            .enumerate()
            .map(|(i, seq)| {
                let store = Arc::clone(&store);
                let seq = seq.clone();
                std::thread::spawn(move || {
                    let attempt = format!("a{i}");
                    let begun = now(begin(&*store, AT, SOURCE, &pending(&attempt, Some(&seq))));
                    if begun.unwrap() != Begin::Proceed {
                        return (attempt, None);
                    }
                    let g = generation(&attempt, Some(&seq));
                    let committed = now(commit(&*store, AT, SOURCE, &g)).unwrap();
                    if let Commit::Superseded { .. } = committed {
                        // Its own files deleted, the attempt leaves the pending list.
                        now(abandon(&*store, AT, &attempt, &[])).unwrap();
                    }
                    (attempt, Some(committed))
                })
            })
            .collect();
        let outcomes: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let m = current(&*store);
        let winner = m.current.expect("one generation is current");
        let latest = sequencers.iter().max().unwrap();
        assert_eq!(winner.sequencer.as_ref(), Some(latest), "round {round}");
        assert!(m.pending.is_empty(), "round {round}: {:?}", m.pending);
        // Every other committed generation was replaced by exactly one later commit, so each
        // one's files are deleted exactly once; the superseded ones delete their own.
        let mut replaced: Vec<String> = outcomes
            .iter()
            .filter_map(|(_, c)| match c {
                Some(Commit::Committed(c)) => c.replaced.as_ref().map(|g| g.attempt.clone()),
                _ => None,
            })
            .collect();
        let mut committed: Vec<String> = outcomes
            .iter()
            .filter(|(_, c)| matches!(c, Some(Commit::Committed(_))))
            .map(|(a, _)| a.clone())
            .filter(|a| *a != winner.attempt)
            .collect();
        replaced.sort();
        committed.sort();
        assert_eq!(replaced, committed, "round {round}");
    }
}

fn tombstone(attempt: &str, sequencer: &str) -> Generation {
    Generation {
        keys: Vec::new(),
        partitions: Vec::new(),
        records_written: 0,
        ..generation(attempt, Some(sequencer))
    }
}

#[test]
fn a_delete_removes_the_current_generation_and_stays_ordered() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalObjects::new(dir.path());
    let mut v1 = generation("a1", Some("0010"));
    v1.version_id = Some("v1".into());
    now(commit(&store, AT, SOURCE, &v1)).unwrap();
    // Deleting an older version (not the one the table holds) changes nothing.
    assert_eq!(
        now(remove(
            &store,
            AT,
            SOURCE,
            &tombstone("d0", "0011"),
            Some("v0")
        ))
        .unwrap(),
        Remove::NotCurrent
    );
    let Remove::Removed(removed) =
        now(remove(&store, AT, SOURCE, &tombstone("d1", "0020"), None)).unwrap()
    else {
        panic!("a delete marker removes the rows")
    };
    let mut keys = v1.keys.clone();
    keys.sort();
    assert_eq!(removed.garbage, keys);
    assert_eq!(removed.replaced, Some(v1));
    // An upload older than the delete, whose event comes late, is superseded.
    assert_eq!(
        now(begin(&store, AT, SOURCE, &pending("late", Some("0015")))).unwrap(),
        Begin::Superseded {
            by: Some("0020".into())
        }
    );
    // A delete older than the current upload changes nothing.
    now(commit(&store, AT, SOURCE, &generation("a2", Some("0030")))).unwrap();
    assert!(matches!(
        now(remove(&store, AT, SOURCE, &tombstone("d2", "0025"), None)).unwrap(),
        Remove::Superseded { .. }
    ));
}

#[test]
fn attempts_are_dead_only_well_after_their_deadline() {
    let m = Manifest {
        pending: vec![
            pending("killed", None),
            Pending {
                expires_ms: 0,
                ..pending("unknown", None)
            },
        ],
        ..Manifest::default()
    };
    assert!(m.expired(1_000_000 + EXPIRY_GRACE_MS).is_empty());
    let dead: Vec<String> = m
        .expired(1_000_001 + EXPIRY_GRACE_MS)
        .into_iter()
        .map(|p| p.attempt)
        .collect();
    assert_eq!(
        dead,
        ["killed"],
        "an attempt without a deadline is never presumed dead"
    );
}

#[test]
fn an_abandoned_attempt_leaves_the_pending_list_and_what_it_kept_to_the_next_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalObjects::new(dir.path());
    now(begin(&store, AT, SOURCE, &pending("a1", Some("0010")))).unwrap();
    now(begin(&store, AT, SOURCE, &pending("a2", Some("0011")))).unwrap();
    let kept = ["rejected/d/rejected-a1.jsonl".to_string()];
    now(abandon(&store, AT, "a1", &kept)).unwrap();
    assert_eq!(current(&store).pending, [pending("a2", Some("0011"))]);
    assert_eq!(current(&store).garbage, kept);
    // Abandoning what is not pending writes nothing.
    now(abandon(&store, AT, "a1", &["other".to_string()])).unwrap();
    assert_eq!(current(&store).garbage, kept);
    now(abandon(
        &store,
        ("curated", "manifests/d/none.json"),
        "a1",
        &[],
    ))
    .unwrap();
    assert!(!dir.path().join("curated/manifests/d/none.json").exists());
    // The next commit deletes what the quality-failed attempt kept.
    let Commit::Committed(c) =
        now(commit(&store, AT, SOURCE, &generation("a2", Some("0011")))).unwrap()
    else {
        panic!("a2 commits");
    };
    assert_eq!(c.garbage, kept);
}

#[test]
fn an_expired_attempt_is_dead_at_once_and_swept_like_a_killed_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalObjects::new(dir.path());
    let mut running = pending("a1", Some("0010"));
    running.expires_ms = u64::MAX - EXPIRY_GRACE_MS;
    now(begin(&store, AT, SOURCE, &running)).unwrap();
    assert!(current(&store).expired(1_000_000).is_empty(), "running");
    now(expire(&store, AT, "a1")).unwrap();
    let dead = current(&store).expired(EXPIRY_GRACE_MS + EXPIRED_MS + 1);
    assert_eq!(dead.len(), 1, "dead as soon as the clocks can agree");
    assert_eq!(dead[0].stem, running.stem, "its files can still be found");
    // Expiring what is not pending, or twice, writes nothing.
    let before = now(store.get_tagged(AT.0, AT.1)).unwrap().unwrap().etag;
    now(expire(&store, AT, "a1")).unwrap();
    now(expire(&store, AT, "other")).unwrap();
    assert_eq!(
        now(store.get_tagged(AT.0, AT.1)).unwrap().unwrap().etag,
        before
    );
}

#[test]
fn a_corrupt_manifest_is_named_and_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalObjects::new(dir.path());
    now(store.put(AT.0, AT.1, b"{not json".to_vec(), "application/json")).unwrap();
    let err = now(begin(&store, AT, SOURCE, &pending("a1", None))).unwrap_err();
    assert!(!err.is_retryable());
    assert!(
        err.to_string()
            .starts_with("s3://curated/manifests/d/k.json is not a manifest"),
        "{err}"
    );
}
