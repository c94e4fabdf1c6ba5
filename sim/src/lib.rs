//! Simulators of the outside world: a Xelion PBX and a CRM.
//!
//! [`Sim::start`] runs both on their own thread with their own actix `System`, so tests of any
//! flavour (`#[tokio::test]`, `#[actix_rt::test]`) and the CLI can use them the same way. The
//! two listeners share one state; the control API (`/_sim/...`, see the README and
//! [`control::Control`]) is served on both.

#![warn(missing_docs)]

pub mod api;
pub mod conn;
pub mod control;
mod control_api;
pub mod crm;
pub mod error;
pub mod fault;
mod random;
pub mod state;
pub mod time;
pub mod xelion;

use std::io;
use std::net::SocketAddr;
use std::sync::{mpsc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

pub use api::{FaultKind, FaultSpec, NewCall, NewUser, Scenario};
pub use control::Control;
pub use error::ControlError;
pub use state::{lock, Shared};

use crm::CrmState;
use xelion::XelionState;

/// A tenant created at start.
#[derive(Debug, Clone)]
pub struct TenantSeed {
    /// Tenant name.
    pub name: String,
    /// Its users.
    pub users: Vec<api::NewUser>,
}

/// What the simulators listen on and start with.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Xelion listener (tests use `127.0.0.1:0`).
    pub xelion_listen: SocketAddr,
    /// CRM listener.
    pub crm_listen: SocketAddr,
    /// Tenants and users to create.
    pub tenants: Vec<TenantSeed>,
    /// OAuth clients the CRM accepts.
    pub crm_clients: Vec<api::NewClient>,
    /// Refresh tokens the CRM accepts.
    pub refresh_tokens: Vec<api::NewRefreshToken>,
    /// Lifetime of Xelion sessions (`validUntil`).
    pub session_lifetime: Duration,
    /// `expires_in` of CRM access tokens.
    pub access_token_lifetime: Duration,
    /// Whether refresh_token grants rotate the refresh token.
    pub rotate_refresh_tokens: bool,
    /// actix workers per listener.
    pub workers: usize,
}

/// Loopback with a port chosen by the OS.
fn any_loopback_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A user seed.
fn seed_user(name: &str, common: &str, admin: bool, phone: &str) -> api::NewUser {
    api::NewUser {
        user_name: name.into(),
        password: name.into(),
        is_administrator: admin,
        common_name: Some(common.into()),
        phone_number: Some(phone.into()),
        active: None,
    }
}

impl Default for SimConfig {
    /// The default world: tenant `master` with `admin`/`admin` (administrator), `alice`/`alice`
    /// and `bob`/`bob`; CRM client `demo-client`/`demo-secret`; refresh tokens `refresh-alice`
    /// and `refresh-bob`. Listeners on loopback ports chosen by the OS.
    fn default() -> Self {
        let refresh = |token: &str, subject: &str| api::NewRefreshToken {
            token: Some(token.into()),
            client_id: Some("demo-client".into()),
            subject: subject.into(),
        };
        Self {
            tenants: vec![TenantSeed {
                name: "master".into(),
                users: vec![
                    seed_user("admin", "Administrator", true, "+31101000000"),
                    seed_user("alice", "Alice", false, "+31101000001"),
                    seed_user("bob", "Bob", false, "+31101000002"),
                ],
            }],
            crm_clients: vec![api::NewClient {
                client_id: "demo-client".into(),
                client_secret: Some("demo-secret".into()),
            }],
            refresh_tokens: vec![
                refresh("refresh-alice", "alice"),
                refresh("refresh-bob", "bob"),
            ],
            ..Self::empty()
        }
    }
}

impl SimConfig {
    /// No tenants, no clients, no tokens; listeners on loopback ports chosen by the OS.
    pub fn empty() -> Self {
        Self {
            xelion_listen: any_loopback_port(),
            crm_listen: any_loopback_port(),
            tenants: Vec::new(),
            crm_clients: Vec::new(),
            refresh_tokens: Vec::new(),
            session_lifetime: Duration::from_secs(3600),
            access_token_lifetime: Duration::from_secs(3600),
            rotate_refresh_tokens: false,
            workers: 2,
        }
    }

    /// The shared state this configuration starts with.
    fn build_state(&self) -> io::Result<Shared> {
        let mut x = XelionState::new(self.session_lifetime);
        for t in &self.tenants {
            x.add_tenant(&t.name, None).map_err(io::Error::other)?;
            for u in &t.users {
                x.add_user(&t.name, u.clone()).map_err(io::Error::other)?;
            }
        }
        let mut c = CrmState::new(self.access_token_lifetime, self.rotate_refresh_tokens);
        for client in &self.crm_clients {
            c.clients
                .insert(client.client_id.clone(), client.client_secret.clone());
        }
        for rt in &self.refresh_tokens {
            let token = rt
                .token
                .clone()
                .unwrap_or_else(|| format!("rt-{}", random::random_token(32)));
            c.refresh_tokens.insert(
                token,
                crm::RefreshToken {
                    client_id: rt.client_id.clone(),
                    subject: rt.subject.clone(),
                    state: crm::RefreshState::Active,
                },
            );
        }
        Ok(Shared {
            xelion: Mutex::new(x),
            crm: Mutex::new(c),
        })
    }
}

