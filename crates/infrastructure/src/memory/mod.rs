//! In-memory twins of the real adapters: thread-safe, with the same semantics
//! (uniqueness, TTL, ordering, atomicity) — each passes the same contract suite
//! as its Postgres or Redis sibling. Used by `make run` without services and by
//! the fast test suites. Time comes from an injected [`Clock`], so TTLs follow
//! a manual clock in tests.

mod audit;
mod credentials;
mod devices;
mod ephemeral;
mod events;
mod factors;
mod files;
mod invitations;
mod jobs;
mod linked;
mod login_attempts;
mod objects;
mod one_time;
mod outbox;
mod outbox_store;
mod permission_cache;
mod rate_limit;
mod revocation;
mod roles;
mod scanner;
mod sessions;
mod texts;
mod users;

pub use audit::MemoryAuditLog;
pub use credentials::MemoryCredentialStore;
pub use devices::MemoryDeviceStore;
pub use ephemeral::MemoryEphemeralStore;
pub use events::MemoryEventBus;
pub(crate) use events::stream_of;
pub use factors::MemoryFactorStore;
pub use files::MemoryFileRepository;
pub use invitations::MemoryInvitations;
pub use jobs::MemoryJobQueue;
pub use linked::MemoryLinkedAccounts;
pub use login_attempts::MemoryLoginAttempts;
pub use objects::MemoryObjectStore;
pub use one_time::MemoryOneTimeTokens;
pub use outbox::MemoryOutbox;
pub use outbox_store::MemoryOutboxStore;
pub use permission_cache::MemoryPermissionCache;
pub use rate_limit::MemoryRateLimiter;
pub use revocation::MemoryRevocationList;
pub use roles::MemoryRoleStore;
pub use scanner::MemoryVirusScanner;
pub use sessions::MemorySessionStore;
pub use texts::{MemoryTexts, is_e164};
pub use users::MemoryUserRepository;

use std::sync::{Mutex, MutexGuard};

/// Locks a mutex, recovering from poisoning: every critical section here
/// leaves the state consistent before it can panic, so the data is still valid.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The contract suites, against the in-memory adapters (always run).
#[cfg(test)]
mod contract_tests {
    use super::*;
    use crate::clock::SystemClock;
    use portcullis_application::ports::{
        AuditLog, LoginAttempts, RateLimiter, RevocationList, SessionStore, UserRepository,
    };
    use std::sync::Arc;

    fn clock() -> Arc<SystemClock> {
        Arc::new(SystemClock)
    }

    mod users {
        use super::*;
        user_repository_contract!(async {
            (Arc::new(MemoryUserRepository::default()) as Arc<dyn UserRepository>, ())
        });
    }

    mod sessions {
        use super::*;
        session_store_contract!(async {
            let ports: crate::contract::sessions::Ports = (
                Arc::new(MemorySessionStore::default()) as Arc<dyn SessionStore>,
                Arc::new(MemoryUserRepository::default()) as Arc<dyn UserRepository>,
            );
            (ports, ())
        });
    }

    mod devices {
        use super::*;
        device_store_contract!(async {
            let ports: crate::contract::devices::Ports = (
                Arc::new(MemoryDeviceStore::default()) as Arc<dyn portcullis_application::ports::DeviceStore>,
                Arc::new(MemoryUserRepository::default()) as Arc<dyn UserRepository>,
            );
            (ports, ())
        });
    }

    mod invitations {
        use super::*;
        invitation_store_contract!(async {
            let outbox = Arc::new(MemoryOutboxStore::default());
            let ports: crate::contract::invitations::Ports = (
                Arc::new(MemoryInvitations::with_outbox(outbox.clone()))
                    as Arc<dyn portcullis_application::ports::InvitationStore>,
                Arc::new(MemoryUserRepository::default()) as Arc<dyn UserRepository>,
                outbox,
            );
            (ports, ())
        });
    }

    mod roles {
        use super::*;
        role_repository_contract!(async {
            let roles = Arc::new(MemoryRoleStore::default());
            let users = MemoryUserRepository::with_outbox_and_roles(Arc::default(), roles.clone());
            let ports: crate::contract::roles::Ports = (
                roles as Arc<dyn portcullis_application::ports::RoleRepository>,
                Arc::new(users) as Arc<dyn UserRepository>,
            );
            (ports, ())
        });
    }

    mod factors {
        use super::*;
        factor_store_contract!(async {
            let credentials = Arc::new(MemoryCredentialStore::default());
            let ports: crate::contract::factors::Ports = (
                Arc::new(MemoryFactorStore::with_credentials(credentials.clone()))
                    as Arc<dyn portcullis_application::ports::FactorStore>,
                Arc::new(MemoryUserRepository::default()) as Arc<dyn UserRepository>,
                credentials,
            );
            (ports, ())
        });
    }

    mod linked {
        use super::*;
        linked_account_store_contract!(async {
            let ports: crate::contract::linked::Ports = (
                Arc::new(MemoryLinkedAccounts::default())
                    as Arc<dyn portcullis_application::ports::LinkedAccountStore>,
                Arc::new(MemoryUserRepository::default()) as Arc<dyn UserRepository>,
            );
            (ports, ())
        });
    }

