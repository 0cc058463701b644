//! Server settings from flags, environment variables and a TOML file, in
//! that order of precedence, over built-in defaults.

use crate::commerce::stripe::Secret;
pub use crate::telemetry::LogFormat;
use clap::Parser;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

/// Vitrine's game server, HTTP API and store in one process.
#[derive(Debug, Parser, Default, Clone)]
#[command(name = "vitrine-server", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Address for the HTTP API [default: 127.0.0.1:8080]
    #[arg(long, global = true, env = "VITRINE_HTTP", value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// UDP address for the game link [default: 127.0.0.1:5000]
    #[arg(long, global = true, env = "VITRINE_UDP", value_name = "ADDR")]
    pub udp: Option<SocketAddr>,
    /// Game address written into connect tokens, when clients must reach the
    /// UDP socket through another address (NAT, 0.0.0.0) [default: the UDP address]
    #[arg(long, global = true, env = "VITRINE_PUBLIC_ADDR", value_name = "ADDR")]
    pub public_addr: Option<SocketAddr>,
    /// Directory for keys and the embedded database [default: ./data]
    #[arg(long, global = true, env = "VITRINE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://… [default: SQLite in the data dir]
    #[arg(long, global = true, env = "VITRINE_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// TOML file with any of these settings and the tuning ones (rate limits, rooms file)
    #[arg(long, global = true, env = "VITRINE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Run without the media relay (no live video)
    #[arg(long, global = true, env = "VITRINE_NO_MEDIA")]
    pub no_media: bool,
    /// SRT ingest for the host's video [default: 127.0.0.1:9000]
    #[arg(long, global = true, env = "VITRINE_MEDIA_INGEST", value_name = "ADDR")]
    pub media_ingest: Option<SocketAddr>,
    /// SRT listener for viewers [default: 127.0.0.1:9001]
    #[arg(
        long,
        global = true,
        env = "VITRINE_MEDIA_VIEWERS",
        value_name = "ADDR"
    )]
    pub media_viewers: Option<SocketAddr>,
    /// RTMP ingest through ffmpeg, or `off` [default: 127.0.0.1:1935]
    #[arg(
        long,
        global = true,
        env = "VITRINE_MEDIA_RTMP",
        value_name = "ADDR|off"
    )]
    pub media_rtmp: Option<String>,
    /// Host name written into the stream URLs [default: the listeners' address]
    #[arg(
        long,
        global = true,
        env = "VITRINE_MEDIA_PUBLIC_HOST",
        value_name = "HOST"
    )]
    pub media_public_host: Option<String>,
    /// A co-host seat's SRT listener; repeat for up to four. With any, the
    /// host and co-hosts are composed into one stage picture
    #[arg(
        long = "media-co-host",
        global = true,
        env = "VITRINE_MEDIA_CO_HOSTS",
        value_delimiter = ',',
        value_name = "ADDR"
    )]
    pub media_co_hosts: Vec<SocketAddr>,
    /// Log lines as text for people or as JSON for a log collector. Not a
    /// file setting: logging starts before the file is read, so its errors
    /// are logged in the chosen format too.
    #[arg(
        long,
        global = true,
        env = "VITRINE_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Human
    )]
    pub log_format: LogFormat,
}

#[derive(Debug, clap::Subcommand, Clone)]
pub enum Command {
    /// Administration that runs against the store and exits
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Debug, clap::Subcommand, Clone)]
pub enum AdminCommand {
    /// Create an account that signs in with a username and password; prints
    /// the password unless one is given
    CreateUser {
        /// Username: 3 to 32 of a-z, 0-9, '.', '_', '-'
        username: String,
        #[arg(long, value_enum, default_value = "shopper")]
        role: RoleArg,
        /// Name shown to others [default: the username]
        #[arg(long)]
        display_name: Option<String>,
        /// Password (12 to 256 characters) [default: a generated one]
        #[arg(long, env = "VITRINE_NEW_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Give an account another role; its console feeds close within seconds
    SetRole {
        username: String,
        #[arg(long, value_enum)]
        role: RoleArg,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    Shopper,
    Host,
    CoHost,
    Moderator,
}

impl From<RoleArg> for vitrine_shared::Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Shopper => vitrine_shared::Role::Shopper,
            RoleArg::Host => vitrine_shared::Role::Host,
            RoleArg::CoHost => vitrine_shared::Role::CoHost,
            RoleArg::Moderator => vitrine_shared::Role::Moderator,
        }
    }
}

