//! Real processes for the end-to-end and fault tests: an Apache Kafka node started through
//! `deploy/kafka/node.sh` (killed with SIGKILL and restarted on the same data and ports), the
//! real `switchboard` binary, free ports and waits.

use std::fs::File;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `switchboard` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

/// How long a Kafka node may take to start (a JVM on 2 busy cores).
const KAFKA_START_LIMIT: Duration = Duration::from_secs(120);

/// A child process killed when the test ends, however it ends.
pub struct Running(pub Child);

impl Running {
    /// Sends SIGKILL and reaps the process.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// Sends SIGTERM (a graceful stop request).
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "SIGTERM delivered");
    }

    /// Waits up to `within` for the process to exit; its exit status, or `None` if it still runs.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Held by each test that starts a Kafka node or `serve`, so those run one at a time: a JVM
/// and a service per test, all at once on 2 cores, would time each other out.
pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    ONE_AT_A_TIME.lock().await
}

/// A TCP port on 127.0.0.1 that nothing was bound to a moment ago, below the kernel's
/// ephemeral range: a port of that range may be taken by an outgoing connection before the
/// node or service it is for binds it (`deploy/common.sh` picks its ports the same way).
pub fn free_port() -> u16 {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    let low = 10_000;
    if ephemeral_low <= low + 1_000 {
        return TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
    }
    loop {
        let port = rand::Rng::gen_range(&mut rand::thread_rng(), low..ephemeral_low);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Waits until something accepts connections on 127.0.0.1:`port`.
pub fn wait_for_port(port: u16, within: Duration) {
    let deadline = Instant::now() + within;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One Apache Kafka node (KRaft, broker and controller) with its own data folder and ports.
pub struct KafkaNode {
    dir: PathBuf,
    port: u16,
    controller_port: u16,
    process: Option<Running>,
    starts: usize,
}

impl KafkaNode {
    /// Formats a fresh node and starts it; returns once it serves.
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("sb-kafka-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut node = Self {
            dir,
            port: free_port(),
            controller_port: free_port(),
            process: None,
            starts: 0,
        };
        node.launch();
        node
    }

    /// `host:port` for clients.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// SIGKILL: no flush, no controlled shutdown.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// Starts the node again on the same data and ports; returns once it serves.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join(format!("node-{}.log", self.starts))
    }

    fn launch(&mut self) {
        self.starts += 1;
        let log = self.log_path();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/kafka/node.sh");
        let output = File::create(&log).unwrap();
        let child = Command::new("bash")
            .arg(script)
            .arg(&self.dir)
            .arg(self.port.to_string())
            .arg(self.controller_port.to_string())
            .env("SWITCHBOARD_KAFKA_HEAP", "384m")
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            .stdin(Stdio::null())
            .spawn()
            .expect("deploy/kafka/node.sh starts");
        let mut process = Running(child);
        let deadline = Instant::now() + KAFKA_START_LIMIT;
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("Kafka Server started") {
                break;
            }
            if let Some(status) = process.0.try_wait().unwrap() {
                panic!("the Kafka node exited ({status}):\n{}", tail(&text));
            }
            assert!(
                Instant::now() < deadline,
                "the Kafka node did not start within {KAFKA_START_LIMIT:?}:\n{}",
                tail(&text)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        wait_for_port(self.port, Duration::from_secs(10));
        self.process = Some(process);
    }
}

impl Drop for KafkaNode {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// The `switchboard` binary with only `PATH` and `env` in its environment.
pub fn switchboard(env: &[(&str, String)]) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

/// A PostgreSQL server of the test's own (through `deploy/postgres/node.sh`), which the test
/// may stop abruptly and start again on the same data.
pub struct PostgresServer {
    dir: PathBuf,
    port: u16,
    process: Option<Running>,
}

impl PostgresServer {
    /// Initialises a fresh data folder, starts the server and waits until it answers.
    pub async fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("sb-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = Self {
            dir,
            port: free_port(),
            process: None,
        };
        server.launch().await;
        server
    }

    /// The URL of `database` on this server.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// An immediate shutdown (SIGQUIT: no checkpoint, crash recovery at the next start).
    pub fn stop_abruptly(&mut self) {
        if let Some(mut process) = self.process.take() {
            let pid = process.0.id().to_string();
            let _ = Command::new("kill").args(["-QUIT", &pid]).status();
            if process.wait_exit(Duration::from_secs(30)).is_none() {
                process.kill();
            }
        }
    }

    /// Starts the server again on the same data and port.
    pub async fn restart(&mut self) {
        self.stop_abruptly();
        self.launch().await;
    }

    async fn launch(&mut self) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/postgres/node.sh");
        let log = File::create(self.dir.with_extension("log")).unwrap();
        let child = Command::new("bash")
            .arg(script)
            .arg(self.dir.join("data"))
            .arg(self.port.to_string())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("deploy/postgres/node.sh starts");
        self.process = Some(Running(child));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(pool) = sqlx::PgPool::connect(&self.url("postgres")).await {
                pool.close().await;
                return;
            }
            let log = std::fs::read_to_string(self.dir.with_extension("log")).unwrap_or_default();
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not start:\n{}",
                tail(&log)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop_abruptly();
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(self.dir.with_extension("log"));
    }
}
