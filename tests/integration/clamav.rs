//! The virus-scanner contract against a real clamd (Debian `clamav-daemon`,
//! installed by `make deps`). Each test run starts its own daemon on a free
//! port with a one-line signature database for the EICAR test string written
//! here: no freshclam, no network.

use portcullis_application::ports::VirusScanner;
use portcullis_infrastructure::clamav::{ClamdAddress, ClamdScanner};
use portcullis_infrastructure::eicar::{EICAR_SIGNATURE, eicar};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// A private clamd; stopped when dropped.
pub struct Clamd {
    child: Child,
    pub port: u16,
    dir: std::path::PathBuf,
}

impl Clamd {
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("portcullis-clamd-{}", uuid::Uuid::new_v4().simple()));
        let db = dir.join("db");
        std::fs::create_dir_all(&db).unwrap();
        let hex: String = eicar().iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(db.join("portcullis-test.ndb"), format!("{EICAR_SIGNATURE}:0:*:{hex}\n")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let conf = dir.join("clamd.conf");
        std::fs::write(
            &conf,
            format!(
                "Foreground yes\nDatabaseDirectory {}\nTCPSocket {port}\nTCPAddr 127.0.0.1\n\
                 StreamMaxLength 32M\nLogFile {}\nLogVerbose no\nMaxThreads 4\n",
                db.display(),
                dir.join("clamd.log").display()
            ),
        )
        .unwrap();
        let child = Command::new(clamd_binary())
            .arg("--config-file")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start clamd: run `make deps` (Debian clamav-daemon): {e}"));
        let mut clamd = Self { child, port, dir };
        for _ in 0..300 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return clamd;
            }
            if let Ok(Some(status)) = clamd.child.try_wait() {
                let log = std::fs::read_to_string(clamd.dir.join("clamd.log")).unwrap_or_default();
                panic!("clamd exited ({status}): {log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("clamd did not listen on {port} within 30 s");
    }

    pub fn scanner(&self) -> ClamdScanner {
        ClamdScanner::new(
            ClamdAddress::Tcp { host: "127.0.0.1".into(), port: self.port },
            Duration::from_secs(60),
        )
    }
}

fn clamd_binary() -> &'static str {
    ["/usr/sbin/clamd", "/usr/bin/clamd"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("clamd")
}

impl Drop for Clamd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

mod contract {
    use super::*;
    portcullis_infrastructure::virus_scanner_contract!(async {
        let clamd = Clamd::start();
        (Arc::new(clamd.scanner()) as Arc<dyn VirusScanner>, clamd)
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_version_names_clamav_and_a_stopped_daemon_is_unavailable() {
    let mut clamd = Clamd::start();
    let scanner = clamd.scanner();
    assert!(scanner.version().await.unwrap().starts_with("ClamAV"));
    let _ = clamd.child.kill();
    let _ = clamd.child.wait();
    assert!(matches!(scanner.version().await, Err(portcullis_application::ports::ScanError::Unavailable(_))));
}