/// The TOML file. Every key is optional; unknown keys are an error, so a
/// typo is caught at start rather than silently ignored.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub http: Option<SocketAddr>,
    pub udp: Option<SocketAddr>,
    pub public_addr: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub rooms_file: Option<PathBuf>,
    pub catalog_file: Option<PathBuf>,
    pub rewards_file: Option<PathBuf>,
    pub default_capacity: Option<usize>,
    pub session_ttl_secs: Option<u64>,
    pub payment_timeout_secs: Option<u64>,
    pub payment_hold_secs: Option<u64>,
    pub cart_hold_secs: Option<u64>,
    /// For crash tests only: the built-in test gateway's captures never
    /// answer, so a process can be killed between a team filling and its
    /// capture. Named for what it does so nobody sets it by accident.
    pub test_gateway_stalls_captures: Option<bool>,
    /// For crash tests only: authorizations never reach the test gateway,
    /// so a process can be killed between making an order and its payment.
    pub test_gateway_stalls_authorizations: Option<bool>,
    /// For crash tests only: the test gateway captures, and its answer
    /// never comes back, so a process can be killed after the provider took
    /// the money and before the shop heard of it.
    pub test_gateway_loses_capture_answers: Option<bool>,
    /// `"test"` (the default: the built-in gateway, no money moves) or
    /// `"stripe"` (then the three `stripe_*` keys are required).
    pub payment_provider: Option<String>,
    pub stripe_api_base: Option<String>,
    /// Secrets: `Debug` of this struct must never print them.
    pub stripe_secret_key: Option<Secret>,
    pub stripe_webhook_secret: Option<Secret>,
    /// Optional: a PEM file of the roots to trust for `stripe_api_base`
    /// instead of the bundled Mozilla roots (a private egress proxy's CA).
    pub stripe_ca_file: Option<PathBuf>,
    pub chat: Option<RateConfig>,
    pub reactions: Option<RateConfig>,
    pub http_rate: Option<RateConfig>,
    pub account_rate: Option<RateConfig>,
    pub guests_per_network_per_day: Option<u32>,
    pub media: Option<MediaFileConfig>,
}

/// `[media]`: the relay. Every key optional; `enabled = false` turns it off.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MediaFileConfig {
    pub enabled: Option<bool>,
    pub ingest: Option<SocketAddr>,
    pub viewers: Option<SocketAddr>,
    /// An address, or "off".
    pub rtmp: Option<String>,
    pub public_host: Option<String>,
    pub latency_ms: Option<u32>,
    pub hls: Option<bool>,
    pub record: Option<bool>,
    /// Co-host seats' SRT listeners (up to four): the stage composes them
    /// with the host.
    pub co_hosts: Option<Vec<SocketAddr>>,
    /// The relay's loopback ingest behind the stage.
    pub stage_relay: Option<SocketAddr>,
}

