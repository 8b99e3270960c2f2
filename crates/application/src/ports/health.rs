use super::StoreError;
use async_trait::async_trait;

/// A backend that `/health/ready` checks.
#[async_trait]
pub trait HealthCheck: Send + Sync {
    /// Short name shown in the readiness report (`postgres`, `redis`).
    fn name(&self) -> &'static str;
    /// `Err` carries the cause, for operators' logs.
    async fn check(&self) -> Result<(), StoreError>;
}
