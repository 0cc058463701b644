//! What the benchmark binaries share: a plain HTTP GET (for `/metrics`),
//! a quantile of a Prometheus histogram between two scrapes, and a
//! process's CPU time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

/// `GET path` on `addr` with `Connection: close`: the whole answer, head
/// and body.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
    )?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    Ok(text)
}

/// A quantile of what a histogram counted between two scrapes of its
/// `(upper bound, cumulative count)` buckets, linear within the bucket it
/// falls in.
pub fn quantile(before: &[(f64, f64)], after: &[(f64, f64)], q: f64) -> Option<f64> {
    let deltas: Vec<(f64, f64)> = after
        .iter()
        .zip(before)
        .map(|((bound, a), (_, b))| (*bound, a - b))
        .collect();
    let total = deltas.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut prev = (0.0, 0.0);
    for (bound, count) in deltas {
        if count >= rank {
            if bound.is_infinite() {
                return Some(prev.0);
            }
            let span = count - prev.1;
            let frac = if span > 0.0 {
                (rank - prev.1) / span
            } else {
                1.0
            };
            return Some(prev.0 + (bound - prev.0) * frac);
        }
        prev = (bound, count);
    }
    None
}

/// User plus system CPU seconds of a process.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let hz = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0);
    Some((utime + stime) / hz)
}

/// IPv4 and UDP headers: what each datagram adds on the wire.
pub const IP_UDP_HEADER: u64 = 28;

/// Bytes on the wire (down, up) of one client so far: its UDP payloads,
/// netcode framing included, plus the IPv4 and UDP header of each datagram.
pub fn wire_bytes(net: &vitrine_client::net::NetClient) -> (u64, u64) {
    let (bytes_in, bytes_out) = net.bytes();
    let (dgrams_in, dgrams_out) = net.datagrams();
    (
        bytes_in + IP_UDP_HEADER * dgrams_in,
        bytes_out + IP_UDP_HEADER * dgrams_out,
    )
}
