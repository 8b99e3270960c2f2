use portcullis_application::ports::{
    ConfirmedContent, FileRepository, FileRepositoryError, Outbox, OutboxMessage, UserRepository,
};
use portcullis_domain::files::{ContentDigest, FileRecord, FileStatus, FileSummary, FileType, Sheet};
use portcullis_domain::ids::{FileId, UserId};
use std::sync::Arc;
use time::OffsetDateTime;

/// The repository under test, the accounts that own the files and the outbox
/// its inserts write promised jobs to.
pub type Ports = (Arc<dyn FileRepository>, Arc<dyn UserRepository>, Arc<dyn Outbox>);

async fn owner(ports: &Ports) -> UserId {
    let user = super::users::user(&format!("owner-{}@example.com", uuid::Uuid::new_v4().simple()));
    ports.1.insert(&user).await.unwrap();
    user.id
}

fn file(owner: UserId, digest_byte: u8) -> FileRecord {
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let id = FileId::new();
    FileRecord {
        id,
        owner,
        display_name: "report.csv".into(),
        file_type: Some(FileType::Csv),
        size: 42,
        digest: Some(ContentDigest([digest_byte; 32])),
        status: FileStatus::Stored,
        object_key: format!("files/{id}"),
        message: None,
        summary: None,
        created_at: now,
        updated_at: now,
    }
}

contract_suite! { $ file_repository_contract for files;

pub async fn inserted_files_are_found_by_their_owner_only(ports: Ports) {
    let repo = ports.0.clone();
    let (ada, eve) = (owner(&ports).await, owner(&ports).await);
    let f = file(ada, 1);
    repo.insert(&f, 50, &[]).await.unwrap();
    assert_eq!(repo.get(ada, f.id).await.unwrap(), Some(f.clone()));
    assert_eq!(repo.get(eve, f.id).await.unwrap(), None);
    assert_eq!(repo.find_by_digest(ada, &ContentDigest([1; 32])).await.unwrap(), Some(f.clone()));
    assert_eq!(repo.find_by_digest(eve, &ContentDigest([1; 32])).await.unwrap(), None);
}

pub async fn the_same_bytes_are_a_duplicate_for_the_same_owner_only(ports: Ports) {
    let repo = ports.0.clone();
    let (ada, eve) = (owner(&ports).await, owner(&ports).await);
    let first = file(ada, 2);
    repo.insert(&first, 50, &[]).await.unwrap();
    assert_eq!(repo.insert(&file(ada, 2), 50, &[]).await, Err(FileRepositoryError::Duplicate(first.id)));
    repo.insert(&file(eve, 2), 50, &[]).await.unwrap();
}

pub async fn the_quota_holds_under_concurrent_inserts(ports: Ports) {
    let repo = ports.0.clone();
    let ada = owner(&ports).await;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..8u8 {
        let repo = repo.clone();
        tasks.spawn(async move { repo.insert(&file(ada, 100 + n), 3, &[]).await });
    }
    let results = tasks.join_all().await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 3, "{results:?}");
    assert!(results.iter().filter(|r| r.is_err()).all(|r| *r == Err(FileRepositoryError::QuotaExceeded(3))));
    assert_eq!(repo.list(ada, None, None, 50).await.unwrap().len(), 3);
}

pub async fn concurrent_duplicates_store_one_file(ports: Ports) {
    let repo = ports.0.clone();
    let ada = owner(&ports).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let repo = repo.clone();
        tasks.spawn(async move { repo.insert(&file(ada, 7), 50, &[]).await });
    }
    let results = tasks.join_all().await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    assert!(results.iter().filter(|r| r.is_err()).all(|r| matches!(r, Err(FileRepositoryError::Duplicate(_)))));
}

