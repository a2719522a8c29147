//! The files a server hands browsers: the SDK at `/sdk/`, for every game,
//! and the game's own page at `/`.
//!
//! A game's page is a folder of static files ([`Page`]): embedded in the
//! game's binary at build time with [`page!`](crate::page!), read from disk
//! per request with `--client-dir DIR` (for development: an edit shows on
//! reload), or, for a game with no page of its own, the SDK's generic page
//! (`client-web/sdk/examples/minimal.html`, which draws any game's entities
//! as dots) at `/`. The bundled `tickwire` binary's page is the arena app
//! ([`bundled::page`](crate::bundled::page)).
//!
//! Every request path is checked before any lookup, whatever the page:
//! percent-decoded, then refused (404) if a segment is empty, `.`, `..` or
//! starts with a dot, or holds `\`, `:` or NUL, so no request reaches a
//! file outside the folder, or a dot file inside it.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rust_embed::RustEmbed;

/// The SDK (`client-web/sdk/`), served at `/sdk/` for every game. Release
/// builds embed it; debug builds read it from the source tree, so edits
/// show up on reload.
#[derive(RustEmbed)]
#[folder = "$CARGO_MANIFEST_DIR/../../client-web/sdk"]
#[exclude = "node_modules/*"]
#[exclude = "test/*"]
#[exclude = "tests/*"]
#[exclude = "*.test.js"]
#[exclude = "README.md"]
#[exclude = "package.json"]
#[exclude = "package-lock.json"]
#[exclude = ".*"]
#[exclude = "*/.*"]
struct SdkFiles;

/// The operator console's page (`client-web/console/`), served at
/// `/admin/` with `--admin-token` (see [`crate::admin`]). Embedded like
/// the SDK.
#[derive(RustEmbed)]
#[folder = "$CARGO_MANIFEST_DIR/../../client-web/console"]
#[exclude = ".*"]
#[exclude = "*/.*"]
struct ConsoleFiles;

/// The console's file at `file`, a path [`file_path`] accepted.
pub(crate) fn console_file(file: &str) -> Option<Cow<'static, [u8]>> {
    ConsoleFiles::get(file).map(|f| f.data)
}

/// Where the SDK's generic page lives inside the SDK's folder.
const MINIMAL_PAGE: &str = "examples/minimal.html";

/// The page of a game: the static files served at `/` and below (all but
/// `/sdk/`, which is the SDK's). Cheap to clone.
#[derive(Clone)]
pub struct Page(Source);

#[derive(Clone)]
enum Source {
    /// Files embedded with rust-embed (read from disk in debug builds).
    Embedded(fn(&str) -> Option<rust_embed::EmbeddedFile>),
    /// A folder read per request.
    Folder(PathBuf),
    /// The SDK's generic page, at `/` only.
    Minimal,
}

impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Source::Embedded(_) => f.write_str("Page::Embedded"),
            Source::Folder(dir) => f.debug_tuple("Page::Folder").field(dir).finish(),
            Source::Minimal => f.write_str("Page::Minimal"),
        }
    }
}

impl Default for Page {
    /// [`Page::minimal`].
    fn default() -> Self {
        Self::minimal()
    }
}

impl Page {
    /// The files of a rust-embed type: what [`page!`](crate::page!) makes.
    pub fn embedded<E: RustEmbed>() -> Self {
        Self(Source::Embedded(E::get))
    }

    /// The files in `dir`, read at every request (what `--client-dir`
    /// serves). [`Server::start`](crate::Server::start) refuses a folder
    /// that does not exist.
    pub fn dir(dir: impl Into<PathBuf>) -> Self {
        Self(Source::Folder(dir.into()))
    }

    /// The SDK's generic page (`client-web/sdk/examples/minimal.html`) at
    /// `/`, and nothing else: what a game with no page of its own serves.
    /// It connects and draws every entity of any game as a dot.
    pub fn minimal() -> Self {
        Self(Source::Minimal)
    }

    /// Checks the page can be served: a folder must exist.
    pub(crate) fn check(&self) -> anyhow::Result<()> {
        if let Source::Folder(dir) = &self.0 {
            let meta = std::fs::metadata(dir)
                .with_context(|| format!("--client-dir {}: cannot read it", dir.display()))?;
            anyhow::ensure!(
                meta.is_dir(),
                "--client-dir {}: not a directory",
                dir.display()
            );
        }
        Ok(())
    }

