//! The status server: the page, `/api/status` (JSON), `/metrics` (Prometheus text), the
//! latest frame and keogram, and read-only downloads.
//!
//! Owns HTTP. Built on `tiny_http`: a synchronous server with no async runtime and four
//! small dependencies, whose threads block in `recv` and cost nothing while no one asks,
//! which suits a Pi Zero's 512 MB better than a runtime-based stack.
//!
//! Promises:
//! - A request never reads the journal or renders anything: it copies a snapshot from the
//!   board or streams one file. Two handler threads, at low priority, so a slow download
//!   cannot block the page and neither can delay a frame.
//! - Only GET and HEAD. A download names one file of one area (`journal`: sealed `.seg`
//!   files; `live`: live products with the capture's prefix; `detections`); the name must
//!   be one the watcher listed there (a plain file name, no `/`, no `..`, not hidden, not
//!   a symlink). Anything else is 404.
//! - The page needs nothing from the network (no CDN): it is one HTML file with inline
//!   script and SVG charts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tiny_http::{Header, Method, Request, Response, Server};

use super::board::{prometheus, Board};
use super::watch::listing;

/// The page (HTML, inline script and styles).
const PAGE: &str = include_str!("page.html");

/// Folders a download may come from.
#[derive(Debug, Clone, Default)]
pub struct Areas {
    pub journal: PathBuf,
    pub live: Option<(PathBuf, String)>,
    pub detections: Option<PathBuf>,
}

/// A running server; dropping it does not stop it: call [`StatusServer::stop`].
pub struct StatusServer {
    server: Arc<Server>,
    threads: Vec<std::thread::JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    /// The address it listens on (the port chosen when 0 was asked for).
    pub addr: SocketAddr,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {reason}")]
pub struct BindError {
    pub addr: String,
    pub reason: String,
}

impl StatusServer {
    /// Listens on `addr` and serves `board`.
    pub fn start(addr: &str, board: Board, areas: Areas) -> Result<StatusServer, BindError> {
        let server = Server::http(addr).map_err(|e| BindError {
            addr: addr.to_string(),
            reason: e.to_string(),
        })?;
        let bound = server.server_addr().to_ip().ok_or_else(|| BindError {
            addr: addr.to_string(),
            reason: "not an IP address".into(),
        })?;
        let server = Arc::new(server);
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..2)
            .map(|i| {
                let (server, board, areas, stop) = (
                    Arc::clone(&server),
                    board.clone(),
                    areas.clone(),
                    Arc::clone(&stop),
                );
                std::thread::Builder::new()
                    .name(format!("status-http-{i}"))
                    .spawn(move || {
                        let _ = rustix::process::setpriority_process(
                            None,
                            nightcap_stack::follow::BESIDE_CAPTURE_NICE,
                        );
                        while !stop.load(Ordering::Relaxed) {
                            match server.recv_timeout(Duration::from_millis(250)) {
                                Ok(Some(req)) => handle(req, &board, &areas),
                                Ok(None) => {}
                                Err(_) => std::thread::sleep(Duration::from_millis(50)),
                            }
                        }
                    })
                    .expect("a thread can be started")
            })
            .collect();
        Ok(StatusServer {
            server,
            threads,
            stop,
            addr: bound,
        })
    }

    /// Stops serving and joins the threads.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.server.unblock();
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("valid header")
}

fn bytes(status: u16, kind: &str, body: Vec<u8>) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_data(body)
        .with_status_code(status)
        .with_header(header("Content-Type", kind))
        .with_header(header("Cache-Control", "no-store"))
}

/// The page with the status of this moment in it (the same JSON as `/api/status`, with
/// `<` escaped so no text of it can end the script).
fn page(board: &Board) -> String {
    let json = serde_json::to_string(&board.status())
        .unwrap_or_else(|_| "null".into())
        .replace('<', "\\u003c");
    PAGE.replacen("/*STATUS*/null", &json, 1)
}

fn not_found() -> Response<std::io::Cursor<Vec<u8>>> {
    bytes(404, "text/plain; charset=utf-8", b"not found\n".to_vec())
}

fn handle(req: Request, board: &Board, areas: &Areas) {
    if !matches!(req.method(), Method::Get | Method::Head) {
        let _ = req.respond(bytes(405, "text/plain", b"only GET\n".to_vec()));
        return;
    }
    let url = req.url().to_string();
    let path = url.split(['?', '#']).next().unwrap_or("");
    let reply = match path {
        "/" | "/index.html" => bytes(200, "text/html; charset=utf-8", page(board).into_bytes()),
        "/api/status" => match serde_json::to_vec_pretty(&board.status()) {
            Ok(b) => bytes(200, "application/json", b),
            Err(_) => bytes(500, "text/plain", b"status not available\n".to_vec()),
        },
        "/metrics" => bytes(
            200,
            "text/plain; version=0.0.4",
            prometheus(&board.status()).into_bytes(),
        ),
        "/latest.jpg" => match board.latest() {
            Some(p) => bytes(200, "image/jpeg", p.jpeg.as_ref().clone()),
            None => not_found(),
        },
        "/keogram.jpg" => match board.keogram() {
            Some(p) => bytes(200, "image/jpeg", p.jpeg.as_ref().clone()),
            None => not_found(),
        },
        p if p.starts_with("/files/") => {
            let _ = match download(&p["/files/".len()..], areas) {
                Some((file, kind)) => req.respond(
                    Response::from_file(file)
                        .with_header(header("Content-Type", kind))
                        .with_header(header("Cache-Control", "no-store")),
                ),
                None => req.respond(not_found()),
            };
            return;
        }
        _ => not_found(),
    };
    let _ = req.respond(reply);
}

/// The file `area/name` names, if it is one the watcher would list there.
fn download(rest: &str, areas: &Areas) -> Option<(std::fs::File, &'static str)> {
    let (area, name) = rest.split_once('/')?;
    if name.is_empty() || name.contains(['/', '\\', '%']) || name.starts_with('.') {
        return None;
    }
    let dir: &std::path::Path = match area {
        "journal" if name.ends_with(".seg") => &areas.journal,
        "live" => {
            let (dir, prefix) = areas.live.as_ref()?;
            if !name.starts_with(prefix.as_str()) {
                return None;
            }
            dir
        }
        "detections" => areas.detections.as_deref()?,
        _ => return None,
    };
    // Only a name the listing shows (a regular file, not a symlink).
    listing(Some(dir), |n| n == name).first()?;
    let file = std::fs::File::open(dir.join(name)).ok()?;
    let kind = match name.rsplit('.').next() {
        Some("jpg") => "image/jpeg",
        Some("png") => "image/png",
        Some("json" | "jsonl") => "application/json",
        Some("csv" | "txt") => "text/plain; charset=utf-8",
        Some("mp4") => "video/mp4",
        _ => "application/octet-stream",
    };
    Some((file, kind))
}
