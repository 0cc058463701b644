//! The real `vitrine-server` binary: its help, a bad config, keys on first
//! start, and a clean exit on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_vitrine-server");

#[test]
fn help_documents_every_flag_and_its_variable() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for (flag, var) in [
        ("--http", "VITRINE_HTTP"),
        ("--udp", "VITRINE_UDP"),
        ("--public-addr", "VITRINE_PUBLIC_ADDR"),
        ("--data-dir", "VITRINE_DATA_DIR"),
        ("--database-url", "VITRINE_DATABASE_URL"),
        ("--config", "VITRINE_CONFIG"),
    ] {
        assert!(help.contains(flag), "{flag} missing from\n{help}");
        assert!(help.contains(var), "{var} missing from\n{help}");
    }
}

#[test]
fn a_bad_config_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "http = 12\n").unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("bad.toml") && err.contains("http"), "{err}");
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}

#[test]
fn starts_makes_private_keys_and_exits_zero_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = Command::new(BIN)
        .args([
            "--http",
            "127.0.0.1:0",
            "--udp",
            "127.0.0.1:0",
            // No media relay: its fixed ports would clash with a demo or
            // another run.
            "--no-media",
            "--data-dir",
        ])
        .arg(&data)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Read the log on a thread; find the bound HTTP address in it.
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut log = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let http: SocketAddr = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("server started");
        log.push_str(&line);
        log.push('\n');
        if let Some(rest) = line.split("http_addr=").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    assert!(get(http, "/healthz").ends_with("ok\n"));

    // Keys: made on first start, 32 bytes, mode 0600, never in the log.
    use std::os::unix::fs::PermissionsExt;
    for name in ["netcode.key", "session.key"] {
        let path = data.join(name);
        let key = std::fs::read(&path).unwrap();
        assert_eq!(key.len(), 32);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!log.contains(&hex));
    }

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "still running 30 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    reader.join().unwrap();
    log.extend(rx.try_iter().map(|l| l + "\n"));
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(exit.code(), Some(0), "log:\n{log}\nstderr:\n{stderr}");
    assert!(log.contains("stopped cleanly"), "{log}");
}

#[test]
fn admin_create_user_prints_a_password_once_and_refuses_a_taken_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        Command::new(BIN)
            .arg("--data-dir")
            .arg(&data)
            .args(args)
            .env_remove("VITRINE_NEW_PASSWORD")
            .output()
            .unwrap()
    };
    let made = run(&["admin", "create-user", "host.ana", "--role", "host"]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let line = String::from_utf8(made.stdout).unwrap();
    assert!(line.starts_with("created host \"host.ana\""), "{line}");
    let password = line.trim().rsplit("password: ").next().unwrap();
    assert_eq!(password.len(), 20, "{line}");

    let again = run(&["admin", "create-user", "host.ana", "--role", "host"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("taken"));

    let bad = run(&["admin", "create-user", "Bad Name"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("username"));
}

/// Kills the server if the test fails before it stops it.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn json_logs_are_one_object_a_line_with_each_requests_span() {
    let help = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("--log-format") && help.contains("VITRINE_LOG_FORMAT"));

    let dir = tempfile::tempdir().unwrap();
    // The variable, not the flag: the flag is parsed in config's tests.
    let mut server = Running(
        Command::new(BIN)
            .args([
                "--http",
                "127.0.0.1:0",
                "--udp",
                "127.0.0.1:0",
                "--no-media",
            ])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env("RUST_LOG", "info")
            .env("VITRINE_LOG_FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = server.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    // Every line is a JSON object; returns the first that `wanted` accepts.
    let until = |wanted: &dyn Fn(&serde_json::Value) -> bool| loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the wanted log line in time");
        let object: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(object.is_object(), "{line}");
        assert!(object["timestamp"].is_string() && object["level"].is_string());
        if wanted(&object) {
            return object;
        }
    };

    let started = until(&|o| o["message"] == "vitrine server started");
    let http: SocketAddr = started["http_addr"].as_str().unwrap().parse().unwrap();
    assert!(get(http, "/healthz").ends_with("ok\n"));
    let answered = until(&|o| o["message"] == "answered");
    let span = &answered["span"];
    assert_eq!(span["name"], "http_request", "{answered}");
    assert_eq!(span["method"], "GET", "{answered}");
    assert_eq!(span["route"], "/healthz", "{answered}");
    assert_eq!(span["status"], 200, "{answered}");
    assert!(span["latency_ms"].as_f64().unwrap() >= 0.0, "{answered}");

    let status = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    until(&|o| o["message"] == "stopped cleanly");
    assert_eq!(server.0.wait().unwrap().code(), Some(0));
}
