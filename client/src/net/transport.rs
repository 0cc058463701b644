//! Netcode over UDP for a client, as renet_netcode's client transport does
//! it, plus exact byte counts for the benchmarks.

use renet::RenetClient;
use renetcode::{
    ClientAuthentication, ConnectToken, NETCODE_MAX_PACKET_BYTES, NetcodeClient, NetcodeError,
};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use vitrine_shared::protocol::{acks_only, bundle, unbundle};

pub struct UdpClientTransport {
    socket: UdpSocket,
    netcode: NetcodeClient,
    buffer: Box<[u8; NETCODE_MAX_PACKET_BYTES]>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Datagrams, so the wire size can add each one's IP and UDP headers.
    pub datagrams_in: u64,
    pub datagrams_out: u64,
    /// Time since the last datagram went out: bare acknowledgements wait
    /// until it reaches [`ACK_INTERVAL`].
    since_sent: Duration,
}

/// Bare acknowledgements go out no more often than snapshots come in: at
/// 60 frames a second they would otherwise be a datagram every frame.
const ACK_INTERVAL: Duration =
    Duration::from_millis(1000 / vitrine_shared::protocol::SNAPSHOT_HZ as u64);

impl UdpClientTransport {
    pub fn new(token: ConnectToken) -> Result<Self, NetcodeError> {
        let server = token.server_addresses.iter().flatten().next().copied();
        let bind: SocketAddr = match server {
            Some(SocketAddr::V6(_)) => "[::]:0".parse().expect("literal"),
            Some(addr) if addr.ip().is_loopback() => "127.0.0.1:0".parse().expect("literal"),
            _ => "0.0.0.0:0".parse().expect("literal"),
        };
        let socket = UdpSocket::bind(bind)?;
        socket.set_nonblocking(true)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let netcode = NetcodeClient::new(
            now,
            ClientAuthentication::Secure {
                connect_token: token,
            },
        )?;
        Ok(UdpClientTransport {
            socket,
            netcode,
            buffer: Box::new([0; NETCODE_MAX_PACKET_BYTES]),
            bytes_in: 0,
            bytes_out: 0,
            datagrams_in: 0,
            datagrams_out: 0,
            since_sent: Duration::ZERO,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    pub fn server_addr(&self) -> SocketAddr {
        self.netcode.server_addr()
    }

    pub fn disconnect_reason(&self) -> Option<renetcode::DisconnectReason> {
        self.netcode.disconnect_reason()
    }

    fn send(&mut self, packet: &[u8], addr: SocketAddr) -> io::Result<()> {
        self.socket.send_to(packet, addr)?;
        self.bytes_out += packet.len() as u64;
        self.datagrams_out += 1;
        self.since_sent = Duration::ZERO;
        Ok(())
    }

    /// Receives what has arrived and advances netcode by `dt`.
    pub fn update(&mut self, dt: Duration, client: &mut RenetClient) -> io::Result<()> {
        self.since_sent += dt;
        if self.netcode.disconnect_reason().is_some() {
            client.disconnect_due_to_transport();
            return Ok(());
        }
        if client.disconnect_reason().is_some() {
            if let Ok((addr, packet)) = self.netcode.disconnect() {
                let packet = packet.to_vec();
                self.send(&packet, addr)?;
            }
            return Ok(());
        }
        self.sync_status(client);
        loop {
            match self.socket.recv_from(&mut self.buffer[..]) {
                Ok((len, addr)) => {
                    if addr != self.netcode.server_addr() {
                        continue;
                    }
                    self.bytes_in += len as u64;
                    self.datagrams_in += 1;
                    if let Some(payload) = self.netcode.process_packet(&mut self.buffer[..len]) {
                        // Several renet packets ride in one payload; a
                        // malformed bundle is dropped whole, as if lost.
                        if let Ok(packets) = unbundle(payload) {
                            for packet in packets {
                                client.process_packet(packet);
                            }
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => break,
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => break,
                Err(e) => return Err(e),
            }
        }
        if let Some((packet, addr)) = self.netcode.update(dt) {
            let packet = packet.to_vec();
            self.send(&packet, addr)?;
        }
        // Again: the packets just read may have completed the handshake, and
        // renet must not hold back what the app sends next.
        self.sync_status(client);
        Ok(())
    }

    fn sync_status(&self, client: &mut RenetClient) {
        if self.netcode.is_connected() {
            client.set_connected();
        } else if self.netcode.is_connecting() {
            client.set_connecting();
        }
        // A disconnect is passed on at the start of the next update, so the
        // app still reads what arrived with it (a "shutting down" notice).
    }

    pub fn send_packets(&mut self, client: &mut RenetClient) -> io::Result<()> {
        if self.netcode.disconnect_reason().is_some() {
            return Ok(());
        }
        let packets = client.get_packets_to_send();
        if acks_only(&packets) && self.since_sent < ACK_INTERVAL {
            return Ok(());
        }
        for packet in bundle(packets) {
            match self.netcode.generate_payload_packet(&packet) {
                Ok((addr, bytes)) => {
                    let bytes = bytes.to_vec();
                    self.send(&bytes, addr)?;
                }
                Err(_) => break,
            }
        }
        Ok(())
    }

    pub fn disconnect(&mut self) {
        if self.netcode.is_disconnected() {
            return;
        }
        if let Ok((addr, packet)) = self.netcode.disconnect() {
            let packet = packet.to_vec();
            let _ = self.send(&packet, addr);
        }
    }
}
