//! HTTP from a chosen local address. The server counts guest accounts by
//! the network they were created from (its `fair` module): every guest
//! from one address shares one per-buyer count, and an address may create
//! only so many guests a day. On loopback every address of 127.0.0.0/8
//! reaches a server listening on 127.0.0.1, so bots and tests give each
//! guest an address of its own and they stay distinct shoppers, as they
//! would be from distinct homes.

use socket2::{Domain, Protocol, Socket, Type};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, LazyBuffers, NextTimeout, Transport,
};

/// An agent whose connections all come from `local`.
pub fn agent_from(local: IpAddr, config: ureq::config::Config) -> ureq::Agent {
    ureq::Agent::with_parts(config, FromAddress(local), DefaultResolver::default())
}

/// A loopback address this process has not handed out before: 127.0.1.1
/// onwards, skipping each /24's .0 and .255 (127.0.0.x is left to whatever
/// else runs on loopback).
pub fn next_loopback() -> IpAddr {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    IpAddr::V4(loopback_at(NEXT.fetch_add(1, Ordering::Relaxed)))
}

/// The `n`th address [`next_loopback`] hands out: after 127.255.255.254
/// it starts again at 127.0.1.1 rather than leave loopback.
fn loopback_at(n: u32) -> Ipv4Addr {
    const SUBNETS: u32 = 65_535;
    let n = n % (SUBNETS * 254);
    let base = u32::from(Ipv4Addr::new(127, 0, 1, 0));
    Ipv4Addr::from(base + (n / 254) * 256 + n % 254 + 1)
}

/// Whether a request failed because its local address does not exist
/// here (macOS has only 127.0.0.1 on loopback unless more are added).
pub fn address_unavailable(e: &ureq::Error) -> bool {
    matches!(e, ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::AddrNotAvailable)
}

/// Whether `base` (`http://HOST:PORT`) names an IPv4 loopback address,
/// the one case where any 127.x.y.z reaches the server.
pub fn is_loopback_v4(base: &str) -> bool {
    let authority = base
        .split("://")
        .nth(1)
        .unwrap_or(base)
        .split('/')
        .next()
        .unwrap_or_default();
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// Opens each connection from its address, then hands the socket to ureq.
#[derive(Debug)]
struct FromAddress(IpAddr);

impl Connector for FromAddress {
    type Out = Bound;

    fn connect(
        &self,
        details: &ConnectionDetails,
        _chained: Option<()>,
    ) -> Result<Option<Bound>, ureq::Error> {
        let mut last = None;
        for addr in details.addrs.iter() {
            if addr.is_ipv4() != self.0.is_ipv4() {
                continue;
            }
            match connect_from(self.0, *addr, details.timeout) {
                Ok(stream) => {
                    let config = details.config;
                    let buffers =
                        LazyBuffers::new(config.input_buffer_size(), config.output_buffer_size());
                    return Ok(Some(Bound { stream, buffers }));
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.map_or_else(
            || ureq::Error::ConnectionFailed,
            |e: std::io::Error| e.into(),
        ))
    }
}

fn connect_from(
    local: IpAddr,
    peer: SocketAddr,
    timeout: NextTimeout,
) -> std::io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(peer), Type::STREAM, Some(Protocol::TCP))?;
    socket.bind(&SocketAddr::new(local, 0).into())?;
    match timeout.not_zero() {
        Some(limit) => socket.connect_timeout(&peer.into(), *limit)?,
        None => socket.connect(&peer.into())?,
    }
    socket.set_tcp_nodelay(true)?;
    Ok(socket.into())
}

/// A plain TCP connection, as ureq's own, bound to the chosen address.
#[derive(Debug)]
struct Bound {
    stream: TcpStream,
    buffers: LazyBuffers,
}

impl Transport for Bound {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream
            .set_write_timeout(timeout.not_zero().map(|t| *t))?;
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream
            .set_read_timeout(timeout.not_zero().map(|t| *t))?;
        let read = self.stream.read(self.buffers.input_append_buf())?;
        self.buffers.input_appended(read);
        Ok(read > 0)
    }

    fn is_open(&mut self) -> bool {
        // Open when nothing is waiting to be read and the peer has not
        // closed: a pooled connection is reused only then.
        let mut byte = [0];
        if self.stream.set_nonblocking(true).is_err() {
            return false;
        }
        let open = matches!(self.stream.peek(&mut byte),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
        open && self.stream.set_nonblocking(false).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses_are_fresh_and_never_a_subnet_edge() {
        let seen: Vec<IpAddr> = (0..600).map(|_| next_loopback()).collect();
        let unique: std::collections::HashSet<_> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len());
        for ip in seen {
            let IpAddr::V4(v4) = ip else { panic!("{ip}") };
            assert!(v4.is_loopback(), "{v4}");
            assert!(![0, 255].contains(&v4.octets()[3]), "{v4}");
            assert_ne!(v4.octets()[2], 0, "{v4}");
        }
    }

    #[test]
    fn loopback_addresses_wrap_before_leaving_loopback() {
        // 65,535 /24s (127.0.1 to 127.255.255) of 254 addresses each.
        let all = 65_535 * 254;
        assert_eq!(loopback_at(0), Ipv4Addr::new(127, 0, 1, 1));
        assert_eq!(loopback_at(all - 1), Ipv4Addr::new(127, 255, 255, 254));
        assert_eq!(loopback_at(all), Ipv4Addr::new(127, 0, 1, 1));
        assert_eq!(loopback_at(u32::MAX), loopback_at(u32::MAX % all));
        assert!(loopback_at(u32::MAX).is_loopback());
    }

    #[test]
    fn a_local_address_that_is_not_here_is_told_apart() {
        // 192.0.2.1 (TEST-NET-1) is on no interface of this machine.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let agent = agent_from(
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            ureq::Agent::config_builder().build(),
        );
        let e = agent.get(&url).call().unwrap_err();
        assert!(address_unavailable(&e), "{e:?}");
        assert!(!address_unavailable(&ureq::Error::ConnectionFailed));
    }

    #[test]
    fn only_an_ipv4_loopback_server_is_loopback() {
        assert!(is_loopback_v4("http://127.0.0.1:8080"));
        assert!(is_loopback_v4("http://127.0.0.1:8080/"));
        assert!(!is_loopback_v4("http://10.0.0.1:8080"));
        assert!(!is_loopback_v4("http://localhost:8080"));
        assert!(!is_loopback_v4("http://[::1]:8080"));
    }
}
