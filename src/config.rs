//! Configuration of `serve`: defaults < optional TOML file < `XCTI_*` environment < flags.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use cti_actors::dispatch::outcome::RetryPolicy;
use cti_actors::dispatch::DispatchSettings;
use cti_actors::external::ExternalSettings;
use cti_actors::outbox::OutboxSettings;
use cti_actors::store::Retention;
use cti_actors::tenant::TenantSettings;
use cti_actors::token::TokenSettings;
use cti_actors::AdminSettings;
use serde::Deserialize;

/// Flags of `xelion-cti serve` (each with its `XCTI_*` environment variable).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// A TOML file with any of the settings below (flags and environment win over it).
    #[arg(long, env = "XCTI_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "XCTI_LISTEN")]
    pub listen: Option<String>,
    /// `sqlite://FILE` (the default: xelion-cti.db, created on first start) or `postgres://...`.
    #[arg(long, env = "XCTI_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Key file for secrets at rest, created (mode 0600) on first start when XCTI_MASTER_KEY
    /// is not set [default: xelion-cti.key beside a SQLite database, else in the working directory].
    #[arg(long, env = "XCTI_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// CIDRs or host names outgoing requests may reach despite the private-address rule
    /// (comma-separated; e.g. `127.0.0.1/8` for the simulators).
    #[arg(long, env = "XCTI_OUTBOUND_ALLOW", value_delimiter = ',')]
    pub outbound_allow: Vec<String>,
    /// Outgoing requests reach only what --outbound-allow names: public addresses are
    /// refused too, and other host names are not looked up [default: false].
    #[arg(long, env = "XCTI_OUTBOUND_ONLY_ALLOWED")]
    pub outbound_only_allowed: Option<bool>,
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, env = "XCTI_LOG_JSON")]
    pub log_json: Option<bool>,
    /// Lifetime of an admin API token, in seconds [default: 28800].
    #[arg(long, env = "XCTI_SESSION_TTL")]
    pub session_ttl: Option<u64>,
    /// Failed logins (API login, creating an integration) allowed per source address per
    /// minute before 429; 0: no limit [default: 30].
    #[arg(long, env = "XCTI_FAILED_LOGINS_PER_SOURCE")]
    pub failed_logins_per_source: Option<u32>,
    /// Failed logins allowed per Xelion host, tenant and user name per minute; 0: no limit
    /// [default: 10].
    #[arg(long, env = "XCTI_FAILED_LOGINS_PER_USER")]
    pub failed_logins_per_user: Option<u32>,
    /// Xelion logins in flight at once, over all tenants [default: 8].
    #[arg(long, env = "XCTI_XELION_LOGINS_AT_ONCE")]
    pub xelion_logins_at_once: Option<usize>,
    /// Xelion logins started per second, over all tenants [default: 40].
    #[arg(long, env = "XCTI_XELION_LOGINS_PER_SECOND")]
    pub xelion_logins_per_second: Option<u32>,
    /// Days delivered deliveries are kept in the delivery log [default: 7].
    #[arg(long, env = "XCTI_DELIVERED_RETENTION_DAYS")]
    pub delivered_retention_days: Option<u64>,
    /// Days failed deliveries are kept [default: 30].
    #[arg(long, env = "XCTI_FAILED_RETENTION_DAYS")]
    pub failed_retention_days: Option<u64>,
    /// Hours within which the same event (crm context, user, event type, callId) is
    /// delivered once [default: 24].
    #[arg(long, env = "XCTI_DEDUPE_WINDOW_HOURS")]
    pub dedupe_window_hours: Option<u64>,
    /// Hours a delivery is retried before it fails [default: 24].
    #[arg(long, env = "XCTI_DELIVERY_TTL_HOURS")]
    pub delivery_ttl_hours: Option<u64>,
    /// CRM requests in flight at once per crm context [default: 16].
    #[arg(long, env = "XCTI_CRM_REQUESTS_IN_FLIGHT")]
    pub crm_requests_in_flight: Option<usize>,
    /// Seconds one CRM request may take [default: 10].
    #[arg(long, env = "XCTI_CRM_REQUEST_TIMEOUT")]
    pub crm_request_timeout: Option<u64>,
    /// Seconds a stopping server waits for CRM requests in flight to finish; what is not
    /// finished by then is sent again after the next start [default: 10].
    #[arg(long, env = "XCTI_SHUTDOWN_GRACE")]
    pub shutdown_grace: Option<u64>,
    /// Seconds one external API call may take before it answers 504 [default: 30].
    #[arg(long, env = "XCTI_EXTERNAL_REQUEST_TIMEOUT")]
    pub external_request_timeout: Option<u64>,
}

