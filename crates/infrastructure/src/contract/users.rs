use portcullis_application::ports::{StoreError, UserFilter, UserRepository};
use portcullis_domain::email::Email;
use portcullis_domain::ids::UserId;
use portcullis_domain::user::{DisplayName, PasswordHash, ProfileChanges, User};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// Microsecond precision: what PostgreSQL's timestamptz keeps.
pub fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1000 * 1000).unwrap()
}

pub fn user(email: &str) -> User {
    let t = now();
    User {
        id: UserId::new(),
        email: Email::parse(email).unwrap(),
        display_name: Some(DisplayName::parse("Ada Lovelace").unwrap()),
        password_hash: PasswordHash("$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA".into()),
        created_at: t,
        updated_at: t,
        email_verified_at: None,
        locked_at: None,
    }
}

contract_suite! { $ user_repository_contract for users;

pub async fn accounts_are_searched_newest_first_and_locked(repo: Arc<dyn UserRepository>) {
    let mut made = Vec::new();
    for email in ["ada@example.com", "bob@example.org", "a_b%c@example.com", "carol@example.com"] {
        let u = user(email);
        repo.insert(&u).await.unwrap();
        made.push(u);
    }
    repo.mark_email_verified(made[1].id, now()).await.unwrap();
    let locked = repo.set_locked(made[3].id, Some(now())).await.unwrap();
    assert!(locked.locked_at.is_some());
    assert_eq!(repo.find_by_id(made[3].id).await.unwrap().unwrap().locked_at, locked.locked_at);
    assert_eq!(repo.set_locked(UserId::new(), None).await, Err(StoreError::NotFound));

    let emails = |users: Vec<User>| users.into_iter().map(|u| u.email.as_str().to_owned()).collect::<Vec<_>>();
    let all = emails(repo.search(&UserFilter::default(), None, 10).await.unwrap());
    assert_eq!(all, ["carol@example.com", "a_b%c@example.com", "bob@example.org", "ada@example.com"]);
    let table: [(UserFilter, &[&str]); 6] = [
        (UserFilter { email_contains: Some("EXAMPLE.COM".into()), ..Default::default() }, &["carol@example.com", "a_b%c@example.com", "ada@example.com"]),
        (UserFilter { email_contains: Some("_b%".into()), ..Default::default() }, &["a_b%c@example.com"]),
        (UserFilter { email_contains: Some("%".into()), ..Default::default() }, &["a_b%c@example.com"]),
        (UserFilter { locked: Some(true), ..Default::default() }, &["carol@example.com"]),
        (UserFilter { verified: Some(true), ..Default::default() }, &["bob@example.org"]),
        (UserFilter { verified: Some(false), locked: Some(false), ..Default::default() }, &["a_b%c@example.com", "ada@example.com"]),
    ];
    for (filter, expected) in table {
        assert_eq!(emails(repo.search(&filter, None, 10).await.unwrap()), expected, "{filter:?}");
    }
    let page1 = repo.search(&UserFilter::default(), None, 2).await.unwrap();
    let page2 = repo.search(&UserFilter::default(), Some(page1[1].id), 2).await.unwrap();
    assert_eq!(emails(page2), ["bob@example.org", "ada@example.com"]);
    repo.set_locked(made[3].id, None).await.unwrap();
    assert_eq!(repo.find_by_id(made[3].id).await.unwrap().unwrap().locked_at, None);
}

pub async fn insert_then_find(repo: Arc<dyn UserRepository>) {
    let u = user("ada@example.com");
    repo.insert(&u).await.unwrap();
    assert_eq!(repo.find_by_id(u.id).await.unwrap(), Some(u.clone()));
    assert_eq!(repo.find_by_email(&u.email).await.unwrap(), Some(u.clone()));
    assert_eq!(repo.find_by_email(&Email::parse("other@example.com").unwrap()).await.unwrap(), None);
    assert_eq!(repo.find_by_id(UserId::new()).await.unwrap(), None);
}

pub async fn duplicate_email_conflicts(repo: Arc<dyn UserRepository>) {
    repo.insert(&user("ada@example.com")).await.unwrap();
    // Same address typed differently normalises to the same Email.
    let again = user(" ADA@Example.com ");
    assert_eq!(repo.insert(&again).await, Err(StoreError::Conflict("email")));
    assert_eq!(repo.find_by_id(again.id).await.unwrap(), None);
}

pub async fn concurrent_inserts_one_wins(repo: Arc<dyn UserRepository>) {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let repo = repo.clone();
        tasks.spawn(async move { repo.insert(&user("race@example.com")).await });
    }
    let results = tasks.join_all().await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    assert!(results.iter().filter(|r| r.is_err()).all(|r| *r == Err(StoreError::Conflict("email"))));
}

