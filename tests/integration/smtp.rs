//! The SMTP adapter against a real SMTP server: Python's aiosmtpd (installed
//! by `.ci/run`), started per test on a free port, storing mail in a Maildir
//! that the test reads back.

use async_trait::async_trait;
use portcullis_application::ports::Mailer;
use portcullis_infrastructure::contract::mail::{Delivered, MailSink};
use portcullis_infrastructure::smtp::{SmtpConfig, SmtpMailer, SmtpTls};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

/// A running aiosmtpd; killed and its Maildir removed on drop.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    pub maildir: PathBuf,
}

impl SmtpServer {
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let maildir =
            std::env::temp_dir().join(format!("portcullis-maildir-{}", uuid::Uuid::new_v4().simple()));
        let child = Command::new("python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start aiosmtpd (pip install aiosmtpd): {e}"));
        let mut server = Self { child, port, maildir };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = server.child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                panic!("aiosmtpd exited ({status}): {err}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("aiosmtpd did not start listening on port {port}");
    }

    pub fn mailer(&self) -> SmtpMailer {
        SmtpMailer::new(&SmtpConfig {
            host: "127.0.0.1".into(),
            port: self.port,
            username: None,
            password: None,
            tls: SmtpTls::None,
            from: "Portcullis <no-reply@portcullis.test>".into(),
            timeout: std::time::Duration::from_secs(5),
            pool_size: 4,
        })
        .unwrap()
    }

    /// Every message in the Maildir, parsed.
    pub fn messages(&self) -> Vec<Delivered> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else { return Vec::new() };
        entries
            .filter_map(Result::ok)
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .map(|raw| parse(&raw))
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}

/// Headers we need, and the body with quoted-printable soft breaks and `=3D`
/// undone (enough to find markers and link tokens).
fn parse(raw: &str) -> Delivered {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    let header = |name: &str| {
        head.lines()
            .find(|l| l.to_ascii_lowercase().starts_with(&format!("{}:", name.to_ascii_lowercase())))
            .map(|l| l[name.len() + 1..].trim().to_owned())
            .unwrap_or_default()
    };
    let body = body.replace("=\n", "").replace("=3D", "=");
    Delivered { to: header("To"), subject: header("Subject"), body }
}

struct MaildirSink(Arc<SmtpServer>);

#[async_trait]
impl MailSink for MaildirSink {
    async fn delivered(&self) -> Vec<Delivered> {
        self.0.messages()
    }
}

mod contract {
    use super::*;
    portcullis_infrastructure::mailer_contract!(async {
        let server = Arc::new(SmtpServer::start());
        let ports: portcullis_infrastructure::contract::mail::Ports =
            (Arc::new(server.mailer()) as Arc<dyn Mailer>, Arc::new(MaildirSink(server.clone())));
        (ports, server)
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_a_transient_failure() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mailer = SmtpMailer::new(&SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        username: None,
        password: None,
        tls: SmtpTls::None,
        from: "no-reply@portcullis.test".into(),
        timeout: std::time::Duration::from_secs(2),
        pool_size: 1,
    })
    .unwrap();
    let message = portcullis_application::ports::OutgoingEmail {
        to: "ada@example.com".into(),
        subject: "s".into(),
        text: "t".into(),
        html: "<p>h</p>".into(),
    };
    let err = mailer.send(&message).await.unwrap_err();
    assert!(matches!(err, portcullis_application::ports::MailError::Transient(_)), "{err:?}");
}
