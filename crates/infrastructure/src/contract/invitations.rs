use super::users::{now, user};
use portcullis_application::ports::{InvitationStore, Outbox, OutboxMessage, StoreError, UserRepository};
use portcullis_domain::email::Email;
use portcullis_domain::ids::{InvitationId, UserId};
use portcullis_domain::invitation::{INVITATION_TTL, Invitation, InvitationState};
use portcullis_domain::role::RoleName;
use portcullis_domain::secret::{Secret, TokenHash};
use std::sync::Arc;
use time::Duration;

/// The invitation store, the accounts that accept, and the outbox the
/// invitation mail is promised to.
pub type Ports = (Arc<dyn InvitationStore>, Arc<dyn UserRepository>, Arc<dyn Outbox>);

fn invitation(email: &str, token: &str) -> (Invitation, TokenHash) {
    let hash = TokenHash::of(&Secret::new(format!("{token}-{}", uuid::Uuid::new_v4())));
    let t = now();
    let invitation = Invitation {
        id: InvitationId::new(),
        email: Email::parse(email).unwrap(),
        roles: vec![RoleName::parse("user").unwrap(), RoleName::parse("moderator").unwrap()],
        token_hash: hash,
        invited_by: None,
        created_at: t,
        expires_at: t + INVITATION_TTL,
        accepted_at: None,
        accepted_by: None,
        revoked_at: None,
    };
    (invitation, hash)
}

async fn account(ports: &Ports) -> UserId {
    let u = user(&format!("{}@example.com", uuid::Uuid::new_v4().simple()));
    ports.1.insert(&u).await.unwrap();
    u.id
}

contract_suite! { $ invitation_store_contract for invitations;

pub async fn an_invitation_is_stored_with_its_mail(ports: Ports) {
    let (inv, hash) = invitation("new@example.com", "a");
    let mail = OutboxMessage::new("mail", "email.send", serde_json::json!({"to": "new@example.com"}));
    ports.0.insert(&inv, std::slice::from_ref(&mail), inv.created_at).await.unwrap();
    assert_eq!(ports.0.find_by_token(&hash).await.unwrap(), Some(inv.clone()));
    assert_eq!(ports.0.find_by_token(&TokenHash::of(&Secret::new("nope"))).await.unwrap(), None);
    let claimed = ports.2.claim(inv.created_at + Duration::seconds(1), 10, Duration::seconds(30)).await.unwrap();
    assert_eq!(claimed.into_iter().map(|e| e.message).collect::<Vec<_>>(), vec![mail]);
    // The same token twice is refused, and promises nothing.
    let (mut again, _) = invitation("other@example.com", "b");
    again.token_hash = hash;
    assert_eq!(ports.0.insert(&again, &[], again.created_at).await, Err(StoreError::Conflict("token")));

    let (older, _) = invitation("older@example.com", "c");
    let older = Invitation { created_at: inv.created_at - Duration::hours(1), ..older };
    ports.0.insert(&older, &[], older.created_at).await.unwrap();
    let listed: Vec<InvitationId> = ports.0.list(10).await.unwrap().iter().map(|i| i.id).collect();
    assert_eq!(listed, [inv.id, older.id], "newest first");
    assert_eq!(ports.0.list(1).await.unwrap().len(), 1);
}

pub async fn a_token_is_redeemed_once_while_pending(ports: Ports) {
    let (inv, hash) = invitation("new@example.com", "a");
    ports.0.insert(&inv, &[], inv.created_at).await.unwrap();
    let ada = account(&ports).await;
    let at = inv.created_at + Duration::days(1);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let store = ports.0.clone();
        tasks.spawn(async move { store.redeem(&hash, ada, at).await.unwrap() });
    }
    let mut won = Vec::new();
    while let Some(done) = tasks.join_next().await {
        won.extend(done.unwrap());
    }
    assert_eq!(won.len(), 1, "one redemption wins");
    assert_eq!(won[0].accepted_by, Some(ada));
    assert_eq!(won[0].state(at), InvitationState::Accepted);
    assert!(!ports.0.revoke(inv.id, at).await.unwrap(), "an accepted invitation stays accepted");

    // Expired or withdrawn: nothing to redeem.
    let (late, late_hash) = invitation("late@example.com", "b");
    ports.0.insert(&late, &[], late.created_at).await.unwrap();
    assert_eq!(ports.0.redeem(&late_hash, ada, late.expires_at).await.unwrap(), None);
    let (gone, gone_hash) = invitation("gone@example.com", "c");
    ports.0.insert(&gone, &[], gone.created_at).await.unwrap();
    assert!(ports.0.revoke(gone.id, gone.created_at).await.unwrap());
    assert!(!ports.0.revoke(gone.id, gone.created_at).await.unwrap());
    assert_eq!(ports.0.redeem(&gone_hash, ada, gone.created_at).await.unwrap(), None);
    assert_eq!(ports.0.find_by_token(&gone_hash).await.unwrap().unwrap().state(gone.created_at), InvitationState::Revoked);
    assert!(!ports.0.revoke(InvitationId::new(), now()).await.unwrap());
}

pub async fn a_pending_invitation_gets_a_new_token(ports: Ports) {
    let (inv, old) = invitation("new@example.com", "a");
    ports.0.insert(&inv, &[], inv.created_at).await.unwrap();
    let fresh = TokenHash::of(&Secret::new(format!("fresh-{}", uuid::Uuid::new_v4())));
    let at = inv.created_at + Duration::minutes(1);
    let reissued = ports.0.reissue(inv.id, &fresh, at).await.unwrap().expect("pending");
    assert_eq!(reissued, Invitation { token_hash: fresh, ..inv.clone() });
    assert_eq!(ports.0.find_by_token(&old).await.unwrap(), None, "the old token is gone");
    let ada = account(&ports).await;
    assert!(ports.0.redeem(&old, ada, at).await.unwrap().is_none());

    // Another invitation's token is refused; nothing changes.
    let (other, other_hash) = invitation("other@example.com", "b");
    ports.0.insert(&other, &[], other.created_at).await.unwrap();
    assert_eq!(ports.0.reissue(other.id, &fresh, at).await, Err(StoreError::Conflict("token")));
    assert_eq!(ports.0.find_by_token(&other_hash).await.unwrap().map(|i| i.id), Some(other.id));

    // Expired, withdrawn, accepted or unknown: no new token.
    let later = TokenHash::of(&Secret::new(format!("later-{}", uuid::Uuid::new_v4())));
    assert_eq!(ports.0.reissue(inv.id, &later, inv.expires_at).await.unwrap(), None);
    assert!(ports.0.revoke(other.id, at).await.unwrap());
    assert_eq!(ports.0.reissue(other.id, &later, at).await.unwrap(), None);
    assert!(ports.0.redeem(&fresh, ada, at).await.unwrap().is_some());
    assert_eq!(ports.0.reissue(inv.id, &later, at).await.unwrap(), None);
    assert_eq!(ports.0.reissue(InvitationId::new(), &later, at).await.unwrap(), None);
    assert_eq!(ports.0.find_by_token(&later).await.unwrap(), None);
}

}
