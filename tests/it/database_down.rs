//! A database that cannot be reached for now answers 503 (try again), not 500, and the server
//! recovers on its own when the database is back.

use reqwest::StatusCode;
use sqlx::Connection as _;

use crate::helpers::*;

/// The request the test repeats: it reads (the token) and writes (a credential).
async fn update_credential(
    app: &TestApp,
    token: &str,
    user: &str,
) -> (StatusCode, serde_json::Value) {
    app.post(
        &format!("/api/users/{user}/clientid/update"),
        Some(token),
        &serde_json::json!({"value": "client-2"}),
    )
    .await
}

async fn first_user(app: &TestApp, token: &str, xid: i64, cid: i64) -> String {
    let (_, users) = app
        .get(
            &format!("/api/crm-integrations/{xid}/crm-contexts/{cid}/user-credentials"),
            Some(token),
        )
        .await;
    users[0]["userCredentialsId"].as_str().unwrap().to_string()
}

#[actix_rt::test]
async fn postgres_closed_to_connections_answers_503_then_recovers() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let (xid, cid) = app.create_integration().await;
    let token = app.login().await;
    let user = first_user(&app, &token, xid, cid).await;
    let (name, admin_url) = {
        let (base, name) = app.db.url.rsplit_once('/').unwrap();
        (name.to_string(), format!("{base}/postgres"))
    };
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false; \
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    let (s, b) = update_credential(&app, &token, &user).await;
    let msg = error_message(s, &b, StatusCode::SERVICE_UNAVAILABLE, 10600);
    assert!(msg.starts_with("the database is unavailable"), "{msg}");
    let (s, _) = app.get("/health/ready", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);

    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    eventually("the server uses the database again", || async {
        (update_credential(&app, &token, &user).await.0 == StatusCode::OK).then_some(())
    })
    .await;
}

#[actix_rt::test]
async fn sqlite_locked_by_another_writer_answers_503_then_recovers() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (xid, cid) = app.create_integration().await;
    let token = app.login().await;
    let user = first_user(&app, &token, xid, cid).await;
    let file = app.db.sqlite_file().unwrap();
    let mut other = sqlx::SqliteConnection::connect(&format!("sqlite:{}", file.display()))
        .await
        .unwrap();
    // Another process holds the write lock past the server's busy timeout (5 s).
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    let (s, b) = update_credential(&app, &token, &user).await;
    let msg = error_message(s, &b, StatusCode::SERVICE_UNAVAILABLE, 10600);
    assert!(msg.starts_with("the database is unavailable"), "{msg}");
    sqlx::raw_sql("ROLLBACK").execute(&mut other).await.unwrap();
    let (s, b) = update_credential(&app, &token, &user).await;
    assert_eq!(s, StatusCode::OK, "{b}");
}