/// Flags of `xelion-cti migrate`: only what opening the database needs.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct MigrateArgs {
    /// A TOML file with any of the settings below (flags and environment win over it); the
    /// keys of `serve` are accepted and ignored.
    #[arg(long, env = "XCTI_CONFIG")]
    pub config: Option<PathBuf>,
    /// `sqlite://FILE` (the default: xelion-cti.db, created on first start) or `postgres://...`.
    #[arg(long, env = "XCTI_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Key file for secrets at rest, created (mode 0600) when XCTI_MASTER_KEY is not set
    /// [default: xelion-cti.key beside a SQLite database, else in the working directory].
    #[arg(long, env = "XCTI_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, env = "XCTI_LOG_JSON")]
    pub log_json: Option<bool>,
}

impl From<MigrateArgs> for ServeArgs {
    fn from(a: MigrateArgs) -> Self {
        ServeArgs {
            config: a.config,
            database_url: a.database_url,
            master_key_file: a.master_key_file,
            log_json: a.log_json,
            ..ServeArgs::default()
        }
    }
}

/// The TOML file: the same settings, snake_case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    database_url: Option<String>,
    master_key_file: Option<PathBuf>,
    outbound_allow: Option<Vec<String>>,
    outbound_only_allowed: Option<bool>,
    log_json: Option<bool>,
    session_ttl: Option<u64>,
    failed_logins_per_source: Option<u32>,
    failed_logins_per_user: Option<u32>,
    xelion_logins_at_once: Option<usize>,
    xelion_logins_per_second: Option<u32>,
    delivered_retention_days: Option<u64>,
    failed_retention_days: Option<u64>,
    dedupe_window_hours: Option<u64>,
    delivery_ttl_hours: Option<u64>,
    crm_requests_in_flight: Option<usize>,
    crm_request_timeout: Option<u64>,
    shutdown_grace: Option<u64>,
    external_request_timeout: Option<u64>,
}

/// Where the master key comes from.
#[derive(Clone)]
pub enum MasterKey {
    /// Base64 of 32 bytes (from `XCTI_MASTER_KEY`).
    Base64(String),
    /// A key file, created when missing.
    File(PathBuf),
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MasterKey::Base64(_) => f.write_str("MasterKey::Base64(***)"),
            MasterKey::File(p) => write!(f, "MasterKey::File({})", p.display()),
        }
    }
}

/// The resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to bind.
    pub listen: String,
    /// Database URL.
    pub database_url: String,
    /// The master key.
    pub master_key: MasterKey,
    /// The outbound allowlist.
    pub outbound_allow: Vec<String>,
    /// Only the allowlist: no public address, no lookup of other names.
    pub outbound_only_allowed: bool,
    /// JSON logs.
    pub log_json: bool,
    /// Admin token lifetime.
    pub session_ttl: Duration,
    /// Failed logins per source address per minute (0: no limit).
    pub failed_logins_per_source: u32,
    /// Failed logins per (host, tenant, user) per minute (0: no limit).
    pub failed_logins_per_user: u32,
    /// Timers and limits of the tenants' Xelion event sessions.
    pub tenants: TenantSettings,
    /// The outbox writer: batching, leases, retention.
    pub outbox: OutboxSettings,
    /// Timers of the users' OAuth token actors.
    pub tokens: TokenSettings,
    /// Dispatch: requests in flight, timeouts, retries.
    pub dispatch: DispatchSettings,
    /// External API calls of Xelion app users: timeout, answer size.
    pub external: ExternalSettings,
}