pub async fn transitions_follow_the_pipeline_and_are_recorded(ports: Ports) {
    let repo = ports.0.clone();
    let ada = owner(&ports).await;
    let f = file(ada, 3);
    repo.insert(&f, 50, &[]).await.unwrap();
    let later = f.created_at + time::Duration::seconds(5);
    let scanning = repo.transition(f.id, FileStatus::Scanning, None, later).await.unwrap();
    assert_eq!((scanning.status, scanning.updated_at), (FileStatus::Scanning, later));
    let refused = repo.transition(f.id, FileStatus::Ready, None, later).await.unwrap_err();
    assert!(matches!(refused, FileRepositoryError::Transition(_)), "{refused:?}");
    let infected = repo.transition(f.id, FileStatus::Infected, Some("Eicar-Test-Signature".into()), later).await.unwrap();
    assert_eq!(infected.message.as_deref(), Some("Eicar-Test-Signature"));
    assert_eq!(repo.get(ada, f.id).await.unwrap().unwrap().status, FileStatus::Infected);
    let steps: Vec<_> = repo.history(f.id).await.unwrap().into_iter().map(|c| (c.from, c.to)).collect();
    assert_eq!(
        steps,
        vec![
            (None, FileStatus::Stored),
            (Some(FileStatus::Stored), FileStatus::Scanning),
            (Some(FileStatus::Scanning), FileStatus::Infected),
        ]
    );
    let missing = repo.transition(FileId::new(), FileStatus::Scanning, None, later).await;
    assert_eq!(missing, Err(FileRepositoryError::NotFound));
}

pub async fn only_one_of_racing_transitions_wins(ports: Ports) {
    let repo = ports.0.clone();
    let f = file(owner(&ports).await, 4);
    repo.insert(&f, 50, &[]).await.unwrap();
    repo.transition(f.id, FileStatus::Scanning, None, f.created_at).await.unwrap();
    repo.transition(f.id, FileStatus::Processing, None, f.created_at).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for to in [FileStatus::Ready, FileStatus::Failed, FileStatus::Ready, FileStatus::Failed] {
        let repo = repo.clone();
        tasks.spawn(async move { repo.transition(f.id, to, None, f.created_at).await });
    }
    let results = tasks.join_all().await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    assert_eq!(repo.history(f.id).await.unwrap().len(), 4);
}

pub async fn lists_are_newest_first_filtered_and_paged(ports: Ports) {
    let repo = ports.0.clone();
    let (ada, eve) = (owner(&ports).await, owner(&ports).await);
    let mut ids = Vec::new();
    for n in 0..5u8 {
        let f = file(ada, 20 + n);
        repo.insert(&f, 50, &[]).await.unwrap();
        ids.push(f.id);
    }
    repo.insert(&file(eve, 30), 50, &[]).await.unwrap();
    repo.transition(ids[1], FileStatus::Scanning, None, OffsetDateTime::now_utc()).await.unwrap();
    let page: Vec<FileId> = repo.list(ada, None, None, 3).await.unwrap().iter().map(|f| f.id).collect();
    assert_eq!(page, vec![ids[4], ids[3], ids[2]]);
    let next: Vec<FileId> = repo.list(ada, None, Some(ids[2]), 3).await.unwrap().iter().map(|f| f.id).collect();
    assert_eq!(next, vec![ids[1], ids[0]]);
    let scanning: Vec<FileId> =
        repo.list(ada, Some(FileStatus::Scanning), None, 10).await.unwrap().iter().map(|f| f.id).collect();
    assert_eq!(scanning, vec![ids[1]]);
}

pub async fn delete_removes_the_file_and_frees_its_digest(ports: Ports) {
    let repo = ports.0.clone();
    let (ada, eve) = (owner(&ports).await, owner(&ports).await);
    let f = file(ada, 9);
    repo.insert(&f, 50, &[]).await.unwrap();
    assert_eq!(repo.delete(eve, f.id).await.unwrap(), None, "not another owner's to delete");
    assert_eq!(repo.delete(ada, f.id).await.unwrap().map(|d| d.id), Some(f.id));
    assert_eq!(repo.get(ada, f.id).await.unwrap(), None);
    assert!(repo.history(f.id).await.unwrap().is_empty());
    repo.insert(&file(ada, 9), 50, &[]).await.unwrap();
    assert_eq!(repo.delete(ada, f.id).await.unwrap(), None);
}

