use super::users::{now, user};
use portcullis_application::ports::{CredentialStore, FactorStore, FactorSummary, UserRepository};
use portcullis_domain::ids::UserId;
use portcullis_domain::mfa::backup_code_hash;
use portcullis_domain::secret::TokenHash;
use portcullis_domain::webauthn::CredentialKind;
use std::sync::Arc;
use time::Duration;

/// The factor store, the accounts factors belong to, and the credential
/// store whose security keys are second factors too.
pub type Ports = (Arc<dyn FactorStore>, Arc<dyn UserRepository>, Arc<dyn CredentialStore>);

async fn account(ports: &Ports) -> UserId {
    let u = user(&format!("{}@example.com", uuid::Uuid::new_v4().simple()));
    ports.1.insert(&u).await.unwrap();
    u.id
}

fn codes(prefix: &str) -> Vec<TokenHash> {
    (0..10).map(|i| backup_code_hash(&format!("{prefix}{i:02}aaaabbbbcccc"))).collect()
}

contract_suite! { $ factor_store_contract for factors;

pub async fn enrolment_is_pending_until_confirmed_once(ports: Ports) {
    let ada = account(&ports).await;
    let t = now();
    assert_eq!(ports.0.totp(ada).await.unwrap(), None);
    assert!(ports.0.begin_totp(ada, b"sealed-1", t).await.unwrap());
    // A pending enrolment may be restarted: the newer secret replaces it.
    assert!(ports.0.begin_totp(ada, b"sealed-2", t + Duration::seconds(5)).await.unwrap());
    let pending = ports.0.totp(ada).await.unwrap().unwrap();
    assert_eq!((pending.sealed_secret.as_slice(), pending.confirmed_at, pending.last_used_step), (&b"sealed-2"[..], None, None));
    assert!(!ports.0.use_totp_step(ada, 10).await.unwrap(), "a pending factor answers no challenge");

    let confirmed_at = t + Duration::seconds(10);
    assert!(ports.0.confirm_totp(ada, 1000, &codes("a"), confirmed_at).await.unwrap());
    assert!(!ports.0.confirm_totp(ada, 1001, &codes("b"), confirmed_at).await.unwrap(), "confirmed once");
    let factor = ports.0.totp(ada).await.unwrap().unwrap();
    assert_eq!(factor.confirmed_at, Some(confirmed_at));
    assert_eq!(factor.last_used_step, Some(1000), "the confirming code is spent");
    assert_eq!(ports.0.summary(ada).await.unwrap().backup_codes_left, 10);
    // A confirmed factor is not replaced by a new enrolment.
    assert!(!ports.0.begin_totp(ada, b"attacker", t).await.unwrap());
    assert_eq!(ports.0.totp(ada).await.unwrap().unwrap().sealed_secret, b"sealed-2");
    // Factors are per user.
    let bob = account(&ports).await;
    assert!(!ports.0.confirm_totp(bob, 1, &codes("c"), t).await.unwrap(), "nothing pending for bob");
    assert_eq!(ports.0.summary(bob).await.unwrap().backup_codes_left, 0);
}

pub async fn a_step_is_used_once_and_never_an_earlier_one(ports: Ports) {
    let ada = account(&ports).await;
    assert!(ports.0.begin_totp(ada, b"s", now()).await.unwrap());
    assert!(ports.0.confirm_totp(ada, 100, &[], now()).await.unwrap());
    assert!(!ports.0.use_totp_step(ada, 100).await.unwrap(), "the confirming step");
    assert!(!ports.0.use_totp_step(ada, 99).await.unwrap(), "an earlier step");
    assert!(ports.0.use_totp_step(ada, 101).await.unwrap());
    assert!(!ports.0.use_totp_step(ada, 101).await.unwrap(), "replayed");
    assert_eq!(ports.0.totp(ada).await.unwrap().unwrap().last_used_step, Some(101));
    // Concurrent uses of one step: exactly one wins.
    let tries = (0..8).map(|_| {
        let store = ports.0.clone();
        tokio::spawn(async move { store.use_totp_step(ada, 102).await.unwrap() })
    });
    let mut won = 0;
    for t in tries {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1);
}

pub async fn backup_codes_are_single_use_and_replaced_whole(ports: Ports) {
    let ada = account(&ports).await;
    let first = codes("a");
    assert!(ports.0.begin_totp(ada, b"s", now()).await.unwrap());
    assert!(ports.0.confirm_totp(ada, 1, &first, now()).await.unwrap());
    assert!(ports.0.use_backup_code(ada, &first[3], now()).await.unwrap());
    assert!(!ports.0.use_backup_code(ada, &first[3], now()).await.unwrap(), "used");
    assert_eq!(ports.0.summary(ada).await.unwrap().backup_codes_left, 9);
    let bob = account(&ports).await;
    assert!(!ports.0.use_backup_code(bob, &first[4], now()).await.unwrap(), "another user's code");
    // Concurrent uses of one code: exactly one wins.
    let tries = (0..8).map(|_| {
        let (store, code) = (ports.0.clone(), first[5]);
        tokio::spawn(async move { store.use_backup_code(ada, &code, now()).await.unwrap() })
    });
    let mut won = 0;
    for t in tries {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1);

    let second = codes("b");
    ports.0.replace_backup_codes(ada, &second, now()).await.unwrap();
    assert_eq!(ports.0.summary(ada).await.unwrap().backup_codes_left, 10);
    assert!(!ports.0.use_backup_code(ada, &first[0], now()).await.unwrap(), "the old set is gone");
    assert!(ports.0.use_backup_code(ada, &second[0], now()).await.unwrap());
}

pub async fn removing_the_factors_removes_their_codes(ports: Ports) {
    let ada = account(&ports).await;
    assert!(!ports.0.remove_all(ada).await.unwrap(), "nothing to remove");
    assert!(ports.0.begin_totp(ada, b"s", now()).await.unwrap());
    assert!(ports.0.begin_sms(ada, "+447911123456", now()).await.unwrap());
    assert!(!ports.0.remove_all(ada).await.unwrap(), "pending factors were not on");
    assert_eq!(ports.0.totp(ada).await.unwrap(), None);
    assert_eq!(ports.0.sms(ada).await.unwrap(), None);
    assert!(ports.0.begin_totp(ada, b"s", now()).await.unwrap());
    assert!(ports.0.confirm_totp(ada, 1, &codes("a"), now()).await.unwrap());
    assert!(ports.0.begin_sms(ada, "+447911123456", now()).await.unwrap());
    assert!(ports.0.confirm_sms(ada, &[], now()).await.unwrap());
    assert!(ports.0.remove_all(ada).await.unwrap());
    assert_eq!(ports.0.totp(ada).await.unwrap(), None);
    assert_eq!(ports.0.sms(ada).await.unwrap(), None);
    assert_eq!(ports.0.summary(ada).await.unwrap().backup_codes_left, 0);
    assert_eq!(ports.0.summary(ada).await.unwrap(), FactorSummary::default());
    assert!(ports.0.begin_totp(ada, b"again", now()).await.unwrap(), "enrol again after removal");
    // A phone alone is a factor too.
    assert!(ports.0.begin_sms(ada, "+14155552671", now()).await.unwrap());
    assert!(ports.0.confirm_sms(ada, &codes("b"), now()).await.unwrap());
    assert!(ports.0.remove_all(ada).await.unwrap());
}

pub async fn a_phone_is_pending_until_confirmed_once(ports: Ports) {
    let ada = account(&ports).await;
    let t = now();
    assert_eq!(ports.0.sms(ada).await.unwrap(), None);
    assert!(!ports.0.confirm_sms(ada, &codes("a"), t).await.unwrap(), "nothing pending");
    assert!(ports.0.begin_sms(ada, "+447911123456", t).await.unwrap());
    // A pending number may be changed: the newer one replaces it.
    assert!(ports.0.begin_sms(ada, "+14155552671", t + Duration::seconds(5)).await.unwrap());
    let pending = ports.0.sms(ada).await.unwrap().unwrap();
    assert_eq!((pending.phone.as_str(), pending.confirmed_at), ("+14155552671", None));
    let summary = ports.0.summary(ada).await.unwrap();
    assert!(summary.sms_pending && !summary.sms_confirmed && !summary.any_confirmed(), "{summary:?}");

    let confirmed_at = t + Duration::seconds(10);
    assert!(ports.0.confirm_sms(ada, &codes("a"), confirmed_at).await.unwrap());
    assert!(!ports.0.confirm_sms(ada, &codes("b"), confirmed_at).await.unwrap(), "confirmed once");
    assert_eq!(ports.0.sms(ada).await.unwrap().unwrap().confirmed_at, Some(confirmed_at));
    assert!(!ports.0.begin_sms(ada, "+33612345678", t).await.unwrap(), "a confirmed phone stays");
    assert_eq!(ports.0.sms(ada).await.unwrap().unwrap().phone, "+14155552671");
    // Codes from the first confirmation; none replaced by the refused one.
    assert_eq!(ports.0.summary(ada).await.unwrap().backup_codes_left, 10);
    assert!(ports.0.use_backup_code(ada, &codes("a")[0], now()).await.unwrap());
}

pub async fn the_summary_reads_every_factor(ports: Ports) {
    let ada = account(&ports).await;
    assert_eq!(ports.0.summary(ada).await.unwrap(), FactorSummary::default());
    assert!(ports.0.begin_totp(ada, b"s", now()).await.unwrap());
    let pending = ports.0.summary(ada).await.unwrap();
    assert_eq!(pending, FactorSummary { totp_pending: true, ..FactorSummary::default() });
    assert!(ports.0.confirm_totp(ada, 1, &codes("a"), now()).await.unwrap());
    assert!(ports.0.use_backup_code(ada, &codes("a")[3], now()).await.unwrap());
    assert!(ports.0.begin_sms(ada, "+447911123456", now()).await.unwrap());
    // Confirming a second factor with no codes keeps the first factor's.
    assert!(ports.0.confirm_sms(ada, &[], now()).await.unwrap());
    let both = ports.0.summary(ada).await.unwrap();
    assert_eq!(
        both,
        FactorSummary { totp_confirmed: true, sms_confirmed: true, backup_codes_left: 9, ..FactorSummary::default() }
    );
    assert!(both.any_confirmed());
    // Another user's factors are not counted.
    let bob = account(&ports).await;
    assert_eq!(ports.0.summary(bob).await.unwrap(), FactorSummary::default());
}


pub async fn security_keys_are_second_factors_and_passkeys_are_not(ports: Ports) {
    use super::credentials::credential;
    let ada = account(&ports).await;
    let passkey = credential(ada, CredentialKind::Passkey, uuid::Uuid::new_v4().as_bytes(), 0);
    ports.2.add(&passkey).await.unwrap();
    assert!(!ports.0.summary(ada).await.unwrap().any_confirmed(), "a passkey is a first factor");
    for _ in 0..2 {
        let key = credential(ada, CredentialKind::SecurityKey, uuid::Uuid::new_v4().as_bytes(), 1);
        ports.2.add(&key).await.unwrap();
    }
    let summary = ports.0.summary(ada).await.unwrap();
    assert_eq!(summary.security_keys, 2);
    assert!(summary.any_confirmed());
    // Turning second factors off takes the security keys, not the passkey.
    assert!(ports.0.remove_all(ada).await.unwrap());
    let left = ports.2.list(ada).await.unwrap();
    assert_eq!(left.iter().map(|c| c.id).collect::<Vec<_>>(), vec![passkey.id]);
    assert_eq!(ports.0.summary(ada).await.unwrap(), FactorSummary::default());
}
}
