//! The store's behaviour, the same on both implementations: `MemoryStore` and `EtcdStore`
//! against a private etcd (`EtcdProcess`, Debian's `/usr/bin/etcd`). The etcd cases fail when
//! the binary is missing, unless `PODCHECK_SKIP_REAL=1`.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use podcheck_controlplane::store::{
    DEFAULT_ETCD_BINARY, EtcdProcess, MemoryStore, Store, StoreError, WatchCache, WatchEvent,
    WatchStream,
};
use rstest::rstest;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Memory,
    Etcd,
    /// etcd behind the apiserver's watch cache.
    CachedEtcd,
}

/// A store under test; for etcd, the server that holds it (stopped on drop).
struct Fixture {
    store: Box<dyn Store>,
    _etcd: Option<EtcdProcess>,
}

impl Fixture {
    /// `None`: the etcd case is skipped on purpose (`PODCHECK_SKIP_REAL=1`, no etcd).
    async fn new(kind: Kind) -> Option<Fixture> {
        match kind {
            Kind::Memory => Some(Fixture {
                store: Box::new(MemoryStore::new()),
                _etcd: None,
            }),
            Kind::Etcd | Kind::CachedEtcd => {
                let etcd = start_etcd().await?;
                let store = etcd.connect().await.expect("connect to etcd");
                let store: Box<dyn Store> = match kind {
                    Kind::CachedEtcd => Box::new(
                        WatchCache::new(std::sync::Arc::new(store))
                            .await
                            .expect("the watch cache starts"),
                    ),
                    _ => Box::new(store),
                };
                Some(Fixture {
                    store,
                    _etcd: Some(etcd),
                })
            }
        }
    }
}

