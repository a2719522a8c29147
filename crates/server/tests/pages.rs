//! The files the server hands browsers: the SDK at `/sdk/` for every game,
//! and at `/` the game's page: the arena app for the bundled games, a game's
//! own page embedded with `tickwire::page!`, a folder read per request with
//! `--client-dir`, or the SDK's minimal page for a game without a page.
//! No request path reaches a file outside the folder it is served from.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/dots.rs"]
mod dots;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use common::*;
use dots::Dots;
use tickwire::{Config, GameOptions, Page, Server};

/// The repository's `client-web/`.
fn client_web() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../client-web")
}

/// The dots game's own page, as a game crate embeds it.
fn dots_page() -> Page {
    tickwire::page!("tests/page")
}

/// One answer, taken apart.
struct Answer {
    status: u16,
    /// Header lines, lowercased.
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn is_javascript(&self) -> bool {
        self.head.contains("content-type: text/javascript")
            || self.head.contains("content-type: application/javascript")
    }
}

/// GET `path` (sent as it is, not normalised).
async fn get(addr: SocketAddr, path: &str) -> Answer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(3),
        stream.read_to_end(&mut response),
    )
    .await
    .expect("response in time")
    .unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    Answer {
        status,
        head,
        body: response[split + 4..].to_vec(),
    }
}

/// A server of `game` with `page` (none: the default) and `config`.
async fn serve(
    config: Config,
    game: std::sync::Arc<dyn tickwire::GameFactory>,
    page: Option<Page>,
) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut builder = Server::builder(config, game);
    if let Some(page) = page {
        builder = builder.page(page);
    }
    builder.start(listener).unwrap()
}

fn dots_game() -> std::sync::Arc<dyn tickwire::GameFactory> {
    tickwire::factory::<Dots>(&GameOptions::default()).unwrap()
}

/// Every file under `dir` (but `node_modules/`), relative to it.
fn files_under(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = format!("{prefix}{name}");
        if entry.file_type().unwrap().is_dir() {
            if name != "node_modules" {
                files_under(&entry.path(), &format!("{path}/"), out);
            }
        } else {
            out.push(path);
        }
    }
}

