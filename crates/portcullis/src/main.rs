//! `portcullis serve` (default) runs the API; `portcullis migrate` applies the
//! database migrations and exits.

use portcullis::config::Config;
use portcullis::wiring::{Overrides, build_state};
use portcullis::{bind, serve, telemetry};
use std::process::ExitCode;

const USAGE: &str = "usage: portcullis [serve|migrate|help]

  serve    run the HTTP API (applies pending migrations first when DATABASE_URL is set)
  migrate  apply pending database migrations to DATABASE_URL and exit

Configuration comes from environment variables; see .env.example.";

fn load_config() -> Result<Config, ExitCode> {
    Config::from_env().map_err(|e| {
        eprintln!("portcullis: {e}");
        ExitCode::from(2)
    })
}

async fn run_serve() -> ExitCode {
    let config = match load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    telemetry::init(&config);
    if config.in_memory() {
        tracing::warn!(
            "RUNNING IN MEMORY: no DATABASE_URL, so NOTHING IS PERSISTED. Do not use this mode in production."
        );
    }
    let state = match build_state(&config, Overrides::default()).await {
        Ok(state) => state,
        Err(e) => {
            tracing::error!(error = %e, "start-up failed");
            eprintln!("portcullis: start-up failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match bind(&config) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("portcullis: cannot listen on {}:{}: {e}", config.host, config.port);
            return ExitCode::FAILURE;
        }
    };
    let address = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    tracing::info!(%address, "portcullis listening");
    match serve(state, listener, config.workers) {
        Ok(server) => match server.await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "server stopped with an error");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("portcullis: cannot start the server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_migrate() -> ExitCode {
    let config = match load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    telemetry::init(&config);
    let Some(url) = config.database_url.as_deref() else {
        eprintln!("portcullis: migrate needs DATABASE_URL");
        return ExitCode::from(2);
    };
    match portcullis_infrastructure::postgres::run_migrations(url) {
        Ok(applied) if applied.is_empty() => {
            tracing::info!("database is up to date");
            ExitCode::SUCCESS
        }
        Ok(applied) => {
            tracing::info!(versions = ?applied, "applied migrations");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("portcullis: migration failed: {e}");
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::print_stdout)] // `help` prints the usage to stdout, as asked.
fn main() -> ExitCode {
    let command = std::env::args().nth(1).unwrap_or_else(|| "serve".to_owned());
    match command.as_str() {
        "serve" => actix_web::rt::System::new().block_on(run_serve()),
        "migrate" => run_migrate(),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("portcullis: unknown command {other:?}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
