//! How long SRT holds packets on a link: by the kind of link.
//!
//! SRT's latency is a receive buffer: a packet is handed on that long after
//! it was sent, which leaves time to ask again for a lost one. libsrt's
//! maintainers advise 3 to 4 round trips on a wired network. One fixed value
//! is wrong at one end or the other: 80 ms on each of the two hops (host to
//! relay, relay to shopper) is two thirds of the 250 ms glass-to-glass
//! budget on a LAN whose round trip is well under a millisecond, and too
//! little across an ocean.
//!
//! So each end picks by where it connects ([`SrtLatency::Auto`]): a
//! loopback or private address is a LAN link and gets [`LAN_LATENCY_MS`]
//! (four round trips of up to 5 ms); anything else gets libsrt's own
//! default, [`INTERNET_LATENCY_MS`]. The relay only sets a floor: SRT uses
//! the larger of the two sides' values, so an end on a slower link gets the
//! margin it asks for. An operator who knows better sets a number.
//!
//! The link is classed by address, not measured. GStreamer's SRT elements
//! retry a refused handshake by themselves (so a probe cannot be timed
//! through them), and the room connection's round trip includes the game
//! server's tick.

use std::net::{IpAddr, ToSocketAddrs};

use crate::uri::parse_srt;

/// What a LAN or loopback link gets, and the least any link may ask.
pub const LAN_LATENCY_MS: u32 = 20;
/// What an internet link gets: libsrt's default.
pub const INTERNET_LATENCY_MS: u32 = 120;
/// How long an `srtsrc` waits for data before it looks again whether it is
/// being stopped. Its default waits forever, so a peer connected but
/// silent (a publisher that never sends, a relay with nobody live) would
/// hold the pipeline's state change to NULL, and whoever is stopping it,
/// for as long as the peer stays. A timeout only loops: it is no error.
pub(crate) const POLL_TIMEOUT_MS: i32 = 100;

/// The range an operator may set.
pub const MIN_LATENCY_MS: u32 = LAN_LATENCY_MS;
pub const MAX_LATENCY_MS: u32 = 8000;

/// How an end picks its SRT latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SrtLatency {
    /// By the kind of link the address is on.
    #[default]
    Auto,
    /// Exactly this many milliseconds.
    Fixed(u32),
}

impl SrtLatency {
    /// The milliseconds to ask for on the link to `uri` (`srt://host:port`,
    /// any query ignored). Resolves a host name, so it may block briefly.
    pub fn for_uri(self, uri: &str) -> u32 {
        match self {
            Self::Fixed(ms) => ms.clamp(MIN_LATENCY_MS, MAX_LATENCY_MS),
            Self::Auto => match link_of(uri) {
                Link::Lan => LAN_LATENCY_MS,
                Link::Internet => INTERNET_LATENCY_MS,
            },
        }
    }
}

impl std::str::FromStr for SrtLatency {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("auto") {
            return Ok(Self::Auto);
        }
        match s.parse::<u32>() {
            Ok(ms) if (MIN_LATENCY_MS..=MAX_LATENCY_MS).contains(&ms) => Ok(Self::Fixed(ms)),
            _ => Err(format!(
                "`{s}`: expected `auto` or {MIN_LATENCY_MS} to {MAX_LATENCY_MS} (ms)"
            )),
        }
    }
}

impl std::fmt::Display for SrtLatency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Fixed(ms) => write!(f, "{ms}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Lan,
    Internet,
}

/// A LAN link when every address the host resolves to is loopback,
/// private (RFC 1918, IPv6 unique-local) or link-local; an internet link
/// otherwise, or when the host does not resolve.
pub fn link_of(uri: &str) -> Link {
    let base = uri.split_once('?').map_or(uri, |(base, _)| base);
    let Ok(addr) = parse_srt(base) else {
        return Link::Internet;
    };
    let ips: Vec<IpAddr> = match addr.host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => (addr.host.as_str(), addr.port)
            .to_socket_addrs()
            .map(|a| a.map(|a| a.ip()).collect())
            .unwrap_or_default(),
    };
    if !ips.is_empty() && ips.into_iter().all(is_lan) {
        Link::Lan
    } else {
        Link::Internet
    }
}