/// A token bucket: `per_second` sustained, `burst` at once.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RateConfig {
    pub per_second: f64,
    pub burst: u32,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub http: SocketAddr,
    pub udp: SocketAddr,
    pub public_addr: Option<SocketAddr>,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub rooms_file: PathBuf,
    /// Seeds the catalog when the database has none.
    pub catalog_file: PathBuf,
    /// Points, caps, rewards and quests (`assets/rewards.toml`).
    pub rewards_file: PathBuf,
    pub default_capacity: usize,
    pub session_ttl: Duration,
    pub chat: RateConfig,
    pub reactions: RateConfig,
    /// Per client IP, for sign-in and join.
    pub http_rate: RateConfig,
    /// Per signed-in account, for every request that changes something
    /// (carts, checkout, claims, votes, questions, staff actions).
    pub account_rate: RateConfig,
    /// Guest accounts one network (an IPv4 address, an IPv6 /64) may create
    /// in a rolling day; see `crate::fair`.
    pub guests_per_network_per_day: u32,
    /// Lifetime of a connect token. DESIGN.md: 30 s.
    pub connect_token_ttl: Duration,
    /// How long the payment provider has to answer before the order is
    /// cancelled and its units released.
    pub payment_timeout: Duration,
    /// How long a claimed order holds its units unpaid.
    pub payment_hold: Duration,
    /// How long a cart line holds its units after the shopper last changed it.
    pub cart_hold: Duration,
    /// The test gateway's captures never answer (crash tests only).
    pub test_gateway_stalls_captures: bool,
    /// The test gateway's authorizations never answer (crash tests only).
    pub test_gateway_stalls_authorizations: bool,
    /// The test gateway captures and never answers (crash tests only).
    pub test_gateway_loses_capture_answers: bool,
    /// Benchmarks only (`bench-flash-sale`): a baseline that decides
    /// flash-sale claims over HTTP instead of the commerce engine. Never
    /// read from a file or flag.
    pub claims_decided_by: Option<crate::commerce::baseline::ClaimDesk>,
    /// Who takes the money: the built-in test gateway or Stripe.
    pub payment_provider: PaymentProvider,
    /// The length of a watch "minute": 60 s. Not a file setting; tests
    /// shorten it so presence can be tested in seconds.
    pub watch_minute: Duration,
    /// How long a dropped product lies loose before the server puts it back
    /// on its display: `LOOSE_RETURN_SECS`. Not a file setting; tests
    /// shorten it.
    pub loose_return: Duration,
    /// What the engines, the store and the rooms read the time from. Not a
    /// file setting: the system clock; tests pass a manual one and move it.
    pub clock: crate::clock::Clock,
    /// A silent client is dropped after this long.
    pub client_timeout_secs: i32,
    /// The media relay; `None` runs without live video. The binary turns it
    /// on by default; [`ServerConfig::local`] leaves it off so tests, which
    /// run many servers at once, opt in with their own ports.
    pub media: Option<crate::media::MediaConfig>,
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is invalid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid setting {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

pub const DEFAULT_CAPACITY: usize = 100;

/// Who takes the money (`payment_provider` in the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentProvider {
    /// The built-in test gateway, journaled in the data dir.
    Test,
    Stripe(crate::commerce::StripeConfig),
}

impl ServerConfig {
    /// Defaults suited to a local run from the repository root.
    pub fn local(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        ServerConfig {
            http: "127.0.0.1:8080".parse().expect("literal address"),
            udp: "127.0.0.1:5000".parse().expect("literal address"),
            public_addr: None,
            database_url: sqlite_url(&data_dir),
            data_dir,
            rooms_file: default_asset("rooms.toml"),
            catalog_file: default_asset("catalog.toml"),
            rewards_file: default_asset("rewards.toml"),
            default_capacity: DEFAULT_CAPACITY,
            session_ttl: Duration::from_secs(24 * 3600),
            chat: RateConfig {
                per_second: vitrine_shared::limits::rates::CHAT_PER_SECOND,
                burst: vitrine_shared::limits::rates::CHAT_BURST,
            },
            reactions: RateConfig {
                per_second: vitrine_shared::limits::rates::REACTIONS_PER_SECOND,
                burst: vitrine_shared::limits::rates::REACTIONS_BURST,
            },
            http_rate: RateConfig {
                per_second: 20.0,
                burst: 100,
            },
            account_rate: RateConfig {
                per_second: 10.0,
                burst: 30,
            },
            guests_per_network_per_day: vitrine_shared::limits::fair::GUESTS_PER_NETWORK_PER_DAY,
            connect_token_ttl: Duration::from_secs(30),
            payment_timeout: Duration::from_secs(10),
            payment_hold: Duration::from_secs(600),
            cart_hold: Duration::from_secs(600),
            test_gateway_stalls_captures: false,
            test_gateway_stalls_authorizations: false,
            test_gateway_loses_capture_answers: false,
            claims_decided_by: None,
            payment_provider: PaymentProvider::Test,
            watch_minute: Duration::from_secs(60),
            loose_return: Duration::from_secs(vitrine_shared::protocol::LOOSE_RETURN_SECS),
            clock: crate::clock::Clock::system(),
            client_timeout_secs: 10,
            media: None,
        }
    }

