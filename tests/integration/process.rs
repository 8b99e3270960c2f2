//! The real binary: start-up, and graceful stop on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

struct Running {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

fn start(args: &[&str], env: &[(&str, String)]) -> Running {
    start_in(&std::env::current_dir().unwrap(), args, env)
}

/// The binary with only `env` (and PATH), in the working directory `dir`.
fn start_in(dir: &std::path::Path, args: &[&str], env: &[(&str, String)]) -> Running {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command.current_dir(dir).args(args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("binary starts");
    let (tx, lines) = channel();
    for stream in [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    Running { child, lines, seen: Vec::new() }
}

impl Running {
    fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(100)) {
                let found = line.contains(needle);
                self.seen.push(line);
                if found {
                    return;
                }
            }
        }
        panic!("{needle:?} never appeared; output:\n{}", self.seen.join("\n"));
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push(line);
                }
                return status;
            }
            assert!(Instant::now() < deadline, "did not stop within 20 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn base_env() -> Vec<(&'static str, String)> {
    vec![
        ("LOG_FORMAT", "json".into()),
        ("LOG_LEVEL", "info".into()),
        ("HOST", "127.0.0.1".into()),
        ("PORT", "0".into()),
        ("ARGON2_MEMORY_KIB", "64".into()),
        ("ARGON2_ITERATIONS", "1".into()),
    ]
}

#[test]
fn worker_stops_gracefully_on_sigterm() {
    let db = portcullis_infrastructure::postgres::test_db::TestDatabase::new();
    let mut env = base_env();
    env.push(("REDIS_URL", crate::support::redis_url()));
    env.push(("REDIS_KEY_PREFIX", portcullis_infrastructure::contract::unique_prefix()));
    env.push(("DATABASE_URL", db.url().to_owned()));
    env.push((
        "JWT_PRIVATE_KEY_PATH",
        format!("{}/../infrastructure/testdata/ed25519.pem", env!("CARGO_MANIFEST_DIR")),
    ));
    env.push(("ENCRYPTION_KEYS", "test:dGVzdCBrZXkgZm9yIGludGVncmF0aW9uIHRlc3RzISE=".to_owned()));
    let mut worker = start(&["worker"], &env);
    worker.wait_for("workers started");
    let status = worker.terminate();
    assert!(status.success(), "{status}: {}", worker.seen.join("\n"));
    assert!(worker.seen.iter().any(|l| l.contains("workers stopped")), "{}", worker.seen.join("\n"));
}

#[test]
fn serve_in_memory_stops_gracefully_on_sigterm() {
    let mut server = start(&["serve"], &base_env());
    server.wait_for("portcullis listening");
    assert!(server.seen.iter().any(|l| l.contains("NOTHING IS PERSISTED")), "the in-memory warning is loud");
    let status = server.terminate();
    assert!(status.success(), "{status}: {}", server.seen.join("\n"));
    assert!(server.seen.iter().any(|l| l.contains("workers stopped")), "{}", server.seen.join("\n"));
}

#[test]
fn bad_configuration_names_the_variable_and_exits_2() {
    let mut env = base_env();
    env.push(("JWT_ACCESS_TOKEN_EXPIRY", "soon".into()));
    env.push(("SMTP_HOST", "localhost".into()));
    env.push(("SMTP_TLS", "ssl2".into()));
    let mut bad = start(&["serve"], &env);
    let status = bad.child.wait().unwrap();
    while let Ok(line) = bad.lines.recv_timeout(Duration::from_millis(200)) {
        bad.seen.push(line);
    }
    assert_eq!(status.code(), Some(2));
    let output = bad.seen.join("\n");
    assert!(output.contains("JWT_ACCESS_TOKEN_EXPIRY") && output.contains("SMTP_TLS"), "{output}");
}

#[test]
fn worker_refuses_to_run_without_redis() {
    let mut worker = start(&["worker"], &base_env());
    let status = worker.child.wait().unwrap();
    assert_eq!(status.code(), Some(2));
}

/// A worker whose stores differ from the server's (a shared queue, but users
/// and the outbox in a memory of its own) refuses to start, saying why.
#[test]
fn a_worker_without_the_servers_database_refuses_to_start() {
    let mut env = base_env();
    env.push(("REDIS_URL", crate::support::redis_url()));
    let mut worker = start(&["worker"], &env);
    let status = worker.child.wait().unwrap();
    while let Ok(line) = worker.lines.recv_timeout(Duration::from_millis(200)) {
        worker.seen.push(line);
    }
    assert_eq!(status.code(), Some(2));
    assert!(worker.seen.join("\n").contains("DATABASE_URL"), "{}", worker.seen.join("\n"));
}

/// (request line, content type, body) of one request.
type Recorded = (String, String, Vec<u8>);

/// A stand-in OTLP/HTTP collector: records each request, answers 200.
struct Collector {
    port: u16,
    received: std::sync::Arc<std::sync::Mutex<Vec<Recorded>>>,
}

impl Collector {
    fn start() -> Self {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                let (mut length, mut content_type) = (0usize, String::new());
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                        break;
                    }
                    let lower = header.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    if let Some(v) = lower.strip_prefix("content-type:") {
                        content_type = v.trim().to_owned();
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                sink.lock().unwrap().push((request_line.trim().to_owned(), content_type, body));
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
                );
            }
        });
        Self { port, received }
    }
}

