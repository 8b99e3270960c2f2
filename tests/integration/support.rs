use portcullis_infrastructure::redis::RedisStore;

pub fn redis_url() -> String {
    std::env::var("REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| panic!("REDIS_URL must be set for the Redis integration tests"))
}

/// A Redis store under a key prefix of its own; checks Redis answers.
pub async fn redis_store() -> RedisStore {
    let prefix = portcullis_infrastructure::contract::unique_prefix();
    let store = RedisStore::new(&redis_url(), &prefix, 8).unwrap();
    store.ping().await.unwrap_or_else(|e| panic!("Redis at REDIS_URL is unreachable: {e}"));
    store
}

/// A Redis server of one test's own (no persistence), to restart or stop
/// while an application uses it.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut redis = Self { port, child: None };
        redis.restart();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again), empty, and waits until it answers.
    pub fn restart(&mut self) {
        self.stop();
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is not installed: run `make deps` (Debian package redis-server)");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("private redis-server on port {} did not start", self.port);
    }

    /// Kills the server (nothing is kept: it has no persistence).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