pub async fn an_insert_writes_its_promised_jobs_with_it(ports: Ports) {
    let repo = ports.0.clone();
    let ada = owner(&ports).await;
    let f = file(ada, 40);
    let scan = OutboxMessage::new("files", "file.scan", serde_json::json!({"file_id": f.id.to_string()}));
    repo.insert(&f, 50, std::slice::from_ref(&scan)).await.unwrap();
    let refused = repo.insert(&file(ada, 40), 50, &[OutboxMessage::new("files", "file.scan", serde_json::json!({}))]).await;
    assert!(matches!(refused, Err(FileRepositoryError::Duplicate(_))), "{refused:?}");
    let claimed = ports.2.claim(f.created_at + time::Duration::seconds(1), 10, time::Duration::seconds(30)).await.unwrap();
    let messages: Vec<_> = claimed.into_iter().map(|e| e.message).collect();
    assert_eq!(messages, vec![scan], "the refused insert promised nothing");
}

pub async fn finishing_keeps_the_summary_with_the_ready_file(ports: Ports) {
    let repo = ports.0.clone();
    let ada = owner(&ports).await;
    let f = file(ada, 41);
    repo.insert(&f, 50, &[]).await.unwrap();
    let summary = FileSummary::Workbook { sheets: vec![Sheet { name: "Q1".into(), rows: 12, columns: 4 }] };
    assert!(matches!(repo.finish(f.id, &summary, f.created_at).await, Err(FileRepositoryError::Transition(_))));
    repo.transition(f.id, FileStatus::Scanning, None, f.created_at).await.unwrap();
    repo.transition(f.id, FileStatus::Processing, None, f.created_at).await.unwrap();
    let ready = repo.finish(f.id, &summary, f.created_at).await.unwrap();
    assert_eq!((ready.status, ready.summary.as_ref()), (FileStatus::Ready, Some(&summary)));
    assert_eq!(repo.get(ada, f.id).await.unwrap().unwrap().summary, Some(summary));
}

pub async fn quarantined_files_are_listed_until_purged(ports: Ports) {
    let repo = ports.0.clone();
    let ada = owner(&ports).await;
    let (old, fresh, clean) = (file(ada, 50), file(ada, 51), file(ada, 52));
    let t = old.created_at;
    for (f, infected_at) in [(&old, t), (&fresh, t + time::Duration::hours(2))] {
        repo.insert(f, 50, &[]).await.unwrap();
        repo.transition(f.id, FileStatus::Scanning, None, infected_at).await.unwrap();
        repo.transition(f.id, FileStatus::Infected, Some("Eicar".into()), infected_at).await.unwrap();
    }
    repo.insert(&clean, 50, &[]).await.unwrap();
    let cutoff = t + time::Duration::hours(1);
    let due: Vec<FileId> = repo.quarantined(cutoff, 10).await.unwrap().iter().map(|f| f.id).collect();
    assert_eq!(due, vec![old.id]);
    repo.mark_purged(old.id, cutoff).await.unwrap();
    repo.mark_purged(old.id, cutoff).await.unwrap();
    assert!(repo.quarantined(cutoff, 10).await.unwrap().is_empty());
    assert_eq!(repo.get(ada, old.id).await.unwrap().map(|f| f.status), Some(FileStatus::Infected), "the record stays");
    assert_eq!(repo.mark_purged(FileId::new(), cutoff).await, Err(FileRepositoryError::NotFound));
}

pub async fn a_confirmed_upload_gets_its_content_and_its_scan(ports: Ports) {
    let repo = ports.0.clone();
    let ada = owner(&ports).await;
    let mut awaiting = file(ada, 0);
    (awaiting.status, awaiting.digest, awaiting.file_type, awaiting.size) = (FileStatus::AwaitingUpload, None, None, 0);
    repo.insert(&awaiting, 50, &[]).await.unwrap();
    let found = ConfirmedContent { file_type: FileType::Pdf, size: 1234, digest: ContentDigest([60; 32]) };
    let scan = OutboxMessage::new("files", "file.scan", serde_json::json!({"n": 1}));
    let later = awaiting.created_at + time::Duration::seconds(3);
    let stored = repo.confirm(awaiting.id, &found, std::slice::from_ref(&scan), later).await.unwrap();
    assert_eq!(
        (stored.status, stored.file_type, stored.size, stored.digest, stored.updated_at),
        (FileStatus::Stored, Some(FileType::Pdf), 1234, Some(ContentDigest([60; 32])), later)
    );
    assert_eq!(repo.find_by_digest(ada, &ContentDigest([60; 32])).await.unwrap().map(|f| f.id), Some(awaiting.id));
    let again = repo.confirm(awaiting.id, &found, &[], later).await;
    assert!(matches!(again, Err(FileRepositoryError::Transition(_))), "confirmed once: {again:?}");
    let claimed = ports.2.claim(later + time::Duration::seconds(1), 10, time::Duration::seconds(30)).await.unwrap();
    assert_eq!(claimed.into_iter().map(|e| e.message).collect::<Vec<_>>(), vec![scan]);
    let steps: Vec<_> = repo.history(awaiting.id).await.unwrap().into_iter().map(|c| (c.from, c.to)).collect();
    assert_eq!(steps, vec![(None, FileStatus::AwaitingUpload), (Some(FileStatus::AwaitingUpload), FileStatus::Stored)]);
}

