use super::StoreError;
use async_trait::async_trait;
use portcullis_domain::device::Device;
use portcullis_domain::ids::{DeviceId, UserId};
use time::OffsetDateTime;

/// What recording a sign-in's device found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touched {
    pub device: Device,
    /// The device was seen for the first time.
    pub new: bool,
    /// The user had other devices already (a first device is no news).
    pub had_others: bool,
}

/// The devices users sign in from. Keys are unique per user.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Records a sign-in from the device `key` of `user`: creates it (named
    /// `name`, untrusted) or refreshes its last sighting. Atomic: concurrent
    /// sign-ins from one new device create it once.
    async fn touch(
        &self,
        user: UserId,
        key: &str,
        name: &str,
        ip: Option<String>,
        now: OffsetDateTime,
    ) -> Result<Touched, StoreError>;
    /// The user's devices, most recently seen first.
    async fn list(&self, user: UserId) -> Result<Vec<Device>, StoreError>;
    /// Marks one of the user's devices trusted or not; `None` if the user has
    /// no such device.
    async fn set_trusted(
        &self,
        user: UserId,
        id: DeviceId,
        trusted: bool,
    ) -> Result<Option<Device>, StoreError>;
    /// Forgets one of the user's devices; `false` if there was none.
    async fn delete(&self, user: UserId, id: DeviceId) -> Result<bool, StoreError>;
    /// Forgets devices last seen before `before`; returns how many.
    async fn purge_unused(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}
