//! Subcommands of the `xelion-cti` binary, one module each.

pub mod demo;
pub mod el;
pub mod serve;
pub mod sim;

/// Ctrl-C, or SIGTERM on Unix (so `kill` and service managers stop cleanly): the one shutdown
/// signal of `serve` and `sim`.
pub async fn shutdown_signal() -> anyhow::Result<()> {
    use anyhow::Context as _;
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C"),
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")
}
