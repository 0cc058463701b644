//! What the server-binary tests share: which database the server under
//! test keeps its data in, and starting, calling and killing the binary.
// Each test binary includes this module and uses a part of it.
#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_vitrine-server");

/// Starts the server binary on `data` with `config`; the child and its
/// HTTP base URL, read from its start-up log line.
pub fn start(data: &Path, config: &Path) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args([
            "--http",
            "127.0.0.1:0",
            "--udp",
            "127.0.0.1:0",
            // The relay's fixed ports would clash between parallel runs;
            // its own tests are in tests/tests/it/media.rs.
            "--no-media",
            "--data-dir",
        ])
        .arg(data)
        .args(database_args(data))
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr: SocketAddr = loop {
        let line = lines.next().expect("server started").unwrap();
        if let Some(rest) = line.split("http_addr=").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, format!("http://{addr}"))
}

/// A copy of `config` (named `<config>.<name>.toml`) with `keys` first, so
/// they stay top-level keys before any table.
pub fn config_with(config: &Path, name: &str, keys: &str) -> PathBuf {
    let copy = config.with_extension(format!("{name}.toml"));
    let text = std::fs::read_to_string(config).unwrap();
    std::fs::write(&copy, format!("{keys}\n{text}")).unwrap();
    copy
}

/// Makes an account with `role` and the tests' password.
pub fn create_user(data: &Path, username: &str, role: &str) {
    let made = Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .args(database_args(data))
        .args(["admin", "create-user", username, "--role", role])
        .args(["--password", "correct horse battery"])
        .output()
        .unwrap();
    assert!(made.status.success());
}

pub fn kill_9(mut server: Child) {
    Command::new("kill")
        .args(["-KILL", &server.id().to_string()])
        .status()
        .unwrap();
    server.wait().unwrap();
}

/// (status, JSON), or `None` when the server is gone.
pub fn try_call(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    key: Option<&str>,
    body: Option<Value>,
) -> Option<(u16, Value)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut req = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"));
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let text = body.map(|b| b.to_string()).unwrap_or_default();
    if !text.is_empty() {
        req = req.header("Content-Type", "application/json");
    }
    let mut response = agent.run(req.body(text).unwrap()).ok()?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().ok()?;
    Some((status, serde_json::from_str(&body).unwrap_or(Value::Null)))
}

/// [`try_call`] to a server that must answer.
pub fn call(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    try_call(base, method, path, token, key, body).expect("the server answered")
}

/// The stock of the sage stoneware mug, the variant the crash tests buy.
pub fn mug_stock(base: &str) -> i64 {
    let (_, p) = call(
        base,
        "GET",
        "/api/v1/products/stoneware-mug",
        None,
        None,
        None,
    );
    p["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["sku"] == "stoneware-mug-sage")
        .unwrap()["stock"]
        .as_i64()
        .unwrap()
}

/// `--database-url` for a server on `data`: none (SQLite in the data dir,
/// the default), or, when `VITRINE_TEST_BACKEND=postgres` (as `cargo xtask
/// test`'s second run of these tests sets), a schema of its own on
/// `VITRINE_TEST_POSTGRES`, named for `data` so the restarted server finds
/// its rows. A PostgreSQL run without a PostgreSQL URL fails.
pub fn database_args(data: &Path) -> Vec<String> {
    match std::env::var("VITRINE_TEST_BACKEND").as_deref() {
        Ok("postgres") => {
            let pg = std::env::var("VITRINE_TEST_POSTGRES")
                .expect("VITRINE_TEST_BACKEND=postgres needs VITRINE_TEST_POSTGRES");
            vec!["--database-url".into(), schema_for(&pg, data)]
        }
        Ok("sqlite") | Err(_) => Vec::new(),
        Ok(other) => panic!("VITRINE_TEST_BACKEND={other}: expected sqlite or postgres"),
    }
}

fn schema_for(pg: &str, data: &Path) -> String {
    vitrine_server::config::postgres_schema_for(pg, "bin", data)
        .unwrap_or_else(|e| panic!("PostgreSQL at VITRINE_TEST_POSTGRES: {e}"))
}