    /// Resolves flags and environment (already merged by clap) over the file
    /// over the defaults.
    pub fn resolve(cli: &Cli) -> Result<Self, ConfigError> {
        let file = match &cli.config {
            Some(path) => Self::read_file(path)?,
            None => FileConfig::default(),
        };
        let data_dir = cli
            .data_dir
            .clone()
            .or(file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("data"));
        let mut config = ServerConfig::local(&data_dir);
        config.http = cli.http.or(file.http).unwrap_or(config.http);
        config.udp = cli.udp.or(file.udp).unwrap_or(config.udp);
        config.public_addr = cli.public_addr.or(file.public_addr);
        config.database_url = cli
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or(config.database_url);
        if let Some(rooms) = file.rooms_file {
            config.rooms_file = rooms;
        }
        if let Some(catalog) = file.catalog_file {
            config.catalog_file = catalog;
        }
        if let Some(rewards) = file.rewards_file {
            config.rewards_file = rewards;
        }
        if let Some(capacity) = file.default_capacity {
            config.default_capacity = capacity;
        }
        if let Some(ttl) = file.session_ttl_secs {
            config.session_ttl = Duration::from_secs(ttl);
        }
        if let Some(secs) = file.payment_timeout_secs {
            config.payment_timeout = Duration::from_secs(secs);
        }
        if let Some(secs) = file.payment_hold_secs {
            config.payment_hold = Duration::from_secs(secs);
        }
        if let Some(stall) = file.test_gateway_stalls_captures {
            config.test_gateway_stalls_captures = stall;
        }
        if let Some(stall) = file.test_gateway_stalls_authorizations {
            config.test_gateway_stalls_authorizations = stall;
        }
        if let Some(lose) = file.test_gateway_loses_capture_answers {
            config.test_gateway_loses_capture_answers = lose;
        }
        config.payment_provider = Self::resolve_provider(
            [file.payment_provider, file.stripe_api_base],
            [file.stripe_secret_key, file.stripe_webhook_secret],
            file.stripe_ca_file,
        )?;
        if let Some(secs) = file.cart_hold_secs {
            config.cart_hold = Duration::from_secs(secs);
        }
        config.chat = file.chat.unwrap_or(config.chat);
        config.reactions = file.reactions.unwrap_or(config.reactions);
        config.http_rate = file.http_rate.unwrap_or(config.http_rate);
        config.account_rate = file.account_rate.unwrap_or(config.account_rate);
        config.guests_per_network_per_day = file
            .guests_per_network_per_day
            .unwrap_or(config.guests_per_network_per_day);
        config.media = Self::resolve_media(cli, file.media.unwrap_or_default())?;
        config.validate()?;
        Ok(config)
    }