pub async fn confirming_bytes_the_owner_already_has_is_a_duplicate(ports: Ports) {
    let repo = ports.0.clone();
    let (ada, eve) = (owner(&ports).await, owner(&ports).await);
    let kept = file(ada, 61);
    repo.insert(&kept, 50, &[]).await.unwrap();
    let found = ConfirmedContent { file_type: FileType::Csv, size: 42, digest: ContentDigest([61; 32]) };
    for (who, expected) in [(ada, Some(kept.id)), (eve, None)] {
        let mut awaiting = file(who, 0);
        (awaiting.status, awaiting.digest) = (FileStatus::AwaitingUpload, None);
        repo.insert(&awaiting, 50, &[]).await.unwrap();
        let outcome = repo.confirm(awaiting.id, &found, &[], awaiting.created_at).await;
        match expected {
            Some(existing) => {
                assert_eq!(outcome, Err(FileRepositoryError::Duplicate(existing)));
                let left = repo.get(who, awaiting.id).await.unwrap().unwrap();
                assert_eq!((left.status, left.digest), (FileStatus::AwaitingUpload, None), "left as it was");
            }
            None => assert_eq!(outcome.unwrap().status, FileStatus::Stored, "another owner's bytes are no duplicate"),
        }
    }
    assert_eq!(
        repo.confirm(FileId::new(), &found, &[], OffsetDateTime::now_utc()).await,
        Err(FileRepositoryError::NotFound)
    );
}

pub async fn abandoned_uploads_are_the_old_unconfirmed_ones(ports: Ports) {
    let repo = ports.0.clone();
    let ada = owner(&ports).await;
    let mut old = file(ada, 0);
    (old.status, old.digest) = (FileStatus::AwaitingUpload, None);
    let mut fresh = file(ada, 0);
    (fresh.status, fresh.digest) = (FileStatus::AwaitingUpload, None);
    fresh.created_at += time::Duration::hours(2);
    let stored = file(ada, 70);
    for f in [&old, &fresh, &stored] {
        repo.insert(f, 50, &[]).await.unwrap();
    }
    let cutoff = old.created_at + time::Duration::hours(1);
    let due: Vec<FileId> = repo.abandoned(cutoff, 10).await.unwrap().iter().map(|f| f.id).collect();
    assert_eq!(due, vec![old.id]);
}

pub async fn files_are_counted_by_status(ports: Ports) {
    let repo = ports.0.clone();
    let ada = owner(&ports).await;
    let before: std::collections::HashMap<FileStatus, u64> = repo.count_by_status().await.unwrap().into_iter().collect();
    let (a, b) = (file(ada, 80), file(ada, 81));
    repo.insert(&a, 50, &[]).await.unwrap();
    repo.insert(&b, 50, &[]).await.unwrap();
    repo.transition(b.id, FileStatus::Scanning, None, b.created_at).await.unwrap();
    let after: std::collections::HashMap<FileStatus, u64> = repo.count_by_status().await.unwrap().into_iter().collect();
    let grew = |s: FileStatus| after.get(&s).copied().unwrap_or(0) - before.get(&s).copied().unwrap_or(0);
    assert_eq!((grew(FileStatus::Stored), grew(FileStatus::Scanning)), (1, 1));
    assert!(after.values().all(|n| *n > 0), "statuses with no file are left out: {after:?}");
}
}
