//! `nightcap serve JOURNAL`: the status page for a journal that another process
//! captures into, or a copy on a desktop; and the `--status` address both it and
//! `capture` take.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::ui::Ui;
use crate::status::board::Board;
use crate::status::server::{Areas, StatusServer};
use crate::status::watch::{self, WatchConfig};

/// Serve the status page of a journal: health, the latest frame, tonight's figures and
/// charts, the keogram so far, storage, downloads; `/api/status` (JSON) and `/metrics`
/// (Prometheus). Runs until Ctrl-C.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The journal directory.
    pub journal: PathBuf,
    /// Where to listen: a port (on localhost) or ADDRESS:PORT (0.0.0.0:8080 for the
    /// whole network).
    #[arg(long, default_value = "127.0.0.1:8080", value_parser = parse_listen)]
    pub listen: String,
    /// The live stacks' prefix, as capture's -f (`./img` for ./img20260812213000.jpg),
    /// to show the newest one and offer them for download.
    #[arg(long, value_name = "PREFIX")]
    pub live: Option<String>,
    /// Folder of detection output (events.jsonl and crops) to show.
    #[arg(long, value_name = "DIR")]
    pub detections: Option<PathBuf>,
    /// The disk counts as low below this many hours of runway at tonight's write rate.
    #[arg(long, default_value_t = 2.0, value_name = "HOURS")]
    pub min_runway: f64,
}

/// `8080` → `127.0.0.1:8080`; `ADDRESS:PORT` as given (checked).
pub fn parse_listen(text: &str) -> Result<String, String> {
    let t = text.trim();
    let full = if !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit()) {
        format!("127.0.0.1:{t}")
    } else {
        t.to_string()
    };
    full.parse::<std::net::SocketAddr>()
        .map(|a| a.to_string())
        .map_err(|_| {
            format!(
                "'{text}' is not a port or ADDRESS:PORT (e.g. 8080, 127.0.0.1:8080, 0.0.0.0:8080)"
            )
        })
}

/// A live prefix (`./img`, `out/`) as (folder, file-name prefix).
pub fn live_parts(prefix: &str) -> (PathBuf, String) {
    let p = std::path::Path::new(prefix);
    if prefix.ends_with('/') {
        return (p.to_path_buf(), String::new());
    }
    let dir = p
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (dir.to_path_buf(), name)
}

pub fn run(args: ServeArgs, ui: Ui) -> anyhow::Result<ExitCode> {
    super::require_journal(&args.journal, true)?;
    let board = Board::new("serve", &args.journal, args.min_runway);
    let live = args.live.as_deref().map(live_parts);
    let detections = args.detections.clone().or_else(|| {
        let d = PathBuf::from("detections");
        d.join("events.jsonl").is_file().then_some(d)
    });
    let areas = Areas {
        journal: args.journal.clone(),
        live: live.clone(),
        detections: detections.clone(),
    };
    let server = StatusServer::start(&args.listen, board.clone(), areas).context(
        "the status page cannot start (is the port in use? choose another with --listen)",
    )?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("cannot install the signal handler")?;
    }
    ui.say(format!(
        "serving the status of {} at http://{}/ (Ctrl-C to stop)",
        args.journal.display(),
        server.addr
    ));
    let watcher = watch::spawn(
        WatchConfig {
            journal: args.journal.clone(),
            live,
            detections,
            ring_bytes: None,
            reserve_bytes: None,
            every: Duration::from_secs(1),
            decode: true,
        },
        board,
        Arc::clone(&stop),
    );
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = watcher.join();
    server.stop();
    Ok(ExitCode::SUCCESS)
}