/// The default database: a SQLite file in the working directory.
pub const DEFAULT_DATABASE: &str = "sqlite://xelion-cti.db";

impl Settings {
    /// Layers flags/environment (already merged by clap) over the file over the defaults.
    pub fn resolve(args: &ServeArgs) -> anyhow::Result<Settings> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("config file {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let database_url = args
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| DEFAULT_DATABASE.to_string());
        // Before anything uses it (the key file's default place depends on it).
        cti_actors::store::check_database_url(&database_url).map_err(|e| {
            anyhow::anyhow!(
                "--database-url {}: {e}",
                crate::app::redact_url(&database_url)
            )
        })?;
        let master_key = match std::env::var("XCTI_MASTER_KEY") {
            Ok(k) if !k.trim().is_empty() => MasterKey::Base64(k.trim().to_string()),
            _ => MasterKey::File(
                args.master_key_file
                    .clone()
                    .or(file.master_key_file)
                    .unwrap_or_else(|| default_key_file(&database_url)),
            ),
        };
        let outbound_allow = if args.outbound_allow.is_empty() {
            file.outbound_allow.unwrap_or_default()
        } else {
            args.outbound_allow.clone()
        };
        Ok(Settings {
            listen: args
                .listen
                .clone()
                .or(file.listen)
                .unwrap_or_else(|| "127.0.0.1:8080".to_string()),
            database_url,
            master_key,
            outbound_allow,
            outbound_only_allowed: args
                .outbound_only_allowed
                .or(file.outbound_only_allowed)
                .unwrap_or(false),
            log_json: args.log_json.or(file.log_json).unwrap_or(false),
            session_ttl: Duration::from_secs(
                args.session_ttl.or(file.session_ttl).unwrap_or(8 * 3600),
            ),
            failed_logins_per_source: args
                .failed_logins_per_source
                .or(file.failed_logins_per_source)
                .unwrap_or(AdminSettings::default().failed_logins_per_source),
            failed_logins_per_user: args
                .failed_logins_per_user
                .or(file.failed_logins_per_user)
                .unwrap_or(AdminSettings::default().failed_logins_per_user),
            tenants: {
                let defaults = TenantSettings::default();
                TenantSettings {
                    logins_at_once: args
                        .xelion_logins_at_once
                        .or(file.xelion_logins_at_once)
                        .unwrap_or(defaults.logins_at_once),
                    logins_per_second: args
                        .xelion_logins_per_second
                        .or(file.xelion_logins_per_second)
                        .unwrap_or(defaults.logins_per_second),
                    ..defaults
                }
            },
            outbox: {
                let defaults = Retention::default();
                let days = |d: u64| Duration::from_secs(d.saturating_mul(86_400));
                OutboxSettings {
                    retention: Retention {
                        delivered: args
                            .delivered_retention_days
                            .or(file.delivered_retention_days)
                            .map_or(defaults.delivered, days),
                        failed: args
                            .failed_retention_days
                            .or(file.failed_retention_days)
                            .map_or(defaults.failed, days),
                        dedupe_window: args
                            .dedupe_window_hours
                            .or(file.dedupe_window_hours)
                            .map_or(defaults.dedupe_window, |h| {
                                Duration::from_secs(h.saturating_mul(3600))
                            }),
                    },
                    ..OutboxSettings::default()
                }
            },
            tokens: TokenSettings::default(),
            dispatch: {
                let defaults = DispatchSettings::default();
                DispatchSettings {
                    per_crm_in_flight: args
                        .crm_requests_in_flight
                        .or(file.crm_requests_in_flight)
                        .unwrap_or(defaults.per_crm_in_flight),
                    request_timeout: args
                        .crm_request_timeout
                        .or(file.crm_request_timeout)
                        .map_or(defaults.request_timeout, Duration::from_secs),
                    drain_deadline: args
                        .shutdown_grace
                        .or(file.shutdown_grace)
                        .map_or(defaults.drain_deadline, Duration::from_secs),
                    retry: RetryPolicy {
                        ttl: args
                            .delivery_ttl_hours
                            .or(file.delivery_ttl_hours)
                            .map_or(defaults.retry.ttl, |h| {
                                Duration::from_secs(h.saturating_mul(3600))
                            }),
                        ..defaults.retry
                    },
                    ..defaults
                }
            },
            external: {
                let defaults = ExternalSettings::default();
                ExternalSettings {
                    request_timeout: args
                        .external_request_timeout
                        .or(file.external_request_timeout)
                        .map_or(defaults.request_timeout, Duration::from_secs),
                    ..defaults
                }
            },
        })
    }
}