    /// `payment_provider` and `stripe_api_base`, then the two secrets and
    /// the optional CA file.
    fn resolve_provider(
        [provider, api_base]: [Option<String>; 2],
        [secret_key, webhook_secret]: [Option<Secret>; 2],
        ca_file: Option<PathBuf>,
    ) -> Result<PaymentProvider, ConfigError> {
        let stripe_keys = [
            api_base.is_some(),
            secret_key.is_some(),
            webhook_secret.is_some(),
            ca_file.is_some(),
        ];
        match provider.as_deref().unwrap_or("test") {
            "test" if stripe_keys.iter().any(|&k| k) => Err(ConfigError::Invalid {
                key: "payment_provider",
                message: "stripe_* keys are set but payment_provider is not \"stripe\"".into(),
            }),
            "test" => Ok(PaymentProvider::Test),
            "stripe" => {
                fn need<T: Clone>(value: &Option<T>, key: &'static str) -> Result<T, ConfigError> {
                    value.clone().ok_or(ConfigError::Invalid {
                        key,
                        message: "required when payment_provider = \"stripe\"".into(),
                    })
                }
                Ok(PaymentProvider::Stripe(crate::commerce::StripeConfig {
                    api_base: need(&api_base, "stripe_api_base")?,
                    secret_key: need(&secret_key, "stripe_secret_key")?,
                    webhook_secret: need(&webhook_secret, "stripe_webhook_secret")?,
                    ca_file,
                }))
            }
            other => Err(ConfigError::Invalid {
                key: "payment_provider",
                message: format!("{other:?} is neither \"test\" nor \"stripe\""),
            }),
        }
    }

    fn resolve_media(
        cli: &Cli,
        file: MediaFileConfig,
    ) -> Result<Option<crate::media::MediaConfig>, ConfigError> {
        if cli.no_media || file.enabled == Some(false) {
            return Ok(None);
        }
        let mut media = crate::media::MediaConfig::default();
        media.ingest = cli.media_ingest.or(file.ingest).unwrap_or(media.ingest);
        media.viewers = cli.media_viewers.or(file.viewers).unwrap_or(media.viewers);
        if let Some(rtmp) = cli.media_rtmp.clone().or(file.rtmp) {
            media.rtmp = match rtmp.as_str() {
                "off" => None,
                addr => Some(addr.parse().map_err(|_| ConfigError::Invalid {
                    key: "media.rtmp",
                    message: format!("{addr:?} is neither an address (IP:PORT) nor \"off\""),
                })?),
            };
        }
        media.public_host = cli.media_public_host.clone().or(file.public_host);
        media.latency_ms = file.latency_ms.unwrap_or(media.latency_ms);
        media.hls = file.hls.unwrap_or(media.hls);
        media.record = file.record.unwrap_or(media.record);
        media.co_hosts = if cli.media_co_hosts.is_empty() {
            file.co_hosts.unwrap_or_default()
        } else {
            cli.media_co_hosts.clone()
        };
        media.stage_relay = file.stage_relay.unwrap_or(media.stage_relay);
        Ok(Some(media))
    }

