//! Hostile traffic is counted, not logged line by line: garbage at the game
//! port and refused HTTP requests show in `/metrics` by reason, and the log
//! gets a summary at most every few seconds.

use rand::{Rng, RngCore};
use std::io::Write;
use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vitrine_tests::{Http, TestServer, step_until};

/// The server's log, as text.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// `/metrics` series starting with `name{`, summed over their labels.
fn labelled_sum(server: &TestServer, name: &str) -> u64 {
    let (_, text) = metrics_text(server);
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

fn metrics_text(server: &TestServer) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut response = agent
        .get(format!("{}/metrics", server.url()))
        .call()
        .unwrap();
    (
        response.status().as_u16(),
        response.body_mut().read_to_string().unwrap(),
    )
}

#[test]
fn ten_thousand_garbage_datagrams_are_counted_by_reason_and_summarised_in_the_log() {
    let log = Log::default();
    let writer = log.clone();
    // This test's server logs here (its threads take this thread's
    // subscriber), at every level the default filter lets through.
    // (`tracing::dispatcher`, not tracing-subscriber's `set_default`, which
    // would install its own `log` logger in place of the server's.)
    let _guard = tracing::dispatcher::set_default(&tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish(),
    ));
    let server = TestServer::start();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut rng = rand::rng();
    let mut sent = 0u64;
    // In batches, each counted before the next: the server socket's
    // receive buffer (about 200 KiB by default, some 90 full-size
    // datagrams) would otherwise drop datagrams the server never saw.
    while sent < 10_000 {
        for _ in 0..40 {
            let mut bytes = vec![0u8; rng.random_range(0..1500)];
            rng.fill_bytes(&mut bytes);
            if let Some(first) = bytes.first_mut() {
                *first = rng.random_range(0..16);
            }
            socket.send_to(&bytes, server.udp).unwrap();
            sent += 1;
        }
        let counted = step_until(Duration::from_secs(20), || {
            labelled_sum(&server, "vitrine_refused_packets_total") >= sent
        });
        assert!(
            counted,
            "{} of {sent} counted",
            labelled_sum(&server, "vitrine_refused_packets_total")
        );
    }
    assert_eq!(
        labelled_sum(&server, "vitrine_refused_packets_total"),
        10_000
    );
    let (_, text) = metrics_text(&server);
    assert!(
        text.contains("vitrine_refused_packets_total{reason=\"too_small\"}"),
        "{text}"
    );

    let log = log.text();
    let about_packets: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("packet") || l.contains("datagram"))
        .collect();
    assert!(
        !about_packets.is_empty() && about_packets.len() <= 5,
        "{} lines: {:?}",
        about_packets.len(),
        &about_packets[..about_packets.len().min(10)]
    );
    assert!(
        about_packets.iter().all(|l| l.contains("refused")),
        "{about_packets:?}"
    );
}

#[test]
fn refused_http_requests_are_counted_by_code() {
    let server = TestServer::start_with(|c| {
        c.http_rate = vitrine_server::config::RateConfig {
            per_second: 0.001,
            burst: 3,
        }
    });
    let http = Http::new(&server);
    for _ in 0..10 {
        http.call("GET", "/api/v1/no-such-route", None, None, None);
        http.call(
            "POST",
            "/api/v1/sessions",
            None,
            None,
            Some(serde_json::json!({ "display_name": "Flood" })),
        );
    }
    let (_, text) = metrics_text(&server);
    assert!(
        text.contains("vitrine_http_refusals_total{code=\"not_found\"} 10\n"),
        "{text}"
    );
    assert!(
        text.contains("vitrine_http_refusals_total{code=\"rate_limited\"} 7\n"),
        "{text}"
    );
}

/// A flood of requests the server refuses (here a few hundred 404s) is
/// counted in `/metrics`, not written to the log a line each.
#[test]
fn a_flood_of_refused_http_requests_writes_no_line_each() {
    let log = Log::default();
    let writer = log.clone();
    let _guard = tracing::dispatcher::set_default(&tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish(),
    ));
    let server = TestServer::start();
    let http = Http::new(&server);
    for _ in 0..300 {
        let (status, _) = http.call("GET", "/api/v1/no-such-route", None, None, None);
        assert_eq!(status, 404);
    }
    let (_, text) = metrics_text(&server);
    assert!(
        text.contains("vitrine_http_refusals_total{code=\"not_found\"} 300\n"),
        "{text}"
    );
    let log = log.text();
    let about_them: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("404") || l.contains("(unmatched)"))
        .collect();
    assert!(
        about_them.len() <= 5,
        "{} lines: {:?}",
        about_them.len(),
        &about_them[..about_them.len().min(10)]
    );
}
