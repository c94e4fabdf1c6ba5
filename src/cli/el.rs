//! `xelion-cti el`: evaluate templates from the command line. The line protocol of `batch`
//! lives in `cti_el::batch` so it is tested with the engine; this module only does I/O.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::Context;
use cti_el::{EvalOptions, Template, UriTemplate};

/// Arguments of `xelion-cti el`.
#[derive(clap::Args)]
pub struct ElArgs {
    #[command(subcommand)]
    command: ElCommand,
}

#[derive(clap::Subcommand)]
enum ElCommand {
    /// Render one template against JSON variables and print the result.
    Eval {
        /// The template, e.g. '${(initiation=="outgoing")?"calldialed":"callreceived"}'.
        template: String,
        /// The variables (normally a call event) as a JSON object.
        #[arg(long, default_value = "{}")]
        vars: String,
        /// Make identifiers missing from the variables an error instead of null.
        #[arg(long)]
        strict: bool,
        /// Render as a URI template: substituted values are percent-encoded.
        #[arg(long, conflicts_with = "json")]
        uri: bool,
        /// Print the typed value as JSON (as a payload value would get it).
        #[arg(long)]
        json: bool,
    },
    /// Read JSON lines `{"template": "...", "vars": {...}}` on stdin and write one line
    /// `{"ok": "..."}` or `{"error": "..."}` per input line, in order.
    Batch,
}

/// Runs the subcommand.
pub fn run(args: ElArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ElCommand::Eval {
            template,
            vars,
            strict,
            uri,
            json,
        } => {
            let vars: serde_json::Value =
                serde_json::from_str(&vars).context("--vars is not valid JSON")?;
            let options = EvalOptions { strict };
            let out = if uri {
                UriTemplate::parse(&template)?.render_with(&vars, &options)?
            } else if json {
                Template::parse(&template)?
                    .evaluate_with(&vars, &options)?
                    .to_string()
            } else {
                Template::parse(&template)?.render_with(&vars, &options)?
            };
            crate::logging::stdout_line(&out);
            Ok(ExitCode::SUCCESS)
        }
        ElCommand::Batch => {
            let stdin = std::io::stdin().lock();
            let mut stdout = std::io::stdout().lock();
            batch(stdin, &mut stdout)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Answers each input line, flushing per line so a caller can use it as a co-process.
fn batch(mut input: impl BufRead, output: &mut impl Write) -> anyhow::Result<()> {
    let mut line = Vec::new();
    loop {
        line.clear();
        if input
            .read_until(b'\n', &mut line)
            .context("reading stdin")?
            == 0
        {
            return Ok(());
        }
        // A line that is not UTF-8 gets an error answer like any other malformed line.
        let answer = match std::str::from_utf8(&line) {
            Ok(text) => cti_el::batch::process_line(text.trim_end_matches(['\n', '\r'])),
            Err(_) => serde_json::json!({"error": "input is not valid UTF-8"}).to_string(),
        };
        match writeln!(output, "{answer}").and_then(|()| output.flush()) {
            Ok(()) => {}
            // The reader went away: nothing left to answer.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(e).context("writing stdout"),
        }
    }
}
