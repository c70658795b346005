//! Real network faults between a service and its database, without touching the database
//! server: a TCP proxy on a loopback port that forwards to the real server, refuses connections
//! (its port closed, established sessions cut) or accepts connections and never answers
//! (established sessions stall too).
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultMode {
    /// Forward both ways.
    Forward,
    /// Close the port (connects are refused) and cut every established session.
    Refuse,
    /// Accept connections but never pass a byte; established sessions stall.
    Blackhole,
}

/// A running proxy; stops on drop.
pub struct FaultProxy {
    /// The proxy's address (point the service's database URL here).
    pub addr: SocketAddr,
    mode: watch::Sender<FaultMode>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 (ephemeral port) forwarding to `target`.
    pub async fn start(target: SocketAddr) -> anyhow::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (mode, rx) = watch::channel(FaultMode::Forward);
        let task = tokio::spawn(accept_loop(Some(listener), addr, target, rx));
        Ok(FaultProxy { addr, mode, task })
    }

    /// Switches the fault mode (takes effect at once for new and established sessions).
    pub fn set(&self, mode: FaultMode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(
    mut listener: Option<TcpListener>,
    addr: SocketAddr,
    target: SocketAddr,
    mut mode: watch::Receiver<FaultMode>,
) {
    let mut sessions: Vec<JoinHandle<()>> = Vec::new();
    loop {
        let current = *mode.borrow_and_update();
        match (current, listener.as_ref()) {
            (FaultMode::Refuse, Some(_)) => {
                listener = None;
                for s in sessions.drain(..) {
                    s.abort();
                }
            }
            (FaultMode::Forward | FaultMode::Blackhole, None) => {
                // Re-open the same port (SO_REUSEADDR is set by tokio on Unix).
                for _ in 0..50 {
                    if let Ok(l) = TcpListener::bind(addr).await {
                        listener = Some(l);
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            _ => {}
        }
        sessions.retain(|s| !s.is_finished());
        let Some(l) = listener.as_ref() else {
            if mode.changed().await.is_err() {
                return;
            }
            continue;
        };
        tokio::select! {
            changed = mode.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            accepted = l.accept() => {
                if let Ok((client, _)) = accepted {
                    sessions.push(tokio::spawn(session(client, target, mode.clone())));
                }
            }
        }
    }
}

/// One client connection: forwards while the mode is `Forward`, stalls while `Blackhole`
/// (nothing is read or written), ends on `Refuse` (the accept loop aborts it).
async fn session(mut client: TcpStream, target: SocketAddr, mut mode: watch::Receiver<FaultMode>) {
    // A session accepted while black-holed never reaches the server.
    while *mode.borrow_and_update() == FaultMode::Blackhole {
        if mode.changed().await.is_err() {
            return;
        }
    }
    let Ok(mut server) = TcpStream::connect(target).await else {
        let _ = client.shutdown().await;
        return;
    };
    let (mut cr, mut cw) = client.split();
    let (mut sr, mut sw) = server.split();
    let mut up = [0u8; 16 * 1024];
    let mut down = [0u8; 16 * 1024];
    use tokio::io::AsyncReadExt;
    loop {
        if *mode.borrow_and_update() == FaultMode::Blackhole {
            if mode.changed().await.is_err() {
                return;
            }
            continue;
        }
        tokio::select! {
            changed = mode.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            n = cr.read(&mut up) => match n {
                Ok(0) | Err(_) => return,
                Ok(n) => if sw.write_all(&up[..n]).await.is_err() { return },
            },
            n = sr.read(&mut down) => match n {
                Ok(0) | Err(_) => return,
                Ok(n) => if cw.write_all(&down[..n]).await.is_err() { return },
            },
        }
    }
}