/// Starts a private etcd, or fails with what to do when the binary is missing.
async fn start_etcd() -> Option<EtcdProcess> {
    if !Path::new(DEFAULT_ETCD_BINARY).is_file() {
        if std::env::var("PODCHECK_SKIP_REAL").as_deref() == Ok("1") {
            eprintln!("PODCHECK_SKIP_REAL=1 and no {DEFAULT_ETCD_BINARY}: skipping the etcd case");
            return None;
        }
        panic!(
            "{DEFAULT_ETCD_BINARY} is missing: install it (apt-get install -y etcd-server; \
             .ci/run does) or set PODCHECK_SKIP_REAL=1 to skip tests on real components"
        );
    }
    let etcd = EtcdProcess::start().await.expect("start etcd");
    eprintln!("etcd {} ready in {:?}", etcd.endpoint(), etcd.started_in());
    Some(etcd)
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// The next `n` events of a watch, within a deadline.
async fn next_events(w: &mut WatchStream, n: usize) -> Vec<WatchEvent> {
    tokio::time::timeout(Duration::from_secs(10), w.take(n).collect::<Vec<_>>())
        .await
        .expect("watch events within 10 s")
        .into_iter()
        .map(|e| e.expect("a watch event"))
        .collect()
}

#[rstest]
#[case::memory(Kind::Memory)]
#[case::etcd(Kind::Etcd)]
#[case::cached_etcd(Kind::CachedEtcd)]
#[tokio::test]
async fn create_is_if_absent_and_revisions_rise(#[case] kind: Kind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let s = &f.store;
    assert_eq!(
        s.revision().await.unwrap(),
        1,
        "an empty store is at revision 1"
    );
    let a = s.create("/registry/pods/ns/a", b("1")).await.unwrap();
    assert_eq!(a.mod_revision, 2);
    assert_eq!(a.create_revision, 2);
    assert!(matches!(
        s.create("/registry/pods/ns/a", b("2")).await,
        Err(StoreError::AlreadyExists { .. })
    ));
    let b2 = s.create("/registry/pods/ns/b", b("1")).await.unwrap();
    assert_eq!(b2.mod_revision, 3);
    assert_eq!(s.revision().await.unwrap(), 3);
    assert_eq!(s.get("/registry/pods/ns/a").await.unwrap(), Some(a));
    assert_eq!(s.get("/registry/pods/ns/zz").await.unwrap(), None);
}

#[rstest]
#[case::memory(Kind::Memory)]
#[case::etcd(Kind::Etcd)]
#[case::cached_etcd(Kind::CachedEtcd)]
#[tokio::test]
async fn update_is_compare_and_swap(#[case] kind: Kind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let s = &f.store;
    let a = s.create("/k", b("1")).await.unwrap();
    let a2 = s.update("/k", b("2"), a.mod_revision).await.unwrap();
    assert_eq!(a2.create_revision, a.mod_revision);
    assert_eq!(a2.mod_revision, a.mod_revision + 1);
    assert_eq!(a2.value, b("2"));
    let stale = s.update("/k", b("3"), a.mod_revision).await;
    assert!(
        matches!(stale, Err(StoreError::Conflict { actual, expected, .. })
            if actual == a2.mod_revision && expected == a.mod_revision),
        "{stale:?}"
    );
    assert!(matches!(
        s.update("/missing", b("3"), 1).await,
        Err(StoreError::NotFound { .. })
    ));
    // A missing key's mod revision is 0 in etcd: CAS on 0 must not create it.
    assert!(matches!(
        s.update("/missing", b("3"), 0).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(s.get("/missing").await.unwrap(), None);
    assert_eq!(s.get("/k").await.unwrap(), Some(a2));
}

#[rstest]
#[case::memory(Kind::Memory)]
#[case::etcd(Kind::Etcd)]
#[case::cached_etcd(Kind::CachedEtcd)]
#[tokio::test]
async fn delete_is_compare_and_swap_and_returns_the_last_value(#[case] kind: Kind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let s = &f.store;
    let a = s.create("/d/a", b("1")).await.unwrap();
    let a2 = s.update("/d/a", b("2"), a.mod_revision).await.unwrap();
    assert!(matches!(
        s.delete("/d/a", Some(a.mod_revision)).await,
        Err(StoreError::Conflict { actual, .. }) if actual == a2.mod_revision
    ));
    let (prev, rev) = s.delete("/d/a", Some(a2.mod_revision)).await.unwrap();
    assert_eq!(prev, a2);
    assert_eq!(rev, a2.mod_revision + 1);
    assert_eq!(s.get("/d/a").await.unwrap(), None);
    assert!(matches!(
        s.delete("/d/a", None).await,
        Err(StoreError::NotFound { .. })
    ));
    let c = s.create("/d/a", b("again")).await.unwrap();
    assert_eq!(c.create_revision, rev + 1, "a re-created key starts afresh");
    let (prev, _) = s.delete("/d/a", None).await.unwrap();
    assert_eq!(prev.value, b("again"));
}

#[rstest]
#[case::memory(Kind::Memory)]
#[case::etcd(Kind::Etcd)]
#[case::cached_etcd(Kind::CachedEtcd)]
#[tokio::test]
async fn list_at_a_past_revision_sees_the_past(#[case] kind: Kind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let s = &f.store;
    let a = s.create("/registry/pods/ns/a", b("1")).await.unwrap();
    s.update("/registry/pods/ns/a", b("2"), a.mod_revision)
        .await
        .unwrap();
    s.create("/registry/pods/other/x", b("x")).await.unwrap();
    s.create("/registry/nodes/n", b("n")).await.unwrap();
    // Not under the prefix, though it shares its characters but the last.
    s.create("/registry/pods0", b("no")).await.unwrap();
    let past = s
        .list("/registry/pods/ns/", Some(a.mod_revision))
        .await
        .unwrap();
    assert_eq!(past.revision, a.mod_revision);
    assert_eq!(past.items.len(), 1);
    assert_eq!(past.items[0].value, b("1"));
    let now = s.list("/registry/pods/", None).await.unwrap();
    assert_eq!(now.revision, s.revision().await.unwrap());
    assert_eq!(now.items.len(), 2);
    assert_eq!(now.items[0].value, b("2"));
    assert_eq!(now.items[1].key, "/registry/pods/other/x");
    let all = s.list("", None).await.unwrap();
    assert_eq!(all.items.len(), 4);
    let future = now.revision + 10;
    assert!(matches!(
        s.list("/registry/", Some(future)).await,
        Err(StoreError::FutureRevision { requested, current })
            if requested == future && current == now.revision
    ));
}

#[rstest]
#[case::memory(Kind::Memory)]
#[case::etcd(Kind::Etcd)]
#[case::cached_etcd(Kind::CachedEtcd)]
#[tokio::test]
async fn watch_replays_history_then_follows_live_writes(#[case] kind: Kind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let s = &f.store;
    let a = s.create("/p/a", b("1")).await.unwrap();
    s.create("/q/z", b("z")).await.unwrap();
    let mut w = s.watch("/p/", 1).await.unwrap();
    s.update("/p/a", b("2"), a.mod_revision).await.unwrap();
    s.delete("/p/a", None).await.unwrap();
    let events = next_events(&mut w, 3).await;
    match &events[0] {
        WatchEvent::Put { kv, prev: None } => assert_eq!(kv.value, b("1")),
        other => panic!("expected the create, got {other:?}"),
    }
    match &events[1] {
        WatchEvent::Put { kv, prev: Some(p) } => {
            assert_eq!(kv.value, b("2"));
            assert_eq!(p.value, b("1"));
            assert_eq!(p.mod_revision, a.mod_revision);
        }
        other => panic!("expected the update with its previous value, got {other:?}"),
    }
    match &events[2] {
        WatchEvent::Delete { prev, revision } => {
            assert_eq!(prev.value, b("2"));
            assert_eq!(*revision, s.revision().await.unwrap());
        }
        other => panic!("expected the delete, got {other:?}"),
    }
    assert!(events.iter().all(|e| e.key() == "/p/a"));
    assert!(events.windows(2).all(|w| w[0].revision() < w[1].revision()));

    // A watch from now sees only what comes next.
    let now = s.revision().await.unwrap();
    let mut live = s.watch("/p/", now).await.unwrap();
    s.create("/q/ignored", b("-")).await.unwrap();
    let n = s.create("/p/n", b("new")).await.unwrap();
    let events = next_events(&mut live, 1).await;
    assert_eq!(events[0], WatchEvent::Put { kv: n, prev: None });
}

#[rstest]
#[case::memory(Kind::Memory)]
#[case::etcd(Kind::Etcd)]
#[case::cached_etcd(Kind::CachedEtcd)]
#[tokio::test]
async fn compaction_expires_old_revisions_but_keeps_live_keys(#[case] kind: Kind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let s = &f.store;
    let a = s.create("/p/a", b("1")).await.unwrap();
    let a2 = s.update("/p/a", b("2"), a.mod_revision).await.unwrap();
    s.create("/p/gone", b("g")).await.unwrap();
    s.delete("/p/gone", None).await.unwrap();
    let now = s.revision().await.unwrap();
    s.compact(now).await.unwrap();
    // Compacting again, or to an older revision, is no error; to a future one is.
    s.compact(now).await.unwrap();
    s.compact(a.mod_revision).await.unwrap();
    assert!(matches!(
        s.compact(now + 5).await,
        Err(StoreError::FutureRevision { .. })
    ));
    assert!(matches!(
        s.watch("/p/", a.mod_revision).await,
        Err(StoreError::Compacted { .. })
    ));
    assert!(matches!(
        s.list("/p/", Some(a.mod_revision)).await,
        Err(StoreError::Compacted { .. })
    ));
    let listing = s.list("/p/", None).await.unwrap();
    assert_eq!(listing.items.len(), 1);
    assert_eq!(listing.items[0].mod_revision, a2.mod_revision);
    assert_eq!(
        s.list("/p/", Some(now)).await.unwrap().items,
        listing.items,
        "the compaction revision itself can still be read"
    );
    let mut w = s.watch("/p/", now).await.unwrap();
    let later = s.update("/p/a", b("3"), a2.mod_revision).await.unwrap();
    let events = next_events(&mut w, 1).await;
    assert!(
        matches!(&events[0], WatchEvent::Put { kv, prev: Some(p) } if *kv == later && p.value == b("2"))
    );
}

#[rstest]
#[case::memory(Kind::Memory)]
#[case::etcd(Kind::Etcd)]
#[case::cached_etcd(Kind::CachedEtcd)]
#[tokio::test]
async fn watch_and_list_from_a_compacted_revision_name_the_compaction(#[case] kind: Kind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let s = &f.store;
    for i in 0..5 {
        s.create(&format!("/c/{i}"), b("v")).await.unwrap();
    }
    let compacted = s.revision().await.unwrap() - 1;
    s.compact(compacted).await.unwrap();
    for after in [1, 2, compacted - 1] {
        match s.watch("/c/", after).await {
            Err(StoreError::Compacted {
                requested,
                compacted: c,
            }) => {
                assert_eq!(requested, after);
                assert_eq!(c, compacted);
            }
            Err(e) => panic!("watch after {after}: expected Compacted, got {e}"),
            Ok(_) => panic!("watch after {after}: expected Compacted, got a stream"),
        }
        match s.list("/c/", Some(after)).await {
            Err(StoreError::Compacted {
                requested,
                compacted: c,
            }) => {
                assert_eq!(requested, after);
                assert_eq!(c, compacted);
            }
            other => panic!("list at {after}: expected Compacted, got {other:?}"),
        }
    }
    // From the compaction revision on, history is whole.
    let mut w = s.watch("/c/", compacted).await.unwrap();
    let events = next_events(&mut w, 1).await;
    assert_eq!(events[0].key(), "/c/4");
}

#[rstest]
#[case::memory(Kind::Memory)]
#[case::etcd(Kind::Etcd)]
#[case::cached_etcd(Kind::CachedEtcd)]
#[tokio::test]
async fn provider_says_which_store_it_is(#[case] kind: Kind) {
    let Some(f) = Fixture::new(kind).await else {
        return;
    };
    let p = f.store.provider();
    match kind {
        Kind::Memory => assert_eq!((p.name, p.real), ("memory", false)),
        Kind::Etcd | Kind::CachedEtcd => {
            assert_eq!((p.name, p.real), ("etcd", true));
            assert!(p.version.starts_with("3."), "etcd version {:?}", p.version);
        }
    }
}

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test]
async fn etcd_process_leaves_nothing_after_shutdown() {
    let Some(etcd) = start_etcd().await else {
        return;
    };
    let (pid, dir) = (etcd.pid(), etcd.dir().to_path_buf());
    assert!(process_exists(pid));
    assert!(dir.join("data").is_dir(), "data dir {}", dir.display());
    if Path::new("/dev/shm").is_dir() {
        assert!(
            dir.starts_with("/dev/shm"),
            "data on tmpfs: {}",
            dir.display()
        );
    }
    let store = etcd.connect().await.unwrap();
    store.create("/x", b("1")).await.unwrap();
    etcd.shutdown().await;
    assert!(
        !process_exists(pid),
        "etcd {pid} still exists after shutdown"
    );
    assert!(
        !dir.exists(),
        "{} still exists after shutdown",
        dir.display()
    );
    // The client notices the server is gone, within its deadline.
    assert!(matches!(
        store.get("/x").await,
        Err(StoreError::Backend { .. })
    ));
}

#[tokio::test]
async fn etcd_process_leaves_nothing_after_drop() {
    let Some(etcd) = start_etcd().await else {
        return;
    };
    let (pid, dir) = (etcd.pid(), etcd.dir().to_path_buf());
    let store = etcd.connect().await.unwrap();
    let mut w = store.watch("/", 1).await.unwrap();
    drop(etcd);
    assert!(!process_exists(pid), "etcd {pid} still exists after drop");
    assert!(!dir.exists(), "{} still exists after drop", dir.display());
    // An open watch ends with an error rather than hanging.
    let end = tokio::time::timeout(Duration::from_secs(20), w.next())
        .await
        .expect("the watch ends once etcd is gone");
    assert!(
        matches!(end, Some(Err(StoreError::Backend { .. }))),
        "{end:?}"
    );
}

#[tokio::test]
async fn etcd_process_reports_a_missing_binary() {
    let err = EtcdProcess::start_with("/nonexistent/etcd")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/etcd"), "{err}");
}
