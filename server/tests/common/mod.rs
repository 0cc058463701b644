//! What the server-binary tests share: which database the server under
//! test keeps its data in.

use std::path::Path;

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
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data.to_string_lossy().as_bytes());
    let schema = format!(
        "bin_{}",
        digest[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(vitrine_server::config::postgres_schema_url(pg, &schema))
        .unwrap_or_else(|e| panic!("PostgreSQL at VITRINE_TEST_POSTGRES: {e}"))
}
