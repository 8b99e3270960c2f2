use super::lock;
use async_trait::async_trait;
use portcullis_application::ports::{DeviceStore, StoreError, Touched};
use portcullis_domain::device::Device;
use portcullis_domain::ids::{DeviceId, UserId};
use std::collections::HashMap;
use std::sync::Mutex;
use time::OffsetDateTime;

/// Devices by id, under one mutex (so a first sighting is created once).
#[derive(Default)]
pub struct MemoryDeviceStore(Mutex<HashMap<DeviceId, Device>>);

#[async_trait]
impl DeviceStore for MemoryDeviceStore {
    async fn touch(
        &self,
        user: UserId,
        key: &str,
        name: &str,
        ip: Option<String>,
        now: OffsetDateTime,
    ) -> Result<Touched, StoreError> {
        let mut devices = lock(&self.0);
        let had_others = devices.values().any(|d| d.user_id == user && d.key != key);
        if let Some(known) = devices.values_mut().find(|d| d.user_id == user && d.key == key) {
            known.last_seen_at = now;
            known.last_ip = ip.clone();
            return Ok(Touched { device: known.clone(), new: false, had_others: true });
        }
        let device = Device {
            id: DeviceId::new(),
            user_id: user,
            key: key.to_owned(),
            name: name.to_owned(),
            trusted: false,
            first_seen_at: now,
            last_seen_at: now,
            last_ip: ip.clone(),
        };
        devices.insert(device.id, device.clone());
        Ok(Touched { device, new: true, had_others })
    }

    async fn list(&self, user: UserId) -> Result<Vec<Device>, StoreError> {
        let mut listed: Vec<Device> = lock(&self.0).values().filter(|d| d.user_id == user).cloned().collect();
        listed.sort_by_key(|d| std::cmp::Reverse((d.last_seen_at, d.id)));
        Ok(listed)
    }

    async fn set_trusted(
        &self,
        user: UserId,
        id: DeviceId,
        trusted: bool,
    ) -> Result<Option<Device>, StoreError> {
        let mut devices = lock(&self.0);
        Ok(devices.get_mut(&id).filter(|d| d.user_id == user).map(|d| {
            d.trusted = trusted;
            d.clone()
        }))
    }

    async fn delete(&self, user: UserId, id: DeviceId) -> Result<bool, StoreError> {
        let mut devices = lock(&self.0);
        if devices.get(&id).is_some_and(|d| d.user_id == user) {
            devices.remove(&id);
            return Ok(true);
        }
        Ok(false)
    }

    async fn purge_unused(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let mut devices = lock(&self.0);
        let count = devices.len();
        devices.retain(|_, d| d.last_seen_at >= before);
        Ok((count - devices.len()) as u64)
    }
}