/// Asserts the SDK is served from `addr` as it is on disk: its modules as
/// JavaScript, and not its tests, package files, README or dot files.
async fn assert_serves_the_sdk(addr: SocketAddr) {
    let sdk = client_web().join("sdk");
    let index = get(addr, "/sdk/index.js").await;
    assert_eq!(index.status, 200, "{}", index.head);
    assert!(index.is_javascript(), "{}", index.head);
    assert!(
        index.head.contains("cache-control: no-cache"),
        "{}",
        index.head
    );
    assert_eq!(index.body, std::fs::read(sdk.join("index.js")).unwrap());
    let mut files = Vec::new();
    files_under(&sdk, "", &mut files);
    for file in files {
        let hidden = file.starts_with("test/")
            || file.ends_with(".test.js")
            || ["package.json", "package-lock.json", "README.md"].contains(&file.as_str())
            || file.split('/').any(|s| s.starts_with('.'));
        let answer = get(addr, &format!("/sdk/{file}")).await;
        if hidden {
            assert_eq!(answer.status, 404, "/sdk/{file} is served");
        } else {
            assert_eq!(answer.status, 200, "/sdk/{file}: {}", answer.head);
            assert_eq!(
                answer.body,
                std::fs::read(sdk.join(&file)).unwrap(),
                "{file}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_is_served_for_the_bundled_games_and_a_game_of_its_own() {
    for name in ["arena", "bench"] {
        let game = tickwire::bundled(name, tickwire::BundledOptions::default()).unwrap();
        let server = serve(test_config(), game, Some(tickwire::bundled::page())).await;
        assert_serves_the_sdk(server.local_addr()).await;
        server.shutdown().await;
    }
    for page in [Some(dots_page()), None] {
        let server = serve(test_config(), dots_game(), page).await;
        assert_serves_the_sdk(server.local_addr()).await;
        server.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bundled_page_is_the_arena_app_without_the_sdk_folder() {
    let game = tickwire::bundled("arena", tickwire::BundledOptions::default()).unwrap();
    let server = serve(test_config(), game, Some(tickwire::bundled::page())).await;
    let addr = server.local_addr();
    let index = get(addr, "/").await;
    assert_eq!(index.status, 200, "{}", index.head);
    assert!(
        index.head.contains("content-type: text/html"),
        "{}",
        index.head
    );
    assert_eq!(
        index.body,
        std::fs::read(client_web().join("index.html")).unwrap()
    );
    for hidden in ["/package.json", "/test/", "/tools/", "/README.md"] {
        assert_eq!(get(addr, hidden).await.status, 404, "{hidden}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_game_of_its_own_serves_its_embedded_page_at_the_root() {
    let server = serve(test_config(), dots_game(), Some(dots_page())).await;
    let addr = server.local_addr();
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/page");
    for path in ["/", "/index.html"] {
        let index = get(addr, path).await;
        assert_eq!(index.status, 200, "{path}: {}", index.head);
        assert!(
            index.head.contains("content-type: text/html"),
            "{}",
            index.head
        );
        assert!(
            index.head.contains("cache-control: no-cache"),
            "{}",
            index.head
        );
        assert_eq!(
            index.body,
            std::fs::read(folder.join("index.html")).unwrap()
        );
    }
    let script = get(addr, "/game.js").await;
    assert_eq!(script.status, 200, "{}", script.head);
    assert!(script.is_javascript(), "{}", script.head);
    assert_eq!(script.body, std::fs::read(folder.join("game.js")).unwrap());
    assert!(folder.join(".hidden").is_file());
    assert_eq!(get(addr, "/.hidden").await.status, 404);
    // Not the arena app's files.
    assert_eq!(get(addr, "/src/main.js").await.status, 404);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_game_without_a_page_gets_the_sdk_minimal_page_at_the_root() {
    let server = serve(test_config(), dots_game(), None).await;
    let addr = server.local_addr();
    let minimal = std::fs::read(client_web().join("sdk/examples/minimal.html")).unwrap();
    for path in ["/", "/index.html"] {
        let index = get(addr, path).await;
        assert_eq!(index.status, 200, "{path}: {}", index.head);
        assert!(
            index.head.contains("content-type: text/html"),
            "{}",
            index.head
        );
        assert_eq!(index.body, minimal, "{path}");
    }
    // Nothing else: not the arena app, not the SDK's files at the root.
    for path in [
        "/src/main.js",
        "/style.css",
        "/index.js",
        "/examples/minimal.html",
    ] {
        assert_eq!(get(addr, path).await.status, 404, "{path}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_dir_serves_files_from_disk_as_they_are_now() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<p>first</p>").unwrap();
    let config = Config {
        client_dir: Some(dir.path().to_owned()),
        ..test_config()
    };
    // It wins over the game's own page.
    let server = serve(config, dots_game(), Some(dots_page())).await;
    let addr = server.local_addr();
    assert_eq!(get(addr, "/").await.body, b"<p>first</p>");
    assert_eq!(get(addr, "/game.js").await.status, 404);
    std::fs::write(dir.path().join("index.html"), "<p>second</p>").unwrap();
    std::fs::create_dir(dir.path().join("js")).unwrap();
    std::fs::write(dir.path().join("js/game.js"), "export const n = 2;").unwrap();
    let index = get(addr, "/").await;
    assert_eq!(index.body, b"<p>second</p>");
    assert!(
        index.head.contains("content-type: text/html"),
        "{}",
        index.head
    );
    let script = get(addr, "/js/game.js").await;
    assert_eq!(script.body, b"export const n = 2;");
    assert!(script.is_javascript(), "{}", script.head);
    // The SDK stays the SDK's.
    assert_serves_the_sdk(addr).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_client_dir_stops_the_server_at_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-page");
    let config = Config {
        client_dir: Some(missing.clone()),
        ..test_config()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let refused = Server::start(config, listener, dots_game()).expect_err("refused");
    let message = format!("{refused:#}");
    assert!(
        message.contains("--client-dir") && message.contains(&missing.display().to_string()),
        "{message}"
    );
    // A file is not a folder either.
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let config = Config {
        client_dir: Some(file),
        ..test_config()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let refused = Server::start(config, listener, dots_game()).expect_err("refused");
    assert!(
        format!("{refused:#}").contains("not a directory"),
        "{refused:#}"
    );
}

#[test]
fn a_missing_client_dir_is_an_error_of_the_one_call_entry() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-page");
    let refused = tickwire::Games::new()
        .game::<Dots>()
        .page(dots_page())
        .try_run_from([
            "dots",
            "--bind",
            "127.0.0.1:0",
            "--client-dir",
            missing.to_str().unwrap(),
        ])
        .expect_err("refused");
    let message = format!("{refused:#}");
    assert!(message.contains("--client-dir"), "{message}");
}

/// Paths that try to leave the folder they are served from, or reach a dot
/// file: each must be answered 404 whatever is at its target.
const ESCAPES: [&str; 14] = [
    "/../secret.txt",
    "/page/../../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E%2Fsecret.txt",
    "/..%2fsecret.txt",
    "/.%2e/secret.txt",
    "//secret.txt",
    "/%2Fetc%2Fpasswd",
    "/..%5csecret.txt",
    "/sdk/../../Cargo.toml",
    "/sdk/%2e%2e/package.json",
    "/sdk/%2e%2e/%2e%2e/Cargo.toml",
    "/sdk/..%2f..%2fCargo.toml",
    "/.secret",
];

/// Asserts every path of [`ESCAPES`], and the absolute path of `secret`, is
/// answered 404 by `addr` without `secret`'s contents.
async fn assert_no_escape(addr: SocketAddr, secret: &Path) {
    let absolute = format!("/{}", secret.display());
    let encoded = format!("/{}", secret.display().to_string().replace('/', "%2F"));
    for path in ESCAPES.iter().copied().chain([&*absolute, &*encoded]) {
        let answer = get(addr, path).await;
        assert_eq!(answer.status, 404, "{path}: {}", answer.head);
        assert!(
            !String::from_utf8_lossy(&answer.body).contains("TOP SECRET"),
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_path_leaves_the_served_folders_in_any_mode() {
    // secret.txt beside the client dir; .secret inside it.
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "TOP SECRET").unwrap();
    let page = dir.path().join("page");
    std::fs::create_dir(&page).unwrap();
    std::fs::write(page.join("index.html"), "<p>page</p>").unwrap();
    std::fs::write(page.join(".secret"), "TOP SECRET").unwrap();
    let client_dir = Config {
        client_dir: Some(page.clone()),
        ..test_config()
    };
    let arena = tickwire::bundled("arena", tickwire::BundledOptions::default()).unwrap();
    let servers = [
        serve(client_dir, dots_game(), None).await,
        serve(test_config(), arena, Some(tickwire::bundled::page())).await,
        serve(test_config(), dots_game(), Some(dots_page())).await,
        serve(test_config(), dots_game(), None).await,
    ];
    // The client dir's own files are served, so the 404s are the checks'.
    assert_eq!(get(servers[0].local_addr(), "/").await.body, b"<p>page</p>");
    for server in servers {
        assert_no_escape(server.local_addr(), &secret).await;
        server.shutdown().await;
    }
}