/// Entry point: starts the simulators.
pub struct Sim;

/// Running simulators; stops them when dropped.
pub struct SimHandle {
    xelion_addr: SocketAddr,
    crm_addr: SocketAddr,
    servers: Vec<ServerHandle>,
    finished: Option<mpsc::Receiver<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Anything the Xelion listener does not route: a Xelion-shaped 404.
async fn xelion_not_found(req: HttpRequest) -> HttpResponse {
    xelion::rest::xerr(&req, 404, 10100, "Not found")
}

impl Sim {
    /// Binds both listeners and serves them on a new thread; returns once they accept.
    pub fn start(config: SimConfig) -> io::Result<SimHandle> {
        let shared = web::Data::new(config.build_state()?);
        let (ready_tx, ready_rx) = mpsc::channel();
        let (finished_tx, finished_rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("cti-sim".into())
            .spawn(move || {
                let system = actix_web::rt::System::new();
                system.block_on(async move {
                    match bind(shared, &config) {
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                        Ok((servers, addrs)) => {
                            let [x, c] = servers;
                            let handles = vec![x.handle(), c.handle()];
                            let _ = ready_tx.send(Ok((addrs, handles)));
                            let _ = tokio::join!(x, c);
                        }
                    }
                });
                let _ = finished_tx.send(());
            })?;
        match ready_rx.recv() {
            Ok(Ok(((xelion_addr, crm_addr), servers))) => Ok(SimHandle {
                xelion_addr,
                crm_addr,
                servers,
                finished: Some(finished_rx),
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err(io::Error::other(
                "the simulator thread ended before binding",
            )),
        }
    }
}

/// The two servers and their bound addresses.
type Bound = ([actix_web::dev::Server; 2], (SocketAddr, SocketAddr));

/// Binds and starts both servers (must run inside an actix `System`).
fn bind(shared: web::Data<Shared>, config: &SimConfig) -> io::Result<Bound> {
    let workers = config.workers.max(1);
    let data = shared.clone();
    let xelion = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .configure(control_api::configure)
            .configure(xelion::rest::configure)
            .configure(xelion::ws::configure)
            .default_service(web::to(xelion_not_found))
    })
    .workers(workers)
    .disable_signals()
    .shutdown_timeout(1)
    .on_connect(conn::on_connect)
    .bind(config.xelion_listen)?;
    let xelion_addr = first_addr(xelion.addrs())?;
    let data = shared;
    let crm = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(4 << 20))
            .configure(control_api::configure)
            .configure(crm::token::configure)
            .default_service(web::to(crm::resource::resource))
    })
    .workers(workers)
    .disable_signals()
    .shutdown_timeout(1)
    .on_connect(conn::on_connect)
    .bind(config.crm_listen)?;
    let crm_addr = first_addr(crm.addrs())?;
    Ok(([xelion.run(), crm.run()], (xelion_addr, crm_addr)))
}

/// The address a server actually bound.
fn first_addr(addrs: Vec<SocketAddr>) -> io::Result<SocketAddr> {
    addrs
        .into_iter()
        .next()
        .ok_or_else(|| io::Error::other("the listener bound no address"))
}

impl SimHandle {
    /// Address of the Xelion listener.
    pub fn xelion_addr(&self) -> SocketAddr {
        self.xelion_addr
    }

    /// Address of the CRM listener.
    pub fn crm_addr(&self) -> SocketAddr {
        self.crm_addr
    }

    /// `http://127.0.0.1:PORT` of the Xelion listener.
    pub fn xelion_url(&self) -> String {
        format!("http://{}", self.xelion_addr)
    }

    /// `http://127.0.0.1:PORT` of the CRM listener.
    pub fn crm_url(&self) -> String {
        format!("http://{}", self.crm_addr)
    }

    /// The CRM token endpoint, `http://127.0.0.1:PORT/oauth2/token`.
    pub fn token_url(&self) -> String {
        format!("{}/oauth2/token", self.crm_url())
    }

    /// A control API client (it talks to the Xelion listener; both serve the control API).
    pub fn control(&self) -> Control {
        Control::new(&self.xelion_url())
    }

    /// Stops both servers and waits (a few seconds at most) for the thread to end.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        for s in self.servers.drain(..) {
            // The stop command is sent when `stop` is called; its future only reports the end.
            drop(s.stop(false));
        }
        if let Some(finished) = self.finished.take() {
            if finished.recv_timeout(Duration::from_secs(5)).is_ok() {
                if let Some(t) = self.thread.take() {
                    let _ = t.join();
                }
            }
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}