/// `xelion-cti.key` beside a SQLite file, else in the working directory.
fn default_key_file(database_url: &str) -> PathBuf {
    let is_pg =
        database_url.starts_with("postgres://") || database_url.starts_with("postgresql://");
    if !is_pg {
        let path = database_url
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:");
        let path = path.split('?').next().unwrap_or(path);
        if let Some(dir) = Path::new(path).parent() {
            if !dir.as_os_str().is_empty() {
                return dir.join("xelion-cti.key");
            }
        }
    }
    PathBuf::from("xelion-cti.key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_sits_beside_the_sqlite_file() {
        assert_eq!(
            default_key_file("sqlite:///var/lib/xcti/x.db?mode=rwc"),
            PathBuf::from("/var/lib/xcti/xelion-cti.key")
        );
        assert_eq!(
            default_key_file("sqlite://x.db"),
            PathBuf::from("xelion-cti.key")
        );
        assert_eq!(
            default_key_file("postgres://u@h/db"),
            PathBuf::from("xelion-cti.key")
        );
    }

    #[test]
    fn retention_is_configurable() {
        let dir = std::env::temp_dir().join(format!("xcti-cfg-ret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "delivered_retention_days = 2\nfailed_retention_days = 9\ndedupe_window_hours = 1\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path),
            failed_retention_days: Some(60),
            ..Default::default()
        };
        let r = Settings::resolve(&args).unwrap().outbox.retention;
        assert_eq!(r.delivered, Duration::from_secs(2 * 86_400));
        assert_eq!(r.failed, Duration::from_secs(60 * 86_400), "the flag wins");
        assert_eq!(r.dedupe_window, Duration::from_secs(3600));
        let defaults = Settings::resolve(&ServeArgs::default()).unwrap().outbox;
        assert_eq!(defaults.retention, Retention::default());
        assert_eq!(
            defaults.retention.delivered,
            Duration::from_secs(7 * 86_400)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn login_limits_are_configurable_and_database_urls_checked_first() {
        let dir = std::env::temp_dir().join(format!("xcti-cfg-lim-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "failed_logins_per_user = 0\nfailed_logins_per_source = 5\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path),
            failed_logins_per_source: Some(7),
            ..Default::default()
        };
        let s = Settings::resolve(&args).unwrap();
        assert_eq!(s.failed_logins_per_user, 0, "0: no limit");
        assert_eq!(s.failed_logins_per_source, 7, "the flag wins");
        let defaults = Settings::resolve(&ServeArgs::default()).unwrap();
        assert_eq!(defaults.failed_logins_per_user, 10);
        assert_eq!(defaults.failed_logins_per_source, 30);
        let err = Settings::resolve(&ServeArgs {
            database_url: Some("mysql://u:pw@h/db".into()),
            ..Default::default()
        })
        .unwrap_err();
        let err = format!("{err:#}");
        assert!(err.contains("`mysql`") && !err.contains("pw@"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn file_settings_sit_under_flags() {
        let dir = std::env::temp_dir().join(format!("xcti-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9999\"\noutbound_allow = [\"10.0.0.0/8\"]\nsession_ttl = 60\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path.clone()),
            listen: Some("127.0.0.1:7777".into()),
            ..Default::default()
        };
        let s = Settings::resolve(&args).unwrap();
        assert_eq!(s.listen, "127.0.0.1:7777");
        assert_eq!(s.outbound_allow, vec!["10.0.0.0/8".to_string()]);
        assert_eq!(s.session_ttl, Duration::from_secs(60));
        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        let err = Settings::resolve(&args).unwrap_err();
        assert!(format!("{err:#}").contains("lisen"), "{err:#}");
    }
}
