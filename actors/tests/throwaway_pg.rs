//! The private PostgreSQL the tests start when none is reachable: it serves, and it is gone
//! (port closed, directory removed) when dropped.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use cti_actors::store::testdb::Throwaway;
use sqlx::Connection as _;

#[tokio::test]
async fn a_throwaway_server_serves_and_is_removed_when_dropped() {
    let server = Throwaway::start().unwrap_or_else(|e| panic!("{e}"));
    let port = server.port();
    let dir = server.dir().to_path_buf();
    assert!(
        dir.join("data").join("PG_VERSION").is_file(),
        "a cluster in {dir:?}"
    );

    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(server.url())
        .await
        .expect("connects as postgres without a password");
    sqlx::query("CREATE DATABASE xcti_throwaway_check")
        .execute(&mut conn)
        .await
        .expect("the tests' admin user creates databases");
    let one: (i32,) = sqlx::query_as("SELECT 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(one.0, 1);
    conn.close().await.unwrap();

    drop(server);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let started = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "port {port} still answers after the server was dropped"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!dir.exists(), "{dir:?} removed");
}
