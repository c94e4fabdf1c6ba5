//! Wiring: storage, the actor system and the HTTP server, built from [`Settings`].

use std::future::Future;
use std::net::{SocketAddr, TcpListener};

use actix::{Actor, Addr};
use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;
use cti_actors::metrics::Metrics;
use cti_actors::outbound::OutboundPolicy;
use cti_actors::secrets::Cipher;
use cti_actors::store::Store;
use cti_actors::supervisor::{Shutdown, SupervisorSettings};
use cti_actors::xelion::XelionClient;
use cti_actors::{Admin, AdminSettings, Supervisor};

use crate::config::{MasterKey, Settings};
use crate::http;

/// A built server: bound, not yet awaited.
pub struct Application {
    addr: SocketAddr,
    server: Server,
    supervisor: Addr<Supervisor>,
}

/// Opens the store with the configured master key and brings its schema up to date.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let store = open_store_unmigrated(settings).await?;
    store.migrate().await.context("migrating the database")?;
    Ok(store)
}

/// Opens the store with the configured master key, schema untouched (`migrate` runs the
/// migrations itself, once).
pub async fn open_store_unmigrated(settings: &Settings) -> anyhow::Result<Store> {
    let cipher = match &settings.master_key {
        MasterKey::Base64(b64) => {
            Cipher::from_base64(b64).map_err(|e| anyhow::anyhow!("XCTI_MASTER_KEY: {e}"))?
        }
        MasterKey::File(path) => Cipher::from_key_file(path)
            .map_err(|e| anyhow::anyhow!("master key file {}: {e}", path.display()))?,
    };
    Store::open_unmigrated(&settings.database_url, cipher)
        .await
        .with_context(|| {
            format!(
                "opening the database {}",
                redact_url(&settings.database_url)
            )
        })
}

impl Application {
    /// Opens storage, starts the actors and binds the listener (port 0 picks a free port).
    /// Must run inside an actix system.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let mut policy = OutboundPolicy::parse(&settings.outbound_allow)
            .map_err(|e| anyhow::anyhow!("--outbound-allow: {e}"))?;
        if settings.outbound_only_allowed {
            policy = policy.only_allowed();
        }
        let xelion = XelionClient::new(&policy)?;
        let store = open_store(&settings).await?;
        let admin = Admin::new(
            store,
            xelion,
            AdminSettings {
                session_ttl: settings.session_ttl,
                failed_logins_per_source: settings.failed_logins_per_source,
                failed_logins_per_user: settings.failed_logins_per_user,
            },
        );
        let metrics = Metrics::new();
        let supervisor = Supervisor::with_settings(
            admin,
            SupervisorSettings {
                tenants: settings.tenants.clone(),
                tokens: settings.tokens.clone(),
                outbox: settings.outbox.clone(),
                dispatch: settings.dispatch.clone(),
                external: settings.external.clone(),
                metrics: metrics.clone(),
            },
        )
        .start();
        let listener = TcpListener::bind(&settings.listen)
            .with_context(|| format!("binding {}", settings.listen))?;
        let addr = listener.local_addr()?;
        let data = web::Data::new(supervisor.clone());
        let metrics = web::Data::new(metrics);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .wrap(actix_web::middleware::from_fn(http::fallback::guard))
                .app_data(metrics.clone())
                .wrap(actix_web::middleware::from_fn(http::access_log))
                .configure(http::routes)
                .default_service(web::to(http::not_found))
        })
        .listen(listener)?
        .disable_signals()
        .run();
        tracing::info!(%addr, database = %redact_url(&settings.database_url), "listening");
        Ok(Application {
            addr,
            server,
            supervisor,
        })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The supervisor (for embedding and tests).
    pub fn supervisor(&self) -> Addr<Supervisor> {
        self.supervisor.clone()
    }

    /// A handle to stop the server.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped.
    pub async fn run(self) -> std::io::Result<()> {
        self.server.await
    }

    /// Serves until `shutdown` completes, then stops in order: the HTTP server stops accepting
    /// and finishes the requests in flight, then the supervisor stops its tenants and closes
    /// the store.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let handle = self.server.handle();
        let mut server = actix_web::rt::spawn(self.server);
        let served = tokio::select! {
            () = shutdown => None,
            res = &mut server => Some(res),
        };
        if served.is_none() {
            tracing::info!("shutting down: HTTP server");
            handle.stop(true).await;
        }
        let served = match served {
            Some(res) => res,
            None => server.await,
        };
        tracing::info!("shutting down: tenants and store");
        self.supervisor
            .send(Shutdown)
            .await
            .context("the supervisor did not answer the shutdown")?;
        tracing::info!("stopped");
        served
            .context("the HTTP server task failed")?
            .context("the HTTP server failed")
    }
}

/// A database URL without its password, for logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}
