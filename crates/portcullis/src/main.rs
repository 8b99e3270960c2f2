//! `portcullis serve` (default) runs the API (and, when configured, workers);
//! `portcullis worker` runs background workers only; `portcullis migrate`
//! applies the database migrations and exits.

use portcullis::config::{Config, DotEnv, RelationalBackend, SharedBackend};
use portcullis::wiring::{Overrides, build};
use portcullis::{bind, serve, telemetry};
use portcullis_application::error::chain;
use std::process::ExitCode;

const USAGE: &str = "usage: portcullis [serve|worker|migrate|help]

  serve    run the HTTP API (applies pending migrations first when DATABASE_URL is set);
           with RUN_WORKERS_IN_PROCESS=true (the default without REDIS_URL) also the workers
  worker   run the background workers until SIGTERM or Ctrl-C, then stop gracefully
  migrate  apply pending database migrations to DATABASE_URL and exit

Configuration comes from environment variables; see .env.example.";

fn load_config() -> Result<(Config, DotEnv), ExitCode> {
    Config::from_env().map_err(|e| {
        eprintln!("portcullis: {e}");
        ExitCode::from(2)
    })
}

/// Says (once logging is up) whether a `.env` file filled in settings.
fn report_dot_env(dot_env: &DotEnv) {
    if let Some(path) = &dot_env.path {
        tracing::info!(path = %path.display(), "read settings from .env (the environment overrides it)");
    }
}

async fn run_serve() -> ExitCode {
    let (config, dot_env) = match load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let _telemetry = telemetry::init(&config);
    report_dot_env(&dot_env);
    if config.in_memory() {
        tracing::warn!(
            "RUNNING IN MEMORY: no DATABASE_URL, so NOTHING IS PERSISTED. Do not use this mode in production."
        );
    }
    let app = match build(&config, Overrides::default()).await {
        Ok(app) => app,
        Err(e) => {
            let cause = chain(&e);
            tracing::error!(error = %cause, "start-up failed");
            eprintln!("portcullis: start-up failed: {cause}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match bind(&config) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("portcullis: cannot listen on {}:{}: {e}", config.server.host, config.server.port);
            return ExitCode::FAILURE;
        }
    };
    let address = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let stop = shutdown_signal();
    tracing::info!(%address, "portcullis listening");
    if !config.jobs.in_process {
        tracing::warn!(
            "RUN_WORKERS_IN_PROCESS=false: background jobs (mail, clean-ups) wait until a `portcullis worker` runs"
        );
    }
    let workers = config.jobs.in_process.then(|| app.worker.start());
    let app_audit = app.audit_writer.clone();
    let outcome = match serve(app.state, listener, config.server.workers) {
        Ok(server) => {
            let handle = server.handle();
            actix_web::rt::spawn(async move {
                stop.await;
                tracing::info!("stop requested: draining connections");
                // Graceful: in-flight requests finish (up to 30 s).
                handle.stop(true).await;
            });
            match server.await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "server stopped with an error");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("portcullis: cannot start the server: {e}");
            ExitCode::FAILURE
        }
    };
    if let Some(workers) = workers {
        workers.shutdown().await;
    }
    if let Some(audit) = &app_audit {
        audit.flush().await;
    }
    outcome
}

/// Resolves on SIGTERM or Ctrl-C. The SIGTERM handler is installed when this
/// is called (not when first polled), so a signal right after start-up is
/// never lost to the default action.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        #[cfg(unix)]
        if let Some(mut term) = term {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn run_worker() -> ExitCode {
    let (config, dot_env) = match load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let _telemetry = telemetry::init(&config);
    report_dot_env(&dot_env);
    if config.redis.backend == SharedBackend::Memory {
        eprintln!("portcullis: worker needs REDIS_URL (without it the queue lives inside `serve`)");
        return ExitCode::from(2);
    }
    if config.database.backend == RelationalBackend::Memory {
        eprintln!(
            "portcullis: worker needs DATABASE_URL, the same as the server's: its jobs read users and the outbox, which an in-memory store of its own would not have"
        );
        return ExitCode::from(2);
    }
    let app = match build(&config, Overrides::default()).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("portcullis: start-up failed: {}", chain(&e));
            return ExitCode::FAILURE;
        }
    };
    let stop = shutdown_signal();
    let workers = app.worker.start();
    stop.await;
    tracing::info!("stop requested: finishing running jobs");
    workers.shutdown().await;
    if let Some(audit) = &app.audit_writer {
        audit.flush().await;
    }
    ExitCode::SUCCESS
}

fn run_migrate() -> ExitCode {
    let (config, dot_env) = match load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let _telemetry = telemetry::init(&config);
    report_dot_env(&dot_env);
    let Some(url) = config.database.url() else {
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
        "worker" => match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
            Ok(runtime) => runtime.block_on(run_worker()),
            Err(e) => {
                eprintln!("portcullis: cannot start the runtime: {e}");
                ExitCode::FAILURE
            }
        },
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