    pub fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, rate) in [
            ("chat", self.chat),
            ("reactions", self.reactions),
            ("http_rate", self.http_rate),
            ("account_rate", self.account_rate),
        ] {
            if !(rate.per_second.is_finite() && rate.per_second > 0.0) || rate.burst == 0 {
                return Err(ConfigError::Invalid {
                    key,
                    message: "per_second must be positive and burst at least 1".into(),
                });
            }
        }
        if self.default_capacity == 0 || self.default_capacity > crate::rooms::MAX_ROOM_CAPACITY {
            return Err(ConfigError::Invalid {
                key: "default_capacity",
                message: format!("must be 1 to {}", crate::rooms::MAX_ROOM_CAPACITY),
            });
        }
        for (key, value, range) in [
            ("payment_timeout_secs", self.payment_timeout, 1..=120),
            ("payment_hold_secs", self.payment_hold, 1..=86_400),
            ("cart_hold_secs", self.cart_hold, 1..=86_400),
        ] {
            if !range.contains(&value.as_secs()) {
                return Err(ConfigError::Invalid {
                    key,
                    message: format!("must be {} to {} seconds", range.start(), range.end()),
                });
            }
        }
        let guests = 1..=vitrine_shared::limits::fair::MAX_GUESTS_PER_NETWORK_PER_DAY;
        if !guests.contains(&self.guests_per_network_per_day) {
            return Err(ConfigError::Invalid {
                key: "guests_per_network_per_day",
                message: format!("must be {} to {}", guests.start(), guests.end()),
            });
        }
        if let PaymentProvider::Stripe(stripe) = &self.payment_provider {
            stripe
                .validate()
                .map_err(|(key, message)| ConfigError::Invalid { key, message })?;
        }
        if let Some(media) = &self.media {
            media.validate().map_err(|message| ConfigError::Invalid {
                key: "media",
                message,
            })?;
            // RTMP is TCP, as HTTP is: the host's listener, and each
            // co-host seat's on its port number, must leave HTTP's alone.
            let rtmp_ports: Vec<u16> = match media.rtmp {
                Some(rtmp) => std::iter::once(rtmp.port())
                    .chain(media.co_hosts.iter().map(|c| c.port()))
                    .collect(),
                None => Vec::new(),
            };
            if self.http.port() != 0 && rtmp_ports.contains(&self.http.port()) {
                return Err(ConfigError::Invalid {
                    key: "media",
                    message: format!(
                        "RTMP (the host's, or a co-host seat's on its port number) would take \
                         the HTTP port {}",
                        self.http.port()
                    ),
                });
            }
        }
        if self.public_addr.is_none() && self.udp.ip().is_unspecified() {
            return Err(ConfigError::Invalid {
                key: "public_addr",
                message: "set it when the UDP address is unspecified (0.0.0.0 or [::])".into(),
            });
        }
        Ok(())
    }
}

/// The URL of schema `schema` on the PostgreSQL server at `pg`, made first
/// if it is not there: how tests keep each server's rows apart on one
/// database (the store's tests, the test harness, the server-binary tests).
#[doc(hidden)]
pub async fn postgres_schema_url(pg: &str, schema: &str) -> Result<String, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(pg).await?;
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .execute(&admin)
        .await?;
    admin.close().await;
    let sep = if pg.contains('?') { '&' } else { '?' };
    Ok(format!("{pg}{sep}options[search_path]={schema}"))
}

/// The URL of a test server's own schema on the PostgreSQL server at `pg`,
/// named `{prefix}_` and a hash of `data_dir`, so a server restarted on the
/// same data dir finds its rows and no two data dirs share one. Blocking:
/// the test harnesses call it before they start a server.
#[doc(hidden)]
pub fn postgres_schema_for(pg: &str, prefix: &str, data_dir: &Path) -> Result<String, String> {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data_dir.to_string_lossy().as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?
        .block_on(postgres_schema_url(pg, &format!("{prefix}_{hex}")))
        .map_err(|e| e.to_string())
}

pub fn sqlite_url(data_dir: &Path) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        data_dir.join("vitrine.db").display()
    )
}