    /// The contents of the file at `file`, a path [`file_path`] accepted.
    pub(crate) async fn get(&self, file: &str) -> Option<Cow<'static, [u8]>> {
        match &self.0 {
            Source::Embedded(get) => get(file).map(|f| f.data),
            Source::Minimal if file == "index.html" => sdk_file(MINIMAL_PAGE),
            Source::Minimal => None,
            Source::Folder(dir) => {
                let (dir, file) = (dir.clone(), file.to_owned());
                tokio::task::spawn_blocking(move || read_inside(&dir, &file))
                    .await
                    .ok()
                    .flatten()
                    .map(Cow::Owned)
            }
        }
    }
}

/// The SDK's file at `file`, a path [`file_path`] accepted.
pub(crate) fn sdk_file(file: &str) -> Option<Cow<'static, [u8]>> {
    SdkFiles::get(file).map(|f| f.data)
}

/// Reads `file` under `dir`, if it is a file that is really inside `dir`
/// (a symbolic link out of it is refused).
fn read_inside(dir: &Path, file: &str) -> Option<Vec<u8>> {
    let root = dir.canonicalize().ok()?;
    let path = root.join(file).canonicalize().ok()?;
    if !path.starts_with(&root) || !path.is_file() {
        return None;
    }
    std::fs::read(path).ok()
}

/// The file a request path names, relative to the page's folder:
/// percent-decoded, `index.html` for a folder (a path ending in `/`).
/// `None` (answered 404) for a path that is not `/`-rooted, does not
/// decode to UTF-8, has an empty segment (`//`, an absolute path), a
/// segment that starts with a dot (`.`, `..`, dot files), or holds `\`,
/// `:` or NUL.
pub(crate) fn file_path(path: &str) -> Option<String> {
    let decoded = percent_decode(path.strip_prefix('/')?)?;
    if decoded.contains(['\\', ':', '\0']) {
        return None;
    }
    let mut segments = decoded.split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if (segment.is_empty() && !last) || segment.starts_with('.') {
            return None;
        }
    }
    Some(if decoded.is_empty() || decoded.ends_with('/') {
        format!("{decoded}index.html")
    } else {
        decoded
    })
}

/// Decodes `%XX` escapes; `None` for a bad escape or bytes that are not
/// UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Embeds a game's page folder in the game's binary at build time, as a
/// [`Page`] for [`Games::page`](crate::Games::page) or
/// [`run_with_page`](crate::run_with_page): the folder is relative to the
/// game crate's `Cargo.toml`. Debug builds read the folder from disk
/// instead, so edits show on reload; dot files and `node_modules/` are
/// left out. The game crate needs no dependency but `tickwire` (under
/// that name).
///
/// ```ignore
/// fn main() -> std::process::ExitCode {
///     tickwire::run_with_page::<MyGame>(tickwire::page!("web"))
/// }
/// ```
#[macro_export]
macro_rules! page {
    ($folder:literal) => {{
        #[derive($crate::rust_embed::RustEmbed)]
        #[crate_path = "::tickwire::rust_embed"]
        #[folder = $folder]
        #[exclude = "node_modules/*"]
        #[exclude = ".*"]
        #[exclude = "*/.*"]
        struct PageFiles;
        $crate::Page::embedded::<PageFiles>()
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_paths_map_to_files_inside_the_folder() {
        assert_eq!(file_path("/").as_deref(), Some("index.html"));
        assert_eq!(file_path("/src/main.js").as_deref(), Some("src/main.js"));
        assert_eq!(file_path("/src/").as_deref(), Some("src/index.html"));
        assert_eq!(file_path("/a%20b.js").as_deref(), Some("a b.js"));
        for refused in [
            "",
            "src",
            "/../Cargo.toml",
            "/src/../../x",
            "/%2e%2e/x",
            "/%2E%2E%2Fx",
            "/..%2f..%2fetc/passwd",
            "//etc/passwd",
            "/%2fetc/passwd",
            "/a//b",
            "/.git/config",
            "/src/.hidden",
            "/./index.html",
            "/..\\x",
            "/%5c..%5cx",
            "/C:/x",
            "/a%00b",
            "/%zz",
            "/%2",
            "/%ff",
        ] {
            assert_eq!(file_path(refused), None, "{refused:?}");
        }
    }
}
