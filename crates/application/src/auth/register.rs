use super::AuthService;
use crate::error::AppError;
use crate::links::LinkPurpose;
use crate::ports::StoreError;
use portcullis_domain::ValidationErrors;
use portcullis_domain::audit::{AuditAction, RequestContext};
use portcullis_domain::email::Email;
use portcullis_domain::ids::UserId;
use portcullis_domain::password::normalize;
use portcullis_domain::secret::Secret;
use portcullis_domain::user::{DisplayName, User};
use serde_json::json;

#[derive(Debug, Clone)]
pub struct RegisterInput {
    pub email: String,
    pub password: Secret,
    pub display_name: Option<String>,
}

impl AuthService {
    /// Creates an account. Every invalid field is reported at once.
    pub async fn register(&self, input: RegisterInput, ctx: &RequestContext) -> Result<User, AppError> {
        let mut errors = ValidationErrors::default();
        let email = Email::parse(&input.email).map_err(|e| errors.extend(e)).ok();
        let display_name = match input.display_name.as_deref() {
            Some(raw) => DisplayName::parse(raw).map_err(|e| errors.extend(e)).ok(),
            None => None,
        };
        let context = super::strength_context(&input.email, display_name.as_ref().map(DisplayName::as_str));
        let password = normalize(&input.password);
        let check = self.validate_new_password("password", &password, context, errors).await?;
        let Some(email) = email else {
            return Err(AppError::Internal("email parsed without errors yet missing".into()));
        };
        if self.ports.users.find_by_email(&email).await?.is_some() {
            return Err(AppError::EmailTaken);
        }
        let password_hash = self.ports.hasher.hash(&password, Some(check)).await?;

        let now = self.ports.clock.now();
        let user = User {
            id: UserId::new(),
            email,
            display_name,
            password_hash,
            created_at: now,
            updated_at: now,
            email_verified_at: None,
        };
        // The account and its verification mail (an outbox entry) are written
        // together: a 201 always comes with its mail.
        let verification = self.link_request(LinkPurpose::Verification, &user.email, ctx)?;
        match self.ports.users.insert_promising(&user, &[verification], now).await {
            Ok(()) => {}
            // Lost a race with a concurrent registration of the same email.
            Err(StoreError::Conflict(_)) => return Err(AppError::EmailTaken),
            Err(e) => return Err(e.into()),
        }
        self.audit
            .record(AuditAction::UserRegistered, Some(user.id), ctx, json!({ "email": user.email.as_str() }))
            .await;
        Ok(user)
    }
}