/// `assets/NAME` beside the workspace when run by cargo, else in the
/// working directory.
pub fn default_asset(name: &str) -> PathBuf {
    let in_workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../assets")
        .join(name);
    if in_workspace.exists() {
        in_workspace
    } else {
        Path::new("assets").join(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vitrine.toml");
        std::fs::write(
            &path,
            "http = \"127.0.0.1:9000\"\nudp = \"127.0.0.1:9001\"\n[chat]\nper_second = 2.0\nburst = 3\n",
        )
        .unwrap();
        let cli = Cli {
            http: Some("127.0.0.1:7000".parse().unwrap()),
            config: Some(path),
            ..Cli::default()
        };
        let config = ServerConfig::resolve(&cli).unwrap();
        assert_eq!(config.http.port(), 7000);
        assert_eq!(config.udp.port(), 9001);
        assert_eq!(
            config.chat,
            RateConfig {
                per_second: 2.0,
                burst: 3
            }
        );
        assert_eq!(config.reactions, ServerConfig::local("data").reactions);
    }

    #[test]
    fn the_guest_limit_per_network_is_a_setting_with_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("guests.toml");
        let cli = Cli {
            config: Some(path.clone()),
            ..Cli::default()
        };
        std::fs::write(&path, "").unwrap();
        assert_eq!(
            ServerConfig::resolve(&cli)
                .unwrap()
                .guests_per_network_per_day,
            30
        );
        std::fs::write(&path, "guests_per_network_per_day = 5").unwrap();
        assert_eq!(
            ServerConfig::resolve(&cli)
                .unwrap()
                .guests_per_network_per_day,
            5
        );
        for bad in ["0", "1000001"] {
            std::fs::write(&path, format!("guests_per_network_per_day = {bad}")).unwrap();
            assert!(matches!(
                ServerConfig::resolve(&cli),
                Err(ConfigError::Invalid {
                    key: "guests_per_network_per_day",
                    ..
                })
            ));
        }
    }

    #[test]
    fn bad_files_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "htp = \"127.0.0.1:1\"\n").unwrap();
        let cli = Cli {
            config: Some(path.clone()),
            ..Cli::default()
        };
        assert!(matches!(
            ServerConfig::resolve(&cli),
            Err(ConfigError::Parse { .. })
        ));

        std::fs::write(&path, "[chat]\nper_second = -1.0\nburst = 1\n").unwrap();
        assert!(matches!(
            ServerConfig::resolve(&cli),
            Err(ConfigError::Invalid { key: "chat", .. })
        ));

        for (line, key) in [
            ("cart_hold_secs = 0", "cart_hold_secs"),
            ("cart_hold_secs = 100000", "cart_hold_secs"),
            ("payment_hold_secs = 0", "payment_hold_secs"),
            ("payment_timeout_secs = 0", "payment_timeout_secs"),
        ] {
            std::fs::write(&path, line).unwrap();
            match ServerConfig::resolve(&cli) {
                Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{line}"),
                other => panic!("{line}: expected an invalid-setting error, got {other:?}"),
            }
        }
        std::fs::write(&path, "cart_hold_secs = 120").unwrap();
        let config = ServerConfig::resolve(&cli).unwrap();
        assert_eq!(config.cart_hold, std::time::Duration::from_secs(120));

        let missing = Cli {
            config: Some(dir.path().join("nope.toml")),
            ..Cli::default()
        };
        assert!(matches!(
            ServerConfig::resolve(&missing),
            Err(ConfigError::Read { .. })
        ));
    }

    #[test]
    fn the_payment_provider_is_chosen_in_the_file_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pay.toml");
        let cli = Cli {
            config: Some(path.clone()),
            ..Cli::default()
        };
        std::fs::write(&path, "").unwrap();
        assert_eq!(
            ServerConfig::resolve(&cli).unwrap().payment_provider,
            PaymentProvider::Test
        );
        let stripe = "payment_provider = \"stripe\"\nstripe_api_base = \"http://127.0.0.1:12111\"\n\
                      stripe_secret_key = \"sk_test_hidden\"\nstripe_webhook_secret = \"whsec_hidden\"\n";
        std::fs::write(&path, stripe).unwrap();
        let config = ServerConfig::resolve(&cli).unwrap();
        let PaymentProvider::Stripe(chosen) = &config.payment_provider else {
            panic!("stripe was asked for");
        };
        assert_eq!(chosen.api_base, "http://127.0.0.1:12111");
        assert_eq!(chosen.secret_key.expose(), "sk_test_hidden");
        // Secrets never show, however the config is printed, nor does the
        // file as read.
        assert!(!format!("{config:?}").contains("hidden"));
        let file: FileConfig = toml::from_str(stripe).unwrap();
        let shown = format!("{file:?}");
        assert!(!shown.contains("hidden"), "{shown}");
        for (text, key) in [
            ("payment_provider = \"paypal\"", "payment_provider"),
            ("stripe_secret_key = \"sk\"", "payment_provider"),
            ("payment_provider = \"stripe\"", "stripe_api_base"),
            (
                &stripe.replace("http://127.0.0.1:12111", "http://api.stripe.com"),
                "stripe_api_base",
            ),
            (
                &format!("{stripe}stripe_ca_file = \"/nonexistent/ca.pem\"\n"),
                "stripe_ca_file",
            ),
            (
                "stripe_ca_file = \"/etc/ssl/certs/ca-certificates.crt\"",
                "payment_provider",
            ),
            (
                &stripe.replace("stripe_webhook_secret = \"whsec_hidden\"\n", ""),
                "stripe_webhook_secret",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            match ServerConfig::resolve(&cli) {
                Err(ConfigError::Invalid { key: k, message }) => {
                    assert_eq!(k, key, "{text}");
                    assert!(!message.contains("hidden"), "{message}");
                }
                other => panic!("{text}: expected an invalid-setting error, got {other:?}"),
            }
        }
    }

    #[test]
    fn the_log_format_is_text_unless_json_is_asked_for() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("vitrine-server").chain(args.iter().copied()))
        };
        assert_eq!(parse(&[]).unwrap().log_format, LogFormat::Human);
        assert_eq!(
            parse(&["--log-format", "json"]).unwrap().log_format,
            LogFormat::Json
        );
        assert_eq!(
            parse(&["--log-format", "human"]).unwrap().log_format,
            LogFormat::Human
        );
        // Global, like the other flags: it works after a subcommand too.
        let admin = parse(&["admin", "create-user", "ada", "--log-format", "json"]).unwrap();
        assert_eq!(admin.log_format, LogFormat::Json);
        assert!(parse(&["--log-format", "xml"]).is_err());
    }

    #[test]
    fn unspecified_udp_needs_a_public_address() {
        let cli = Cli {
            udp: Some("0.0.0.0:5000".parse().unwrap()),
            ..Cli::default()
        };
        assert!(matches!(
            ServerConfig::resolve(&cli),
            Err(ConfigError::Invalid {
                key: "public_addr",
                ..
            })
        ));
    }

    #[test]
    fn media_settings_resolve_and_bad_ones_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("media.toml");
        let with = |text: &str, cli: Cli| {
            std::fs::write(&path, text).unwrap();
            ServerConfig::resolve(&Cli {
                config: Some(path.clone()),
                ..cli
            })
        };
        // On by default in the binary, with the documented ports.
        let media = with("", Cli::default()).unwrap().media.unwrap();
        assert_eq!(media, crate::media::MediaConfig::default());
        // The flag beats the file; `off` turns RTMP off.
        let media = with(
            "[media]\ningest = \"127.0.0.1:7000\"\nrtmp = \"off\"\n",
            Cli {
                media_ingest: Some("127.0.0.1:7100".parse().unwrap()),
                ..Cli::default()
            },
        )
        .unwrap()
        .media
        .unwrap();
        assert_eq!((media.ingest.port(), media.rtmp), (7100, None));
        assert!(
            with("[media]\nenabled = false\n", Cli::default())
                .unwrap()
                .media
                .is_none()
        );
        assert!(
            with(
                "",
                Cli {
                    no_media: true,
                    ..Cli::default()
                }
            )
            .unwrap()
            .media
            .is_none()
        );
        for bad in [
            "[media]\nrtmp = \"nowhere\"\n",
            "[media]\ningest = \"127.0.0.1:9001\"\n",
            "[media]\nlatency_ms = 0\n",
            "[media]\npublic_host = \"a b\"\n",
            // TCP clashes with HTTP (8080): the host's RTMP, a seat's RTMP.
            "[media]\nrtmp = \"127.0.0.1:8080\"\n",
            "[media]\nco_hosts = [\"127.0.0.1:8080\"]\n",
        ] {
            assert!(
                matches!(with(bad, Cli::default()), Err(ConfigError::Invalid { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            with("[media]\ningest = 5\n", Cli::default()),
            Err(ConfigError::Parse { .. })
        ));
        assert!(matches!(
            with("[media]\nport = 5\n", Cli::default()),
            Err(ConfigError::Parse { .. })
        ));
    }
}
