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

/// A throwaway CA and a server certificate it signed for 127.0.0.1.
pub struct TestCertificates {
    dir: PathBuf,
}

impl TestCertificates {
    pub fn create() -> Self {
        let dir = std::env::temp_dir().join(format!("portcullis-tls-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("server.ext"),
            "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        let d = |f: &str| dir.join(f).to_string_lossy().into_owned();
        let steps: [Vec<String>; 3] = [
            [
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=Portcullis Test CA",
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .chain(["-keyout".to_owned(), d("ca.key"), "-out".to_owned(), d("ca.pem")])
            .collect(),
            ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1"]
                .iter()
                .map(|s| (*s).to_owned())
                .chain(["-keyout".to_owned(), d("server.key"), "-out".to_owned(), d("server.csr")])
                .collect(),
            vec![
                "x509".to_owned(),
                "-req".to_owned(),
                "-in".to_owned(),
                d("server.csr"),
                "-CA".to_owned(),
                d("ca.pem"),
                "-CAkey".to_owned(),
                d("ca.key"),
                "-CAcreateserial".to_owned(),
                "-days".to_owned(),
                "1".to_owned(),
                "-extfile".to_owned(),
                d("server.ext"),
                "-out".to_owned(),
                d("server.pem"),
            ],
        ];
        for args in steps {
            let out = Command::new("openssl")
                .args(&args)
                .output()
                .expect("openssl is not installed: run `make deps`");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Self { dir }
    }

    pub fn path(&self, file: &str) -> String {
        self.dir.join(file).to_string_lossy().into_owned()
    }
}

impl Drop for TestCertificates {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl SmtpServer {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// With the certificates, the server offers (and requires) STARTTLS.
    pub fn start_with_starttls(certs: &TestCertificates) -> Self {
        Self::start_with(&["--tlscert", &certs.path("server.pem"), "--tlskey", &certs.path("server.key")])
    }

    fn start_with(extra: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let maildir =
            std::env::temp_dir().join(format!("portcullis-maildir-{}", uuid::Uuid::new_v4().simple()));
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(extra)
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start aiosmtpd: run `make deps` (pip install aiosmtpd): {e}"));
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
                panic!("aiosmtpd exited ({status}) — is it installed? run `make deps`: {err}");
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
            ca_cert_path: None,
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

    /// Waits (up to 5 s) for a message whose subject contains `subject`,
    /// and returns it with the token of its link that starts with `link`.
    pub async fn link_token(&self, subject: &str, link: &str) -> (Delivered, String) {
        for _ in 0..500 {
            if let Some(mail) = self.messages().into_iter().find(|m| m.subject.contains(subject)) {
                let start =
                    mail.body.find(link).unwrap_or_else(|| panic!("no {link} in {}", mail.body)) + link.len();
                let token: String = mail.body[start..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect();
                return (mail, token);
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("no mail with {subject:?} in its subject reached the SMTP server");
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
        ca_cert_path: None,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_with_a_private_ca() {
    let certs = TestCertificates::create();
    let server = SmtpServer::start_with_starttls(&certs);
    let config = |tls: SmtpTls, ca: Option<String>| SmtpConfig {
        host: "127.0.0.1".into(),
        port: server.port,
        username: None,
        password: None,
        tls,
        from: "Portcullis <no-reply@portcullis.test>".into(),
        timeout: std::time::Duration::from_secs(5),
        pool_size: 1,
        ca_cert_path: ca,
    };
    let message = |n: u32| portcullis_application::ports::OutgoingEmail {
        to: "ada@example.com".into(),
        subject: format!("over TLS {n}"),
        text: "t".into(),
        html: "<p>h</p>".into(),
    };
    // Trusting the private CA, STARTTLS succeeds.
    let trusted = SmtpMailer::new(&config(SmtpTls::StartTls, Some(certs.path("ca.pem")))).unwrap();
    trusted.send(&message(1)).await.unwrap();
    // Without it the certificate is refused: nothing goes out in clear text.
    let untrusted = SmtpMailer::new(&config(SmtpTls::StartTls, None)).unwrap();
    assert!(untrusted.send(&message(2)).await.is_err());
    let subjects: Vec<String> = server.messages().into_iter().map(|m| m.subject).collect();
    assert_eq!(subjects, vec!["over TLS 1".to_owned()]);
}
