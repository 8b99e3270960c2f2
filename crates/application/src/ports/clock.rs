use time::OffsetDateTime;

/// The current time. Injected so tests can move time instead of sleeping.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}
