//! Wiring: storage, the actor system and the HTTP server, built from [`Settings`].

use std::net::TcpListener;

use actix::{Actor, Addr};
use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;
use cti_actors::outbound::OutboundPolicy;
use cti_actors::secrets::Cipher;
use cti_actors::store::Store;
use cti_actors::xelion::XelionClient;
use cti_actors::{Admin, AdminSettings, Supervisor};

use crate::config::{MasterKey, Settings};
use crate::http;

/// A built server: bound, not yet awaited.
pub struct Application {
    port: u16,
    server: Server,
    supervisor: Addr<Supervisor>,
}

/// Opens the store with the configured master key.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let cipher = match &settings.master_key {
        MasterKey::Base64(b64) => {
            Cipher::from_base64(b64).map_err(|e| anyhow::anyhow!("XCTI_MASTER_KEY: {e}"))?
        }
        MasterKey::File(path) => Cipher::from_key_file(path)
            .map_err(|e| anyhow::anyhow!("master key file {}: {e}", path.display()))?,
    };
    Store::open(&settings.database_url, cipher)
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
        let policy = OutboundPolicy::parse(&settings.outbound_allow)
            .map_err(|e| anyhow::anyhow!("--outbound-allow: {e}"))?;
        let store = open_store(&settings).await?;
        let admin = Admin::new(
            store,
            XelionClient::new(policy),
            AdminSettings {
                session_ttl: settings.session_ttl,
                ..AdminSettings::default()
            },
        );
        let supervisor = Supervisor::new(admin).start();
        let listener = TcpListener::bind(&settings.listen)
            .with_context(|| format!("binding {}", settings.listen))?;
        let port = listener.local_addr()?.port();
        let data = web::Data::new(supervisor.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .wrap(actix_web::middleware::from_fn(http::access_log))
                .configure(http::routes)
                .default_service(web::to(http::not_found))
        })
        .listen(listener)?
        .disable_signals()
        .run();
        tracing::info!(port, database = %redact_url(&settings.database_url), "listening");
        Ok(Application {
            port,
            server,
            supervisor,
        })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.port
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
