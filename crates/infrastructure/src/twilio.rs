//! Text messages through Twilio's REST API: `POST
//! /2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded `To`,
//! `From`, `Body`, HTTP basic auth with the account SID and auth token.
//! Twilio answers 201 with the message resource, or an error object
//! `{code, message, more_info, status}`.

use async_trait::async_trait;
use portcullis_application::Cause;
use portcullis_application::ports::{SmsError, SmsSender};
use portcullis_domain::secret::Secret;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct TwilioConfig {
    pub account_sid: String,
    pub auth_token: Secret,
    /// The sender: a Twilio number (E.164) or a messaging service SID.
    pub from: String,
    /// `https://api.twilio.com`, or a stand-in in tests (`TWILIO_API_URL`).
    pub api_url: String,
    pub timeout: Duration,
}

pub struct TwilioSms {
    client: reqwest::Client,
    endpoint: String,
    config: TwilioConfig,
}

/// Twilio's error object (the fields used).
#[derive(Debug, Deserialize)]
struct TwilioError {
    code: Option<u32>,
    message: Option<String>,
}

/// The HTTP client could not be built (no TLS roots, say).
#[derive(Debug, thiserror::Error)]
#[error("the HTTP client for Twilio could not be built")]
pub struct TwilioSetupError(#[source] reqwest::Error);

impl TwilioSms {
    pub fn new(config: TwilioConfig) -> Result<Self, TwilioSetupError> {
        let client = reqwest::Client::builder().timeout(config.timeout).build().map_err(TwilioSetupError)?;
        let endpoint = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            config.api_url.trim_end_matches('/'),
            config.account_sid
        );
        Ok(Self { client, endpoint, config })
    }
}

#[async_trait]
impl SmsSender for TwilioSms {
    async fn send(&self, to: &str, body: &str) -> Result<(), SmsError> {
        let form = [("To", to), ("From", self.config.from.as_str()), ("Body", body)];
        let response = self
            .client
            .post(&self.endpoint)
            .basic_auth(&self.config.account_sid, Some(self.config.auth_token.expose()))
            .form(&form)
            .send()
            .await
            .map_err(|e| SmsError::Unavailable(Cause::context("Twilio could not be reached", e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // The error names Twilio's code (21211: invalid 'To'); never the body
        // sent, which holds the code.
        let error: Option<TwilioError> = response.json().await.ok();
        let detail = match error {
            Some(TwilioError { code, message }) => format!(
                "Twilio answered {status}: {} (code {})",
                message.unwrap_or_default(),
                code.map_or_else(|| "none".to_owned(), |c| c.to_string())
            ),
            None => format!("Twilio answered {status}"),
        };
        if status.as_u16() == 429 || status.is_server_error() {
            Err(SmsError::Unavailable(detail.into()))
        } else {
            Err(SmsError::Rejected(detail.into()))
        }
    }
}
