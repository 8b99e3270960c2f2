use super::schema::devices;
use super::{PgPool, conn, db_error};
use async_trait::async_trait;
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;
use portcullis_application::ports::{DeviceStore, StoreError, Touched};
use portcullis_domain::device::Device;
use portcullis_domain::ids::{DeviceId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = devices, check_for_backend(diesel::pg::Pg))]
struct DeviceRow {
    id: Uuid,
    user_id: Uuid,
    key: String,
    name: String,
    trusted: bool,
    first_seen_at: OffsetDateTime,
    last_seen_at: OffsetDateTime,
    last_ip: Option<String>,
}

impl From<DeviceRow> for Device {
    fn from(r: DeviceRow) -> Self {
        Device {
            id: DeviceId(r.id),
            user_id: UserId(r.user_id),
            key: r.key,
            name: r.name,
            trusted: r.trusted,
            first_seen_at: r.first_seen_at,
            last_seen_at: r.last_seen_at,
            last_ip: r.last_ip,
        }
    }
}

#[derive(Clone)]
pub struct PgDeviceStore(PgPool);

impl PgDeviceStore {
    pub fn new(pool: PgPool) -> Self {
        Self(pool)
    }
}

#[async_trait]
impl DeviceStore for PgDeviceStore {
    async fn touch(
        &self,
        user: UserId,
        key: &str,
        name: &str,
        ip: Option<String>,
        now: OffsetDateTime,
    ) -> Result<Touched, StoreError> {
        let mut c = conn(&self.0).await?;
        let row = DeviceRow {
            id: DeviceId::new().as_uuid(),
            user_id: user.as_uuid(),
            key: key.to_owned(),
            name: name.to_owned(),
            trusted: false,
            first_seen_at: now,
            last_seen_at: now,
            last_ip: ip.clone(),
        };
        // One statement: concurrent first sightings create the device once.
        let stored: DeviceRow = diesel::insert_into(devices::table)
            .values(&row)
            .on_conflict((devices::user_id, devices::key))
            .do_update()
            .set((
                devices::last_seen_at.eq(excluded(devices::last_seen_at)),
                devices::last_ip.eq(excluded(devices::last_ip)),
            ))
            .returning(DeviceRow::as_returning())
            .get_result(&mut c)
            .await
            .map_err(db_error)?;
        let new = stored.id == row.id;
        let had_others = if new {
            diesel::select(diesel::dsl::exists(
                devices::table.filter(devices::user_id.eq(user.as_uuid())).filter(devices::id.ne(stored.id)),
            ))
            .get_result(&mut c)
            .await
            .map_err(db_error)?
        } else {
            true
        };
        Ok(Touched { device: stored.into(), new, had_others })
    }

    async fn list(&self, user: UserId) -> Result<Vec<Device>, StoreError> {
        let mut c = conn(&self.0).await?;
        let rows: Vec<DeviceRow> = devices::table
            .filter(devices::user_id.eq(user.as_uuid()))
            .order((devices::last_seen_at.desc(), devices::id.desc()))
            .select(DeviceRow::as_select())
            .load(&mut c)
            .await
            .map_err(db_error)?;
        Ok(rows.into_iter().map(Device::from).collect())
    }

    async fn set_trusted(
        &self,
        user: UserId,
        id: DeviceId,
        trusted: bool,
    ) -> Result<Option<Device>, StoreError> {
        let mut c = conn(&self.0).await?;
        let row: Option<DeviceRow> = diesel::update(
            devices::table.filter(devices::id.eq(id.as_uuid())).filter(devices::user_id.eq(user.as_uuid())),
        )
        .set(devices::trusted.eq(trusted))
        .returning(DeviceRow::as_returning())
        .get_result(&mut c)
        .await
        .optional()
        .map_err(db_error)?;
        Ok(row.map(Device::from))
    }

    async fn delete(&self, user: UserId, id: DeviceId) -> Result<bool, StoreError> {
        let mut c = conn(&self.0).await?;
        let deleted = diesel::delete(
            devices::table.filter(devices::id.eq(id.as_uuid())).filter(devices::user_id.eq(user.as_uuid())),
        )
        .execute(&mut c)
        .await
        .map_err(db_error)?;
        Ok(deleted > 0)
    }

    async fn purge_unused(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let mut c = conn(&self.0).await?;
        let deleted = diesel::delete(devices::table.filter(devices::last_seen_at.lt(before)))
            .execute(&mut c)
            .await
            .map_err(db_error)?;
        Ok(deleted as u64)
    }
}
