//! Structured logging, and OpenTelemetry traces when a collector is set.
//!
//! Logs are JSON lines by default (one object per event, with the request
//! span's fields, so every line of a request carries its request_id). With
//! `OTEL_EXPORTER_OTLP_ENDPOINT` set, the same tracing spans are exported as
//! OTLP/HTTP (protobuf) to `{endpoint}/v1/traces` by a batch processor on its
//! own thread (blocking HTTP client: it has no async runtime there).

use crate::config::{Config, LogFormat};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Flushes and stops the trace exporter when dropped (end of `main`).
pub struct TelemetryGuard(Option<SdkTracerProvider>);

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.0.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("portcullis: flushing traces failed: {error}");
        }
    }
}

fn tracer_provider(config: &Config) -> Option<SdkTracerProvider> {
    let endpoint = config.telemetry.otlp_endpoint.as_deref()?;
    let traces = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    match SpanExporter::builder().with_http().with_endpoint(traces).build() {
        Ok(exporter) => Some(
            SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(
                    Resource::builder().with_service_name(config.telemetry.otel_service_name.clone()).build(),
                )
                .build(),
        ),
        Err(error) => {
            eprintln!("portcullis: OpenTelemetry exporter not started: {error}");
            None
        }
    }
}

/// Client protocol errors (a malformed request head, TLS spoken to a plain
/// port) are the client's fault, yet actix-http logs each at ERROR. They are
/// taken out of the log output and re-emitted at DEBUG under
/// `portcullis::client_protocol`, so a scanner cannot flood the error log.
fn is_client_protocol_error(meta: &tracing::Metadata<'_>) -> bool {
    *meta.level() == tracing::Level::ERROR && meta.target().starts_with("actix_http::h1")
}

struct ClientProtocolErrors;

#[derive(Default)]
struct MessageField(String);

impl tracing::field::Visit for MessageField {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for ClientProtocolErrors {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: tracing_subscriber::layer::Context<'_, S>) {
        if is_client_protocol_error(event.metadata()) {
            let mut message = MessageField::default();
            event.record(&mut message);
            tracing::debug!(target: "portcullis::client_protocol", error = %message.0, "malformed request from a client");
        }
    }
}

/// Installs the global subscriber; a second call (tests) is a no-op.
pub fn init(config: &Config) -> TelemetryGuard {
    let filter = EnvFilter::try_new(&config.telemetry.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stdout);
    let fmt = match config.telemetry.log_format {
        LogFormat::Json => {
            fmt.json().with_current_span(true).with_span_list(false).flatten_event(true).boxed()
        }
        LogFormat::Pretty => fmt.boxed(),
    }
    .with_filter(tracing_subscriber::filter::filter_fn(|meta| !is_client_protocol_error(meta)));
    let provider = tracer_provider(config);
    let otel = provider.as_ref().map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("portcullis")));
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(ClientProtocolErrors)
        .with(otel)
        .try_init()
        .is_ok();
    if installed && let Some(endpoint) = &config.telemetry.otlp_endpoint {
        tracing::info!(%endpoint, "exporting traces over OTLP/HTTP");
    }
    TelemetryGuard(if installed { provider } else { None })
}
