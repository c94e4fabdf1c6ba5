//! Subcommands of the `xelion-cti` binary, one module each.

pub mod bench;
pub mod demo;
pub mod el;
pub mod serve;
pub mod sim;

/// Ctrl-C, or SIGTERM on Unix (so `kill` and service managers stop cleanly): the one shutdown
/// signal of `serve` and `sim`.
pub async fn shutdown_signal() -> anyhow::Result<()> {
    shutdown_signal_installed()?.await
}

/// Installs the SIGTERM handler now (so a SIGTERM from this moment on is not fatal) and
/// answers the wait for SIGTERM or Ctrl-C.
pub fn shutdown_signal_installed(
) -> anyhow::Result<impl std::future::Future<Output = anyhow::Result<()>>> {
    use anyhow::Context as _;
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        Ok(async move {
            tokio::select! {
                r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C"),
                _ = term.recv() => Ok(()),
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async { tokio::signal::ctrl_c().await.context("waiting for Ctrl-C") })
}
