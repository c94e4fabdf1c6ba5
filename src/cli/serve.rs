//! `xelion-cti serve` and `xelion-cti migrate`.

use std::process::ExitCode;

use crate::app::{open_store, Application};
use crate::config::{ServeArgs, Settings};

/// Runs the server until Ctrl-C or SIGTERM.
pub fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = Settings::resolve(&args)?;
    crate::logging::init(settings.log_json);
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings).await?;
        println!("xelion-cti listening on http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        actix_web::rt::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            handle.stop(true).await;
        });
        app.run().await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Creates or upgrades the schema, then exits.
pub fn migrate(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = Settings::resolve(&args)?;
    crate::logging::init(settings.log_json);
    actix_web::rt::System::new().block_on(async move {
        let store = open_store(&settings).await?;
        store.migrate().await?;
        println!("database is up to date");
        Ok(ExitCode::SUCCESS)
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
