//! The object-store contract against a real S3-compatible server that checks
//! SigV4 signatures: s3s-fs (crates.io; `.ci/run` and `make deps` install it
//! with `cargo install`). Each test starts its own server on a free port,
//! over a fresh directory, with its own access key and secret.

use portcullis_application::ports::{ObjectKey, ObjectStore, ObjectStoreError};
use portcullis_domain::secret::Secret;
use portcullis_infrastructure::s3::{S3Config, S3ObjectStore};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

pub const ACCESS_KEY: &str = "portcullis-test";
pub const SECRET_KEY: &str = "portcullis-test-secret-key-0123456789";
pub const BUCKET: &str = "uploads";

/// A private s3s-fs; stopped (and its directory removed) when dropped.
pub struct S3Server {
    child: Child,
    pub port: u16,
    dir: std::path::PathBuf,
}

/// `S3S_FS` when set, else `s3s-fs` on the PATH (where `cargo install` puts it).
fn binary() -> String {
    std::env::var("S3S_FS").unwrap_or_else(|_| "s3s-fs".to_owned())
}

impl S3Server {
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("portcullis-s3-{}", uuid::Uuid::new_v4().simple()));
        // s3s-fs serves each directory under its root as a bucket.
        std::fs::create_dir_all(dir.join(BUCKET)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(binary())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start s3s-fs: run `make deps` (cargo install s3s-fs): {e}"));
        let mut server = Self { child, port, dir };
        for _ in 0..300 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("s3s-fs exited: {status}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("s3s-fs did not listen on {port} within 15 s");
    }

    pub fn config(&self, secret: &str) -> S3Config {
        S3Config {
            endpoint: format!("http://127.0.0.1:{}", self.port),
            region: "us-east-1".into(),
            bucket: BUCKET.into(),
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: Secret::new(secret),
            force_path_style: true,
            timeout: Duration::from_secs(30),
        }
    }

    pub fn store(&self) -> S3ObjectStore {
        S3ObjectStore::new(&self.config(SECRET_KEY)).unwrap()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

mod contract {
    use super::*;
    portcullis_infrastructure::object_store_contract!(async {
        let server = S3Server::start();
        (Arc::new(server.store()) as Arc<dyn ObjectStore>, server)
    });
}

fn content(bytes: &'static [u8]) -> portcullis_application::ports::ByteStream {
    Box::pin(futures_util::stream::iter(vec![Ok(bytes::Bytes::from_static(bytes))]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_key_is_refused_by_the_server() {
    let server = S3Server::start();
    let key = ObjectKey::new("signed/by-the-wrong-key").unwrap();
    let forged = S3ObjectStore::new(&server.config("not-the-secret-key-at-all-0000000000")).unwrap();
    let refused = forged.put(&key, content(b"forged")).await.unwrap_err();
    assert!(matches!(refused, ObjectStoreError::Unavailable(_)), "{refused:?}");
    let chain = portcullis_application::error::chain(&refused);
    assert!(chain.contains("403") && chain.contains("SignatureDoesNotMatch"), "{chain}");
    assert_eq!(server.store().head(&key).await.unwrap(), None, "nothing was stored");
    // The right key, same server: accepted.
    server.store().put(&key, content(b"genuine")).await.unwrap();
    assert!(forged.head(&key).await.is_err(), "reads are checked too");
}

async fn read_all(store: &S3ObjectStore, key: &ObjectKey) -> Vec<u8> {
    use futures_util::StreamExt;
    let mut stream = store.get(key).await.unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_urls_are_checked_by_the_server() {
    use portcullis_application::ports::UrlPresigner;
    let server = S3Server::start();
    let store = server.store();
    let http = reqwest::Client::new();
    let key = ObjectKey::new("files/presigned/object").unwrap();
    let now = time::OffsetDateTime::now_utc();
    let body = b"month,total\njan,3\n".to_vec();
    let put =
        store.presign_put(&key, body.len() as u64, now + time::Duration::minutes(5), now).await.unwrap();
    assert_eq!(put.method, "PUT");
    // A body of another size than signed is refused by S3 itself.
    let wrong = http.put(&put.url).body(b"month,total\n".to_vec()).send().await.unwrap();
    assert_eq!(wrong.status(), 403, "{:?}", wrong.text().await);
    let mut tampered = put.url.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == '0' { '1' } else { '0' });
    assert_eq!(http.put(&tampered).body(body.clone()).send().await.unwrap().status(), 403);
    assert_eq!(store.head(&key).await.unwrap(), None, "nothing stored by refused requests");
    let ok = http.put(&put.url).body(body.clone()).send().await.unwrap();
    assert!(ok.status().is_success(), "{:?}", ok.text().await);
    assert_eq!(read_all(&store, &key).await, body);
    let get = store.presign_get(&key, "q1.csv", now + time::Duration::minutes(5), now).await.unwrap();
    let fetched = http.get(&get.url).send().await.unwrap();
    assert!(fetched.status().is_success());
    assert_eq!(fetched.bytes().await.unwrap().to_vec(), body);
    // An expired link: signed for one second, used after two.
    let now = time::OffsetDateTime::now_utc();
    let short = store.presign_get(&key, "q1.csv", now + time::Duration::seconds(1), now).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(http.get(&short.url).send().await.unwrap().status(), 403);
}
