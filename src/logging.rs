//! `tracing` output: human-readable by default, JSON lines on request; `RUST_LOG` filters.
//!
//! Logging never blocks and never stops the server: a formatted line is handed to one writer
//! thread through a bounded queue, and only that thread writes to stderr. A full queue (the
//! reader of a pipe is slow or stopped reading) or a failed write (the pipe was closed, `head`
//! exited) drops the line and counts it ([`dropped_lines`], shown by `/health/ready`).
//! Colours are used only when stderr is a terminal.

use std::io::{IsTerminal as _, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::OnceLock;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Lines waiting for the writer thread; more are dropped.
const QUEUE: usize = 8192;

static DROPPED: AtomicU64 = AtomicU64::new(0);
static SINK: OnceLock<SyncSender<Job>> = OnceLock::new();

/// Log lines dropped since start: the queue was full or stderr refused the write.
pub fn dropped_lines() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

enum Job {
    Line(Vec<u8>),
    Flush(mpsc::Sender<()>),
}

/// Installs the global subscriber (once; later calls do nothing).
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .log_internal_errors(false)
        .with_writer(QueueWriter);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Waits (at most `limit`) until the lines queued so far are written, so the last lines of a
/// run reach the log before the process exits.
pub fn flush(limit: Duration) {
    let Some(sink) = SINK.get() else { return };
    let (done, wait) = mpsc::channel();
    if sink.try_send(Job::Flush(done)).is_ok() {
        let _ = wait.recv_timeout(limit);
    }
}

/// A line for stdout (the listening address, the simulators' URLs): written when it can be,
/// dropped (and counted) when stdout is closed; never a panic.
pub fn stdout_line(line: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

/// A line for stderr outside the log (the error `main` ends with), through the same queue.
pub fn stderr_line(line: &str) {
    let mut bytes = line.as_bytes().to_vec();
    bytes.push(b'\n');
    enqueue(bytes);
    flush(Duration::from_secs(1));
}

fn sink() -> &'static SyncSender<Job> {
    SINK.get_or_init(|| {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let spawned = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || write_lines(rx));
        if spawned.is_err() {
            // No thread, no logging: every line counts as dropped (the receiver is gone).
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
        tx
    })
}

fn enqueue(line: Vec<u8>) {
    match sink().try_send(Job::Line(line)) {
        Ok(()) => {}
        Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn write_lines(rx: Receiver<Job>) {
    let stderr = std::io::stderr();
    for job in rx {
        match job {
            Job::Line(line) => {
                let mut err = stderr.lock();
                if err.write_all(&line).is_err() {
                    DROPPED.fetch_add(1, Ordering::Relaxed);
                }
            }
            Job::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

/// The subscriber's writer: each event is formatted into one buffer and written with one
/// call, which this turns into one queued line.
#[derive(Clone, Copy)]
struct QueueWriter;

impl std::io::Write for QueueWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        enqueue(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for QueueWriter {
    type Writer = QueueWriter;

    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}