fn is_lan(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_lan(IpAddr::V4(v4));
            }
            v6.is_loopback() || v6.is_unique_local() || v6.is_unicast_link_local()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_private_addresses_are_lan_links() {
        for uri in [
            "srt://127.0.0.1:9000",
            "srt://127.8.9.10:9000",
            "srt://10.1.2.3:9000",
            "srt://172.16.0.9:9000",
            "srt://192.168.1.20:9000?latency=500",
            "srt://169.254.7.7:9000",
            "srt://[::1]:9000",
            "srt://[fd12:3456::1]:9000",
            "srt://[fe80::1]:9000",
            "srt://[::ffff:192.168.0.2]:9000",
            "srt://localhost:9000",
        ] {
            assert_eq!(link_of(uri), Link::Lan, "{uri}");
            assert_eq!(SrtLatency::Auto.for_uri(uri), LAN_LATENCY_MS, "{uri}");
        }
    }

    #[test]
    fn public_addresses_and_nonsense_are_internet_links() {
        for uri in [
            "srt://8.8.8.8:9000",
            "srt://203.0.113.7:9000",
            "srt://172.32.0.1:9000",
            "srt://[2001:db8::1]:9000",
            "srt://[::ffff:8.8.4.4]:9000",
            "http://127.0.0.1:9000",
            "srt://127.0.0.1",
            "not a uri",
        ] {
            assert_eq!(link_of(uri), Link::Internet, "{uri}");
            assert_eq!(SrtLatency::Auto.for_uri(uri), INTERNET_LATENCY_MS, "{uri}");
        }
    }

    #[test]
    fn a_fixed_latency_is_kept_within_range() {
        assert_eq!(SrtLatency::Fixed(80).for_uri("srt://127.0.0.1:9000"), 80);
        assert_eq!(SrtLatency::Fixed(300).for_uri("srt://8.8.8.8:9000"), 300);
        assert_eq!(SrtLatency::Fixed(0).for_uri("srt://8.8.8.8:9000"), 20);
        assert_eq!(SrtLatency::Fixed(u32::MAX).for_uri("x"), MAX_LATENCY_MS);
    }

    #[test]
    fn settings_parse_and_print() {
        assert_eq!("auto".parse(), Ok(SrtLatency::Auto));
        assert_eq!("AUTO".parse(), Ok(SrtLatency::Auto));
        assert_eq!("80".parse(), Ok(SrtLatency::Fixed(80)));
        for bad in ["", "0", "19", "8001", "-5", "80ms", "fast"] {
            assert!(bad.parse::<SrtLatency>().is_err(), "{bad}");
        }
        assert_eq!(SrtLatency::Fixed(80).to_string(), "80");
        assert_eq!(SrtLatency::Auto.to_string(), "auto");
    }
}

/// What a listening `srtsrc` tells of its publisher: whether one is
/// connected, and how long since data last came. The relay and each stage
/// seat watch their ingest this way.
#[derive(Debug, Clone, Default)]
pub(crate) struct IngestWatch {
    connected: std::sync::Arc<std::sync::atomic::AtomicBool>,
    last_data: std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

impl IngestWatch {
    /// Watches `ingest` (an `srtsrc`). With `heard_on_connect`, connecting
    /// counts as data: a publisher who never sends goes idle.
    pub(crate) fn attach(ingest: &gst::Element, heard_on_connect: bool) -> Self {
        use gst::prelude::*;
        let watch = Self::default();
        {
            let watch = watch.clone();
            ingest.connect("caller-added", false, move |_| {
                if heard_on_connect {
                    watch.heard();
                }
                watch
                    .connected
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                None
            });
        }
        if let Some(pad) = ingest.static_pad("src") {
            let watch = watch.clone();
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                watch.heard();
                gst::PadProbeReturn::Ok
            });
        }
        watch
    }

    fn heard(&self) {
        if let Ok(mut at) = self.last_data.lock() {
            *at = Some(std::time::Instant::now());
        }
    }

    /// Whether a publisher connected.
    pub(crate) fn connected(&self) -> bool {
        self.connected.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How long since data (or the connection) last came; `None` before.
    pub(crate) fn idle_for(&self) -> Option<std::time::Duration> {
        self.last_data
            .lock()
            .ok()
            .and_then(|at| at.map(|at| at.elapsed()))
    }
}
