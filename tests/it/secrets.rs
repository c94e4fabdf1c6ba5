//! Secrets at rest and in logs; restarts keep everything.

use std::io::Read;
use std::process::{Command, Stdio};

use reqwest::StatusCode;
use serde_json::json;
use sqlx::{Connection, Row};

use crate::both_backends;
use crate::helpers::*;

/// Every stored value of every table, as text.
async fn dump_database(db: &Database) -> String {
    if let Some(file) = db.sqlite_file() {
        // The raw file and its write-ahead log: what an attacker with the disk would see.
        let mut out = String::new();
        for suffix in ["", "-wal"] {
            let path = format!("{}{suffix}", file.display());
            if let Ok(bytes) = std::fs::read(&path) {
                out.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
        return out;
    }
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let tables: Vec<String> = sqlx::query(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .iter()
    .map(|r| r.get::<String, _>(0))
    .collect();
    assert!(tables.iter().any(|t| t == "user_credentials"), "{tables:?}");
    let mut out = String::new();
    for t in tables {
        let sql = format!("SELECT t::text FROM \"{t}\" t");
        for row in sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut conn)
            .await
            .unwrap()
        {
            out.push_str(&row.get::<String, _>(0));
            out.push('\n');
        }
    }
    out
}

async fn no_secret_is_stored_in_clear(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_tenant(&app.control(), "acme").await;
    let (s, b) = app
        .post(
            "/api/crm-integrations",
            None,
            &app.integration_body("acme", &["carol"]),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let token = app.login_as("acme", "admin", &admin_password("acme")).await;
    let (db, _sim) = app.stop().await;
    let dump = dump_database(&db).await;
    assert!(dump.contains("carol"), "the dump reads the rows");
    for secret in all_secrets("acme", &["carol"]) {
        assert!(!dump.contains(&secret), "{secret} is stored in clear");
    }
    assert!(!dump.contains(&token), "API tokens are stored only hashed");
}
both_backends!(no_secret_is_stored_in_clear);

async fn a_restart_keeps_everything(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (xid, cid) = app.create_integration().await;
    let token = app.login().await;
    let (_, users_before) = app
        .get(
            &format!("/api/crm-integrations/{xid}/crm-contexts/{cid}/user-credentials"),
            Some(&token),
        )
        .await;
    let (db, sim) = app.stop().await;

    let app = TestApp::spawn_with(db, sim).await;
    // The API token survives the restart.
    let (s, env) = app
        .get(&format!("/api/xelion-environment/{xid}"), Some(&token))
        .await;
    assert_eq!(s, StatusCode::OK, "{env}");
    let (_, users_after) = app
        .get(
            &format!("/api/crm-integrations/{xid}/crm-contexts/{cid}/user-credentials"),
            Some(&token),
        )
        .await;
    assert_eq!(users_after, users_before);
    // The same master key decrypts the stored admin password (used to register a user).
    app.control()
        .add_user("master", &cti_sim::NewUser::new("dave", "dave", false))
        .await
        .unwrap();
    let (s, b) = app
        .post(
            &format!("/api/crm-integrations/{xid}/crm-contexts/{cid}/user-credentials"),
            Some(&token),
            &json!({"xelionUsername": "dave"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (db, sim) = app.stop().await;

    // Another master key cannot decrypt: the server says so instead of using garbage.
    let mut wrong = db;
    wrong.key = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode([7u8; 32])
    };
    let app = TestApp::spawn_with(wrong, sim).await;
    let (s, b) = app
        .post(
            &format!("/api/crm-integrations/{xid}/crm-contexts/{cid}/user-credentials"),
            Some(&token),
            &json!({"xelionUsername": "erin"}),
        )
        .await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{b}");
}
both_backends!(a_restart_keeps_everything);

/// Runs the real binary with debug logs, drives every secret through it, and greps the output.
#[actix_rt::test]
async fn secrets_never_reach_the_log() {
    let sim = cti_sim::Sim::start(cti_sim::SimConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_xelion-cti"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--outbound-allow",
            "127.0.0.1/8",
        ])
        .arg("--database-url")
        .arg(format!("sqlite://{}", dir.path().join("x.db").display()))
        .env("RUST_LOG", "trace")
        .env_remove("XCTI_MASTER_KEY")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The log is read as it comes: a pipe nobody reads fills up and blocks the server.
    let mut stderr_pipe = child.stderr.take().unwrap();
    let stderr_reader = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = stderr_pipe.read_to_string(&mut all);
        all
    });
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut all = String::new();
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.push_str(&String::from_utf8_lossy(&buf[..n]));
            let _ = tx.send(all.clone());
        }
    });
    let mut port = None;
    while port.is_none() {
        let out = rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .expect("server prints its address");
        port = out
            .lines()
            .find_map(|l| l.strip_prefix("xelion-cti listening on http://127.0.0.1:"))
            .and_then(|p| p.trim().parse::<u16>().ok());
    }
    let base = format!("http://127.0.0.1:{}", port.unwrap());
    let http = reqwest::Client::new();
    let host = sim.xelion_addr().to_string();
    let secrets = [
        "LOGSECRET-pw-admin",
        "LOGSECRET-client",
        "LOGSECRET-refresh",
        "LOGSECRET-device",
        "LOGSECRET-new",
    ];
    // A failed login carrying a secret-looking password, then the real flows.
    let r = http.post(format!("{base}/api/session/login"))
        .json(&json!({"adminUsername": "admin", "adminPassword": secrets[0], "host": host, "tenant": "master", "protocol": "http"}))
        .send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body = json!({
        "xelionContext": {"adminUsername": "admin", "adminPassword": "admin", "host": host, "tenant": "master", "protocol": "http"},
        "crmContext": {"authorizationServerUri": sim.token_url(), "authorizationHeaderPrefix": "Bearer "},
        "userCredentials": [{"xelionUsername": "alice", "clientId": "demo-client", "clientSecret": secrets[1], "refreshToken": secrets[2], "deviceCode": secrets[3]}],
        "eventUriMappings": []
    });
    let r = http
        .post(format!("{base}/api/crm-integrations"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let created: serde_json::Value = r.json().await.unwrap();
    let login: serde_json::Value = http.post(format!("{base}/api/session/login"))
        .json(&json!({"adminUsername": "admin", "adminPassword": "admin", "host": host, "tenant": "master"}))
        .send().await.unwrap().json().await.unwrap();
    let token = login["authentication"].as_str().unwrap().to_string();
    let (xid, cid) = (
        created["xelionContext"]["id"].as_i64().unwrap(),
        created["crmContext"]["id"].as_i64().unwrap(),
    );
    let users: serde_json::Value = http
        .get(format!(
            "{base}/api/crm-integrations/{xid}/crm-contexts/{cid}/user-credentials"
        ))
        .header("Authorization", format!("xelion {token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let uid = users[0]["userCredentialsId"].as_str().unwrap();
    let r = http
        .post(format!("{base}/api/users/{uid}/refreshtoken/update"))
        .header("Authorization", format!("xelion {token}"))
        .json(&json!({"value": secrets[4]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let _ = child.kill();
    let _ = child.wait();
    let stderr = stderr_reader.join().unwrap();
    assert!(stderr.contains("request"), "the log was captured: {stderr}");
    for s in secrets {
        assert!(!stderr.contains(s), "{s} appears in the log");
    }
    assert!(!stderr.contains(&token), "the API token appears in the log");
    // The key file was created with mode 0600.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("xelion-cti.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
