//! A real `trainer-svc serve` child process for the process-level tests: spawned with the flags
//! every such test shares plus its own, killed when its guard is dropped, and reached over gRPC
//! (Trainer and health) once its health service answers.
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::pb::trainer_client::TrainerClient;
use tonic::transport::Channel;
use tonic_health::pb::{health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest};

/// The health service name the trainer reports on.
const SERVICE: &str = "lstm.v1.Trainer";

/// A child process, killed (and reaped) when the guard is dropped.
pub struct ChildGuard(Child);

impl ChildGuard {
    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How to start one trainer-svc process.
pub struct Launch<'a> {
    /// The network namespace to run it in (`ip netns exec NS`), or the test's own.
    pub netns: Option<&'a str>,
    /// Its gRPC address (`--listen`).
    pub addr: SocketAddr,
    /// Its registry (`--database-url`).
    pub db_url: &'a str,
    /// The test's own flags, after those every test shares (`--console-listen ''`,
    /// `--cpu-threads 1`, `--health-check-ms 200`).
    pub flags: &'a [&'a str],
    /// Environment variables set on it (`DATABASE_URL` and `AUTH_TOKEN` are removed first).
    pub envs: &'a [(&'a str, &'a str)],
    /// What health must answer before [`Trainer::start`] returns: that status, or any answer.
    pub ready: Option<ServingStatus>,
}

/// A trainer-svc process, killed when dropped.
pub struct Trainer {
    child: ChildGuard,
    /// Its gRPC address.
    pub addr: SocketAddr,
}

impl Trainer {
    /// Spawns the process of `launch` and waits up to 60 s for its health to be ready.
    pub async fn start(launch: Launch<'_>) -> Trainer {
        let bin = env!("CARGO_BIN_EXE_trainer-svc");
        let mut cmd = match launch.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, bin]);
                c
            }
            None => Command::new(bin),
        };
        let addr = launch.addr;
        cmd.args(["serve", "--listen", &addr.to_string(), "--console-listen", ""])
            .args(["--database-url", launch.db_url])
            .args(["--cpu-threads", "1", "--health-check-ms", "200"])
            .args(launch.flags)
            .env_remove("DATABASE_URL")
            .env_remove("AUTH_TOKEN")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, v) in launch.envs {
            cmd.env(k, v);
        }
        let t = Trainer { child: ChildGuard(cmd.spawn().expect("spawn trainer-svc")), addr };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let now = t.serving().await;
            if matches!(now, Ok(s) if launch.ready.is_none_or(|want| s == want)) {
                return t;
            }
            assert!(Instant::now() < deadline, "trainer-svc on {addr} not ready ({:?} wanted): {now:?}", launch.ready);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A new connection to its gRPC address.
    pub async fn channel(&self) -> anyhow::Result<Channel> {
        Ok(Channel::from_shared(format!("http://{}", self.addr))?.connect().await?)
    }

    /// A Trainer client on a new connection.
    pub async fn client(&self) -> anyhow::Result<TrainerClient<Channel>> {
        Ok(TrainerClient::new(self.channel().await?))
    }

    /// What its health reports for `lstm.v1.Trainer` now.
    pub async fn serving(&self) -> anyhow::Result<ServingStatus> {
        let r = HealthClient::new(self.channel().await?)
            .check(HealthCheckRequest { service: SERVICE.into() })
            .await?;
        Ok(r.into_inner().status())
    }

    /// Waits up to 15 s for health of `lstm.v1.Trainer` to read `want`.
    pub async fn until_status(&self, want: ServingStatus, when: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let now = self.serving().await?;
            if now == want {
                return Ok(());
            }
            assert!(Instant::now() < deadline, "health stayed {now:?} {when}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends `sig` (as `kill` spells it, e.g. `-STOP`) to the process.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([sig, &self.child.id().to_string()]).status().unwrap();
        assert!(ok.success());
    }
}
