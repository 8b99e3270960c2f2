//! One contract suite per port. Each case is a plain `async fn` taking the
//! port; the `*_contract!` macros turn every case into a `#[tokio::test]` for a
//! given adapter factory, so the in-memory twin (always) and the real adapter
//! (in the integration suite) run exactly the same cases.
//!
//! A factory is an async expression yielding `(Arc<dyn Port>, guard)`; the
//! guard keeps per-test resources (a database, a key prefix) alive.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod audit;
pub mod jobs;
pub mod login_attempts;
pub mod mail;
pub mod one_time;
pub mod outbox;
pub mod rate_limit;
pub mod registration;
pub mod revocation;
pub mod sessions;
pub mod users;

/// Expands to one `#[tokio::test]` per listed case of `$module`.
#[macro_export]
macro_rules! contract_cases {
    ($module:path, $factory:expr, [$($case:ident),* $(,)?]) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                use $module as suite;
                let (port, _guard) = $factory.await;
                suite::$case(port).await;
            }
        )*
    };
}

#[macro_export]
macro_rules! user_repository_contract {
    ($factory:expr) => {
        $crate::contract_cases!(
            $crate::contract::users,
            $factory,
            [
                insert_then_find,
                duplicate_email_conflicts,
                concurrent_inserts_one_wins,
                updates,
                missing_user_is_not_found,
                email_verification_keeps_the_first_time,
            ]
        );
    };
}

#[macro_export]
macro_rules! session_store_contract {
    ($factory:expr) => {
        $crate::contract_cases!(
            $crate::contract::sessions,
            $factory,
            [
                rotation_chain,
                parent_within_grace_gets_sealed_child,
                reuse_revokes_the_family,
                expired_and_unknown_tokens,
                concurrent_rotation_mints_one_child,
                revoke_one_and_all_but_one,
                zero_grace_treats_parent_as_reuse,
                purge_removes_what_can_no_longer_be_used,
                revoked_since_lists_recent_revocations,
            ]
        );
    };
}

#[macro_export]
macro_rules! rate_limiter_contract {
    ($factory:expr) => {
        $crate::contract_cases!(
            $crate::contract::rate_limit,
            $factory,
            [allows_up_to_limit, keys_are_independent, window_slides, concurrent_hits_never_exceed_limit,]
        );
    };
}

#[macro_export]
macro_rules! login_attempts_contract {
    ($factory:expr) => {
        $crate::contract_cases!(
            $crate::contract::login_attempts,
            $factory,
            [
                a_lock_refuses_attempts,
                success_resets_the_count,
                concurrent_attempts_capped_at_threshold,
                lock_expires,
                released_attempts_do_not_count,
                concurrent_releases_restore_the_budget,
                reset_lifts_a_lock,
            ]
        );
    };
}

#[macro_export]
macro_rules! revocation_list_contract {
    ($factory:expr) => {
        $crate::contract_cases!(
            $crate::contract::revocation,
            $factory,
            [
                starts_cold_until_warmed,
                revoked_ids_are_found,
                warm_loads_entries,
                entries_expire,
                shorter_ttl_never_shortens,
            ]
        );
    };
}

#[macro_export]
macro_rules! audit_log_contract {
    ($factory:expr) => {
        $crate::contract_cases!(
            $crate::contract::audit,
            $factory,
            [
                lists_newest_first_with_cursor,
                only_the_users_events,
                duplicate_id_conflicts,
                details_round_trip,
                seen_from_matches_user_ip_action_and_time,
            ]
        );
    };
}

#[macro_export]
macro_rules! job_queue_contract {
    ($factory:expr) => {
        $crate::contract_cases!(
            $crate::contract::jobs,
            $factory,
            [
                enqueue_reserve_ack,
                first_in_first_out,
                delayed_jobs_wait_their_turn,
                idempotency_keys_deduplicate,
                visibility_timeout_redelivers,
                failures_retry_then_die,
                release_returns_the_job_at_once,
                concurrent_workers_get_each_job_once,
                queues_are_listed,
            ]
        );
    };
}

#[macro_export]
macro_rules! one_time_token_contract {
    ($factory:expr) => {
        $crate::contract_cases!(
            $crate::contract::one_time,
            $factory,
            [
                tokens_are_single_use,
                tokens_expire,
                a_new_token_supersedes_the_old,
                concurrent_consumers_one_wins,
                peek_does_not_use_the_token,
                invalidate_ends_outstanding_links,
            ]
        );
    };
}

#[macro_export]
macro_rules! mailer_contract {
    ($factory:expr) => {
        $crate::contract_cases!(
            $crate::contract::mail,
            $factory,
            [delivers_text_and_html, invalid_recipients_fail_for_good, concurrent_sends_all_arrive,]
        );
    };
}

#[macro_export]
macro_rules! registration_contract {
    ($factory:expr) => {
        $crate::contract_cases!(
            $crate::contract::registration,
            $factory,
            [promises_are_stored_with_the_user, a_conflict_stores_no_promise,]
        );
    };
}

#[macro_export]
macro_rules! outbox_contract {
    ($factory:expr) => {
        $crate::contract_cases!(
            $crate::contract::outbox,
            $factory,
            [
                claims_oldest_first_and_removes,
                a_lease_hides_then_returns_an_entry,
                concurrent_claims_are_disjoint,
            ]
        );
    };
}

/// A key prefix unique to one test, so Redis-backed cases run in parallel.
pub fn unique_prefix() -> String {
    format!("test:{}:", uuid::Uuid::new_v4().simple())
}