    mod credentials {
        use super::*;
        credential_store_contract!(async {
            let ports: crate::contract::credentials::Ports = (
                Arc::new(MemoryCredentialStore::default())
                    as Arc<dyn portcullis_application::ports::CredentialStore>,
                Arc::new(MemoryUserRepository::default()) as Arc<dyn UserRepository>,
            );
            (ports, ())
        });
    }

    mod ephemeral {
        use super::*;
        ephemeral_store_contract!(async {
            (
                Arc::new(MemoryEphemeralStore::new(clock()))
                    as Arc<dyn portcullis_application::ports::EphemeralStore>,
                (),
            )
        });
    }

    mod permission_cache {
        use super::*;
        permission_cache_contract!(async {
            (
                Arc::new(MemoryPermissionCache::new(clock()))
                    as Arc<dyn portcullis_application::ports::PermissionCache>,
                (),
            )
        });
    }

    mod rate_limit {
        use super::*;
        rate_limiter_contract!(async {
            (Arc::new(MemoryRateLimiter::new(clock())) as Arc<dyn RateLimiter>, ())
        });
    }

    mod login_attempts {
        use super::*;
        login_attempts_contract!(async {
            (Arc::new(MemoryLoginAttempts::new(clock())) as Arc<dyn LoginAttempts>, ())
        });
    }

    mod revocation {
        use super::*;
        revocation_list_contract!(async {
            (Arc::new(MemoryRevocationList::new(clock())) as Arc<dyn RevocationList>, ())
        });
    }

    mod jobs {
        use super::*;
        job_queue_contract!(async {
            (Arc::new(MemoryJobQueue::new(clock())) as Arc<dyn portcullis_application::ports::JobQueue>, ())
        });
    }

    mod one_time {
        use super::*;
        one_time_token_contract!(async {
            let ports: crate::contract::one_time::Ports = (
                Arc::new(MemoryOneTimeTokens::default())
                    as Arc<dyn portcullis_application::ports::OneTimeTokenStore>,
                Arc::new(MemoryUserRepository::default()) as Arc<dyn UserRepository>,
            );
            (ports, ())
        });
    }

    mod mail {
        use super::*;
        use crate::contract::mail::{Delivered, MailSink};

        struct OutboxSink(Arc<MemoryOutbox>);

        #[async_trait::async_trait]
        impl MailSink for OutboxSink {
            async fn delivered(&self) -> Vec<Delivered> {
                self.0
                    .messages()
                    .into_iter()
                    .map(|m| Delivered {
                        to: m.to,
                        subject: m.subject,
                        body: format!("{}\n{}", m.text, m.html),
                    })
                    .collect()
            }
        }

        mailer_contract!(async {
            let outbox = Arc::new(MemoryOutbox::default());
            let ports: crate::contract::mail::Ports = (outbox.clone(), Arc::new(OutboxSink(outbox)));
            (ports, ())
        });
    }

    mod texts {
        use super::*;
        use crate::contract::sms::SmsSink;
        use portcullis_application::ports::TextMessage;

        struct TextsSink(Arc<MemoryTexts>);

        #[async_trait::async_trait]
        impl SmsSink for TextsSink {
            async fn delivered(&self) -> Vec<TextMessage> {
                self.0.messages()
            }
        }

        sms_sender_contract!(async {
            let texts = Arc::new(MemoryTexts::default());
            let ports: crate::contract::sms::Ports = (texts.clone(), Arc::new(TextsSink(texts)));
            (ports, ())
        });
    }

    mod registration {
        use super::*;
        registration_contract!(async {
            let outbox = Arc::new(MemoryOutboxStore::default());
            let ports: crate::contract::registration::Ports = (
                Arc::new(MemoryUserRepository::with_outbox(outbox.clone())) as Arc<dyn UserRepository>,
                outbox,
            );
            (ports, ())
        });
    }

    mod outbox_store {
        use super::*;
        outbox_contract!(async {
            (Arc::new(MemoryOutboxStore::default()) as Arc<dyn portcullis_application::ports::Outbox>, ())
        });
    }

    mod files {
        use super::*;
        file_repository_contract!(async {
            let outbox = Arc::new(MemoryOutboxStore::default());
            let ports: crate::contract::files::Ports = (
                Arc::new(MemoryFileRepository::with_outbox(outbox.clone()))
                    as Arc<dyn portcullis_application::ports::FileRepository>,
                Arc::new(MemoryUserRepository::default()) as Arc<dyn UserRepository>,
                outbox,
            );
            (ports, ())
        });
    }

    mod events {
        use super::*;
        event_bus_contract!(async {
            let bus = Arc::new(MemoryEventBus::default());
            let ports: crate::contract::events::Ports = (bus.clone(), bus);
            (ports, ())
        });
    }

    mod objects {
        use super::*;
        object_store_contract!(async {
            (
                Arc::new(MemoryObjectStore::default()) as Arc<dyn portcullis_application::ports::ObjectStore>,
                (),
            )
        });
    }

    mod scanner {
        use super::*;
        virus_scanner_contract!(async {
            (
                Arc::new(MemoryVirusScanner::default())
                    as Arc<dyn portcullis_application::ports::VirusScanner>,
                (),
            )
        });
    }

    mod audit {
        use super::*;
        audit_log_contract!(async { (Arc::new(MemoryAuditLog::default()) as Arc<dyn AuditLog>, ()) });
    }
}
