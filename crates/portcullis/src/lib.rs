//! The Portcullis binary's library half: configuration, wiring and the
//! server, so tests can start the real application in-process.

pub mod config;
pub mod metered;
pub mod telemetry;
pub mod wiring;
pub mod worker;

use actix_web::HttpServer;
use actix_web::dev::Server;
use config::Config;
use portcullis_http::AppState;
use std::net::TcpListener;

/// Starts serving `state` on an already-bound listener. Signals are left to
/// the caller (the binary stops the server gracefully on SIGTERM/Ctrl-C).
pub fn serve(state: AppState, listener: TcpListener, workers: usize) -> std::io::Result<Server> {
    let header_timeout = state.header_timeout;
    let server = HttpServer::new(move || portcullis_http::app(state.clone()))
        .workers(workers.max(1))
        .client_request_timeout(header_timeout)
        .disable_signals()
        .listen(listener)?
        .run();
    Ok(server)
}

/// Binds `HOST:PORT` from the configuration.
pub fn bind(config: &Config) -> std::io::Result<TcpListener> {
    TcpListener::bind((config.server.host.as_str(), config.server.port))
}