#[test]
fn request_spans_are_exported_over_otlp_http() {
    use std::io::{Read, Write};
    let collector = Collector::start();
    let mut env = base_env();
    env.push(("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://127.0.0.1:{}", collector.port)));
    env.push(("OTEL_SERVICE_NAME", "portcullis-otlp-test".into()));
    let mut server = start(&["serve"], &env);
    server.wait_for("portcullis listening");
    let line = server.seen.iter().find(|l| l.contains("portcullis listening")).unwrap().clone();
    let address = line.split("\"address\":\"").nth(1).unwrap().split('"').next().unwrap().to_owned();

    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    stream
        .write_all(b"GET /health/live HTTP/1.1\r\nhost: test\r\nx-request-id: otlp-trace-check\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    // Stopping flushes the batch exporter.
    assert!(server.terminate().success(), "{}", server.seen.join("\n"));
    let received = collector.received.lock().unwrap().clone();
    let traces =
        received.iter().find(|(line, _, _)| line.starts_with("POST /v1/traces")).unwrap_or_else(|| {
            panic!("no OTLP export; got {:?}", received.iter().map(|r| &r.0).collect::<Vec<_>>())
        });
    assert_eq!(traces.1, "application/x-protobuf");
    let body = String::from_utf8_lossy(&traces.2);
    assert!(body.contains("portcullis-otlp-test"), "the service name travels in the resource");
    assert!(body.contains("otlp-trace-check"), "the request span carries its request id");
}

/// Hardening #14: a client speaking garbage (or TLS to the plain port) is not
/// an error of ours: nothing reaches the log at ERROR; the events are at DEBUG
/// under `portcullis::client_protocol`.
#[test]
fn malformed_requests_do_not_flood_the_error_log() {
    use std::io::Write;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut env = base_env();
    env.retain(|(k, _)| *k != "PORT" && *k != "LOG_LEVEL");
    env.push(("PORT", port.to_string()));
    env.push(("LOG_LEVEL", "info,portcullis::client_protocol=debug".into()));
    let mut server = start(&["serve"], &env);
    server.wait_for("portcullis listening");
    for payload in [&b"GARBAGE\r\n\r\n"[..], &b"\x16\x03\x01\x00\xa5\x01\x00\x00"[..]].iter().cycle().take(20)
    {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let _ = stream.write_all(payload);
        std::thread::sleep(Duration::from_millis(20));
    }
    server.wait_for("malformed request from a client");
    let status = server.terminate();
    assert!(status.success());
    let errors: Vec<&String> = server.seen.iter().filter(|l| l.contains(r#""level":"ERROR""#)).collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

/// ASVS review #9: the access log line carries the client address, and a
/// client's X-Request-Id as `client_request_id` beside our own id.
#[test]
fn the_access_log_names_the_client_and_its_request_id() {
    use std::io::{Read, Write};
    let mut server = start(&["serve"], &base_env());
    server.wait_for("portcullis listening");
    let line = server.seen.iter().find(|l| l.contains("portcullis listening")).unwrap().clone();
    let address = line.split("\"address\":\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    stream
        .write_all(b"GET /health/live HTTP/1.1\r\nhost: test\r\nx-request-id: client-says-42\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(!response.to_ascii_lowercase().contains("x-request-id: client-says-42"), "{response}");
    server.wait_for("request completed");
    let access = server.seen.iter().find(|l| l.contains("request completed")).unwrap();
    let json: serde_json::Value = serde_json::from_str(access).unwrap();
    assert_eq!(json["client_ip"], "127.0.0.1", "{access}");
    assert_eq!(json["client_request_id"], "client-says-42", "{access}");
    assert_ne!(json["request_id"], "client-says-42", "{access}");
    assert!(server.terminate().success());
}

/// A `.env` in the working directory fills in what the environment does not
/// set (`cp .env.example .env` works); the real environment wins.
#[test]
fn a_dot_env_file_is_read_from_the_working_directory() {
    let dir = std::env::temp_dir().join(format!("portcullis-cwd-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(".env"),
        "LOG_FORMAT=json\nOTEL_SERVICE_NAME=from-dot-env\nJWT_ACCESS_TOKEN_EXPIRY=soon\n",
    )
    .unwrap();
    // The file's bad value is reported like any other...
    let mut bad = start_in(&dir, &["serve"], &[]);
    assert_eq!(bad.child.wait().unwrap().code(), Some(2));
    while let Ok(line) = bad.lines.recv_timeout(Duration::from_millis(200)) {
        bad.seen.push(line);
    }
    assert!(bad.seen.join("\n").contains("JWT_ACCESS_TOKEN_EXPIRY"), "{}", bad.seen.join("\n"));
    // ...and the environment overrides it.
    let mut env = base_env();
    env.push(("JWT_ACCESS_TOKEN_EXPIRY", "15m".into()));
    let mut server = start_in(&dir, &["serve"], &env);
    server.wait_for("read settings from .env");
    server.wait_for("portcullis listening");
    assert!(server.terminate().success());
    let _ = std::fs::remove_dir_all(dir);
}

/// First hour: in memory mode (nothing real), each mail is printed to the
/// console, so the links in it can be opened without a mail catcher.
#[test]
fn development_mail_is_printed_to_the_console() {
    use std::io::{Read, Write};
    let mut server = start(&["serve"], &base_env());
    server.wait_for("portcullis listening");
    let line = server.seen.iter().find(|l| l.contains("portcullis listening")).unwrap().clone();
    let address = line.split("\"address\":\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let body = r#"{"email":"ada@example.com","password":"lantern quartz meadow harbor"}"#;
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    write!(
        stream,
        "POST /api/v1/auth/register HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    server.wait_for("DEVELOPMENT MAIL");
    server.wait_for("/verify-email?token=");
    assert!(server.terminate().success());
}