pub async fn updates(repo: Arc<dyn UserRepository>) {
    let u = user("ada@example.com");
    repo.insert(&u).await.unwrap();
    let later = u.updated_at + Duration::seconds(5);
    let changes = ProfileChanges { display_name: Some(Some(DisplayName::parse("Countess").unwrap())) };
    let updated = repo.update_profile(u.id, &changes, later).await.unwrap();
    assert_eq!(updated.display_name.as_ref().map(DisplayName::as_str), Some("Countess"));
    assert_eq!(updated.updated_at, later);
    assert_eq!(updated.created_at, u.created_at);
    let cleared =
        repo.update_profile(u.id, &ProfileChanges { display_name: Some(None) }, later).await.unwrap();
    assert_eq!(cleared.display_name, None);

    let hash = PasswordHash("$argon2id$new".into());
    repo.set_password_hash(u.id, &hash, later).await.unwrap();
    assert_eq!(repo.find_by_id(u.id).await.unwrap().unwrap().password_hash, hash);
}

/// What a cached read returns reflects every write made through the same
/// repository, at once (and never invents an account).
pub async fn cached_reads_see_this_repository_s_writes(repo: Arc<dyn UserRepository>) {
    let u = user("ada@example.com");
    assert_eq!(repo.find_by_id_cached(u.id).await.unwrap(), None);
    repo.insert(&u).await.unwrap();
    assert_eq!(repo.find_by_id_cached(u.id).await.unwrap(), Some(u.clone()));
    let now = u.updated_at + Duration::seconds(1);
    let renamed = ProfileChanges { display_name: Some(Some(DisplayName::parse("Countess").unwrap())) };
    let changed = repo.update_profile(u.id, &renamed, now).await.unwrap();
    assert_eq!(repo.find_by_id_cached(u.id).await.unwrap(), Some(changed));
    let verified = repo.mark_email_verified(u.id, now).await.unwrap();
    assert_eq!(repo.find_by_id_cached(u.id).await.unwrap(), Some(verified));
    let locked = repo.set_locked(u.id, Some(now)).await.unwrap();
    assert_eq!(repo.find_by_id_cached(u.id).await.unwrap(), Some(locked));
    let hash = PasswordHash("$argon2id$newer".into());
    repo.set_password_hash(u.id, &hash, now).await.unwrap();
    assert_eq!(repo.find_by_id_cached(u.id).await.unwrap().unwrap().password_hash, hash);
}

pub async fn missing_user_is_not_found(repo: Arc<dyn UserRepository>) {
    let id = UserId::new();
    assert_eq!(repo.update_profile(id, &ProfileChanges::default(), now()).await, Err(StoreError::NotFound));
    assert_eq!(repo.set_password_hash(id, &PasswordHash("x".into()), now()).await, Err(StoreError::NotFound));
}

pub async fn email_verification_keeps_the_first_time(repo: Arc<dyn UserRepository>) {
    let u = user("ada@example.com");
    repo.insert(&u).await.unwrap();
    assert_eq!(repo.find_by_id(u.id).await.unwrap().unwrap().email_verified_at, None);
    let first = u.created_at + Duration::minutes(1);
    let verified = repo.mark_email_verified(u.id, first).await.unwrap();
    assert_eq!(verified.email_verified_at, Some(first));
    let again = repo.mark_email_verified(u.id, first + Duration::hours(1)).await.unwrap();
    assert_eq!(again.email_verified_at, Some(first));
    assert_eq!(repo.find_by_id(u.id).await.unwrap().unwrap().email_verified_at, Some(first));
    assert_eq!(repo.mark_email_verified(UserId::new(), first).await, Err(StoreError::NotFound));
}
}
