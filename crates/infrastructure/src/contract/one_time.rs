use super::users::{now, user};
use portcullis_application::ports::{Consumed, OneTimeTokenStore, UserRepository};
use portcullis_domain::ids::UserId;
use portcullis_domain::one_time::TokenPurpose;
use portcullis_domain::secret::{Secret, TokenHash};
use std::sync::Arc;
use time::Duration;

/// The store plus a user repository (tokens belong to users).
pub type Ports = (Arc<dyn OneTimeTokenStore>, Arc<dyn UserRepository>);

async fn some_user(ports: &Ports) -> UserId {
    let u = user(&format!("{}@example.com", uuid::Uuid::new_v4().simple()));
    ports.1.insert(&u).await.unwrap();
    u.id
}

fn hash(name: &str) -> TokenHash {
    TokenHash::of(&Secret::new(format!("{name}-{}", uuid::Uuid::new_v4())))
}

const RESET: TokenPurpose = TokenPurpose::PasswordReset;

contract_suite! { $ one_time_token_contract for one_time;

pub async fn tokens_are_single_use(ports: Ports) {
    let user = some_user(&ports).await;
    let t = now();
    let h = hash("reset");
    ports.0.issue(RESET, user, &h, t, t + Duration::minutes(30)).await.unwrap();
    assert_eq!(
        ports.0.consume(TokenPurpose::MagicLink, &h, t).await.unwrap(),
        Consumed::Invalid,
        "other purpose"
    );
    assert_eq!(ports.0.consume(RESET, &h, t).await.unwrap(), Consumed::Valid(user));
    assert_eq!(ports.0.consume(RESET, &h, t).await.unwrap(), Consumed::Invalid, "used up");
    assert_eq!(ports.0.consume(RESET, &hash("unknown"), t).await.unwrap(), Consumed::Invalid);
}

pub async fn tokens_expire(ports: Ports) {
    let user = some_user(&ports).await;
    let t = now();
    let h = hash("reset");
    ports.0.issue(RESET, user, &h, t, t + Duration::minutes(30)).await.unwrap();
    assert_eq!(ports.0.consume(RESET, &h, t + Duration::minutes(30)).await.unwrap(), Consumed::Expired);
}

pub async fn a_new_token_supersedes_the_old(ports: Ports) {
    let (ada, bob) = (some_user(&ports).await, some_user(&ports).await);
    let t = now();
    let (old, new, bobs) = (hash("old"), hash("new"), hash("bob"));
    let later = t + Duration::minutes(30);
    ports.0.issue(RESET, ada, &old, t, later).await.unwrap();
    ports.0.issue(RESET, bob, &bobs, t, later).await.unwrap();
    ports.0.issue(TokenPurpose::EmailVerification, ada, &hash("verify"), t, later).await.unwrap();
    ports.0.issue(RESET, ada, &new, t + Duration::minutes(1), later).await.unwrap();
    assert_eq!(ports.0.consume(RESET, &old, t).await.unwrap(), Consumed::Invalid);
    assert_eq!(ports.0.consume(RESET, &new, t).await.unwrap(), Consumed::Valid(ada));
    assert_eq!(
        ports.0.consume(RESET, &bobs, t).await.unwrap(),
        Consumed::Valid(bob),
        "other users keep theirs"
    );
}

pub async fn concurrent_consumers_one_wins(ports: Ports) {
    let user = some_user(&ports).await;
    let t = now();
    let h = hash("magic");
    ports.0.issue(TokenPurpose::MagicLink, user, &h, t, t + Duration::minutes(15)).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let store = ports.0.clone();
        tasks.spawn(async move { store.consume(TokenPurpose::MagicLink, &h, t).await.unwrap() });
    }
    let results = tasks.join_all().await;
    assert_eq!(results.iter().filter(|r| **r == Consumed::Valid(user)).count(), 1, "{results:?}");
}

/// Peeking answers like consuming but leaves the token usable.
pub async fn peek_does_not_use_the_token(ports: Ports) {
    let user = some_user(&ports).await;
    let t = now();
    let h = hash("reset");
    ports.0.issue(RESET, user, &h, t, t + Duration::minutes(30)).await.unwrap();
    assert_eq!(ports.0.peek(RESET, &h, t).await.unwrap(), Consumed::Valid(user));
    assert_eq!(ports.0.peek(RESET, &h, t).await.unwrap(), Consumed::Valid(user));
    assert_eq!(ports.0.peek(TokenPurpose::MagicLink, &h, t).await.unwrap(), Consumed::Invalid);
    assert_eq!(ports.0.peek(RESET, &h, t + Duration::minutes(31)).await.unwrap(), Consumed::Expired);
    assert_eq!(ports.0.consume(RESET, &h, t).await.unwrap(), Consumed::Valid(user));
    assert_eq!(ports.0.peek(RESET, &h, t).await.unwrap(), Consumed::Invalid);
}

/// A credential change ends the user's outstanding links of the named
/// purposes, and only those, and only the user's.
pub async fn invalidate_ends_outstanding_links(ports: Ports) {
    let (ada, bob) = (some_user(&ports).await, some_user(&ports).await);
    let t = now();
    let later = t + Duration::minutes(10);
    let (reset, magic, verify, bobs) = (hash("reset"), hash("magic"), hash("verify"), hash("bob"));
    ports.0.issue(RESET, ada, &reset, t, later).await.unwrap();
    ports.0.issue(TokenPurpose::MagicLink, ada, &magic, t, later).await.unwrap();
    ports.0.issue(TokenPurpose::EmailVerification, ada, &verify, t, later).await.unwrap();
    ports.0.issue(RESET, bob, &bobs, t, later).await.unwrap();
    let ended = ports.0.invalidate(ada, &[RESET, TokenPurpose::MagicLink], t).await.unwrap();
    assert_eq!(ended, 2);
    assert_eq!(ports.0.consume(RESET, &reset, t).await.unwrap(), Consumed::Invalid);
    assert_eq!(ports.0.consume(TokenPurpose::MagicLink, &magic, t).await.unwrap(), Consumed::Invalid);
    assert_eq!(
        ports.0.consume(TokenPurpose::EmailVerification, &verify, t).await.unwrap(),
        Consumed::Valid(ada)
    );
    assert_eq!(ports.0.consume(RESET, &bobs, t).await.unwrap(), Consumed::Valid(bob));
}
}
