//! `xelion-cti serve` and `xelion-cti migrate`.

use std::process::ExitCode;

use crate::app::{open_store_unmigrated, Application};
use crate::cli::shutdown_signal_installed;
use crate::config::{ServeArgs, Settings};

/// Runs the server until Ctrl-C or SIGTERM.
pub fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = Settings::resolve(&args)?;
    crate::logging::init(settings.log_json);
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings).await?;
        // The handler is in place before the address is printed: whoever reads the address
        // may send SIGTERM at once.
        let stop = shutdown_signal_installed()?;
        crate::logging::stdout_line(&format!("xelion-cti listening on http://{}", app.addr()));
        app.run_until(async {
            if let Err(e) = stop.await {
                tracing::error!(error = %e, "signals cannot be received; stopping");
            }
        })
        .await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Creates or upgrades the schema, then exits.
pub fn migrate(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = Settings::resolve(&args)?;
    crate::logging::init(settings.log_json);
    actix_web::rt::System::new().block_on(async move {
        let store = open_store_unmigrated(&settings).await?;
        store.migrate().await?;
        crate::logging::stdout_line("database is up to date");
        Ok(ExitCode::SUCCESS)
    })
}
