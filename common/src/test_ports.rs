//! Ports for the service processes a test starts.
//!
//! A port from `bind("127.0.0.1:0")` lies in the kernel's ephemeral range. If the test closes
//! it and hands it to a child process, any outgoing connection on the machine can take it in
//! between, and the child then fails with `Address already in use`. CI once saw exactly that.
//! [`free_port`] draws below that range instead (`scripts/free-ports.py` does the same for the
//! shell scripts).

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU32, Ordering};

/// A free port on 127.0.0.1 for a child process to bind. It is drawn from 10000–31999, below
/// the ephemeral range (32768+), and it is distinct across the calls of one test binary.
pub fn free_port() -> SocketAddr {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 10_000 + std::process::id().wrapping_mul(7_919).wrapping_add(n.wrapping_mul(104_729)) % 22_000;
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port as u16)) {
            return listener.local_addr().expect("a bound listener has an address");
        }
    }
}
