//! Agones (`--features agones-test`): the `tickwire` binary with
//! `--agones`, against the stand-in sidecar of the crate `dummy-agones`
//! (the Agones SDK's gRPC service on a random loopback port, whose
//! GameServer the test reads). The node reports Ready after boot, pings
//! at `--agones-health-period`, sets the label `gs-session-ready` by its
//! spare capacity as its room fills and empties (and again after an
//! allocation that took it), and reports Shutdown
//! after the drain SIGTERM starts; in cluster mode without `--public-url`
//! its URL is the GameServer's address; a sidecar that does not answer
//! stops the start-up. Without the feature, `--agones` is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[cfg(feature = "agones-test")]
mod cluster_support;
#[cfg(feature = "agones-test")]
mod common;

#[cfg(feature = "agones-test")]
mod stand_in {
    use std::io::BufRead as _;
    use std::net::SocketAddr;
    use std::process::{Child, Command, ExitStatus, Stdio};
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use dummy_agones::AgonesServer;
    use dummy_agones::sdk::GameServer;
    use dummy_agones::sdk::game_server::Status;
    use dummy_agones::sdk::game_server::status::Port;
    use futures_util::{SinkExt as _, StreamExt as _};
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    use crate::cluster_support::{self, Redis, eventually};
    use crate::common::{self, Ws};

    /// The label the node sets; the stand-in keeps it as the SDK sends it
    /// (a real sidecar prefixes it: `agones.dev/sdk-gs-session-ready`).
    const LABEL: &str = "gs-session-ready";

    /// The nodes' health period in these tests.
    const PERIOD: Duration = Duration::from_millis(200);

    /// When the stand-in read each health ping. It logs every one it reads
    /// (`Got health message`), and keeps no count: the test's own tracing
    /// layer takes the time of each of those lines.
    static PINGS: Mutex<Vec<Instant>> = Mutex::new(Vec::new());

    /// Records the stand-in's health lines into [`PINGS`].
    struct HealthLines;

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for HealthLines {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            struct Message(String);
            impl tracing::field::Visit for Message {
                fn record_debug(
                    &mut self,
                    field: &tracing::field::Field,
                    value: &dyn std::fmt::Debug,
                ) {
                    if field.name() == "message" {
                        self.0 = format!("{value:?}");
                    }
                }
            }
            let mut message = Message(String::new());
            event.record(&mut message);
            if message.0 == "Got health message" {
                PINGS.lock().unwrap().push(Instant::now());
            }
        }
    }

    /// Health pings the stand-in has read since `from`.
    fn pings_since(from: Instant) -> usize {
        PINGS.lock().unwrap().iter().filter(|&&t| t >= from).count()
    }

    /// One test at a time: the pings are counted across the process, so a
    /// test's count holds only its own node's.
    async fn turn() -> tokio::sync::MutexGuard<'static, ()> {
        static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        static LOGGING: std::sync::Once = std::sync::Once::new();
        LOGGING.call_once(|| {
            let only_the_stand_in = tracing_subscriber::filter::filter_fn(|meta| {
                meta.target().starts_with("dummy_agones")
            });
            let layer = tracing_subscriber::Layer::with_filter(HealthLines, only_the_stand_in);
            tracing_subscriber::registry().with(layer).init();
        });
        TURN.lock().await
    }

    /// The stand-in sidecar, on a random loopback port.
    struct Sidecar {
        server: AgonesServer,
        port: u16,
    }

    impl Sidecar {
        async fn start() -> Self {
            let server = AgonesServer::default();
            let addr = server.start_with_port(0).await.unwrap();
            Self {
                server,
                port: addr.port(),
            }
        }

        /// The GameServer's state (`Ready`, `Shutdown`; empty before any).
        fn state(&self) -> String {
            self.server
                .game_server()
                .status
                .map(|s| s.state)
                .unwrap_or_default()
        }

        /// The session-ready label, if set.
        fn label(&self) -> Option<String> {
            self.server
                .game_server()
                .object_meta
                .and_then(|m| m.labels.get(LABEL).cloned())
        }
    }

    /// A `tickwire` binary with `--agones`, its sidecar at `port`.
    struct Node {
        child: Child,
        addr: SocketAddr,
        log: tempfile::NamedTempFile,
    }

    impl Node {
        /// Starts it with `flags`; returns once it prints its address, or
        /// with what it logged if it exits first.
        async fn start(port: u16, flags: &[&str]) -> Result<Self, (ExitStatus, String)> {
            let log = tempfile::NamedTempFile::new().unwrap();
            let mut child = Command::new(env!("CARGO_BIN_EXE_tickwire"))
                .args(["--bind", "127.0.0.1:0", "--agones"])
                .args(["--agones-health-period", &PERIOD.as_secs_f64().to_string()])
                .args(flags)
                .env("AGONES_SDK_GRPC_PORT", port.to_string())
                .env("RUST_LOG", "info")
                .stdout(Stdio::piped())
                .stderr(log.reopen().unwrap())
                .spawn()
                .expect("the tickwire binary starts");
            let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
            // Blocking reads, off the runtime that serves the stand-in.
            let addr = tokio::task::spawn_blocking(move || {
                stdout.lines().map_while(Result::ok).find_map(|line| {
                    let rest = line.split("open http://").nth(1)?;
                    rest.trim_end_matches('/').parse::<SocketAddr>().ok()
                })
            })
            .await
            .unwrap();
            match addr {
                Some(addr) => Ok(Self { child, addr, log }),
                None => {
                    let status = child.wait().unwrap();
                    Err((status, std::fs::read_to_string(log.path()).unwrap()))
                }
            }
        }

        fn log(&self) -> String {
            std::fs::read_to_string(self.log.path()).unwrap_or_default()
        }

        fn terminate(&self) {
            let sent = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status()
                .unwrap();
            assert!(sent.success());
        }

        /// Waits at most `within` for it to exit.
        async fn exited(&mut self, within: Duration) -> Option<ExitStatus> {
            let deadline = Instant::now() + within;
            loop {
                if let Some(status) = self.child.try_wait().unwrap() {
                    return Some(status);
                }
                if Instant::now() >= deadline {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    impl Drop for Node {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// A player in a room, whose messages a task reads (so its socket
    /// never backs up) until the node closes it or it leaves.
    struct Playing {
        sink: futures_util::stream::SplitSink<Ws, tokio_tungstenite::tungstenite::Message>,
        reader: tokio::task::JoinHandle<u64>,
    }

    impl Playing {
        async fn join(addr: SocketAddr, room: &str, name: &str) -> Self {
            let player = common::join(addr, room, name).await;
            let (mut sink, mut stream) = player.ws.split();
            let join = tickwire_protocol::ClientMessage::join(0).to_bytes();
            sink.send(tokio_tungstenite::tungstenite::Message::Binary(join.into()))
                .await
                .unwrap();
            let reader = tokio::spawn(async move {
                let mut messages = 0;
                while let Some(Ok(_)) = stream.next().await {
                    messages += 1;
                }
                messages
            });
            Self { sink, reader }
        }

        /// Whether it is still connected (its reader has not seen the end).
        fn connected(&self) -> bool {
            !self.reader.is_finished()
        }

        /// Leaves with a close (code 1000) and waits for the node's answer.
        async fn leave(mut self) -> u64 {
            let _ = self.sink.close().await;
            tokio::time::timeout(Duration::from_secs(10), self.reader)
                .await
                .expect("the node answers the close")
                .unwrap()
        }
    }

    /// Waits (at most 10 s) for the label to be `value`.
    async fn label_becomes(sidecar: &Sidecar, value: &str, node: &Node) {
        let within = Duration::from_secs(10);
        let set = eventually(within, || async {
            sidecar.label().as_deref() == Some(value)
        })
        .await;
        assert!(
            set,
            "the label is {:?}, not {value:?}, after {within:?}\n{}",
            sidecar.label(),
            node.log()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_node_is_ready_pings_labels_its_spare_capacity_and_shuts_down_after_its_drain() {
        let _turn = turn().await;
        let sidecar = Sidecar::start().await;
        assert_eq!(sidecar.state(), "", "nothing reported before the node");
        // One room of two: the second player fills the node.
        let mut node = Node::start(
            sidecar.port,
            &[
                "--max-room-players",
                "2",
                "--max-rooms",
                "1",
                "--reconnect-grace",
                "0",
                "--drain-timeout",
                "60",
            ],
        )
        .await
        .unwrap_or_else(|(status, log)| panic!("the node did not start: {status}\n{log}"));

        // Ready after boot.
        let ready = eventually(Duration::from_secs(10), || async {
            sidecar.state() == "Ready"
        })
        .await;
        assert!(ready, "state {:?}\n{}", sidecar.state(), node.log());
        label_becomes(&sidecar, "true", &node).await;

        // Health pings at the period: as many as fit in a window, give or
        // take a few (they come on the period's grid, never in bursts), and
        // at least a quarter of them on a busy machine.
        let window = Duration::from_secs(3);
        let from = Instant::now();
        tokio::time::sleep(window).await;
        let pings = pings_since(from);
        let expected = (window.as_secs_f64() / PERIOD.as_secs_f64()) as usize;
        assert!(
            pings >= expected / 4 && pings <= expected + 3,
            "{pings} health pings in {window:?} at a period of {PERIOD:?}\n{}",
            node.log()
        );

        // The room fills: no spare capacity; it empties by one: spare again.
        let ann = Playing::join(node.addr, "r", "ann").await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(sidecar.label().as_deref(), Some("true"), "a free seat left");
        let bob = Playing::join(node.addr, "r", "bob").await;
        label_becomes(&sidecar, "false", &node).await;
        bob.leave().await;
        label_becomes(&sidecar, "true", &node).await;
        let bob = Playing::join(node.addr, "r", "bob").await;
        label_becomes(&sidecar, "false", &node).await;
        bob.leave().await;
        label_becomes(&sidecar, "true", &node).await;

        // A high-density allocation takes the label itself (`"false"`,
        // with a new allocation stamp); the node, a seat still free, sets
        // it back.
        let mut server = sidecar.server.game_server();
        let mut meta = server.object_meta.take().unwrap_or_default();
        meta.labels.insert(LABEL.to_owned(), "false".to_owned());
        meta.annotations.insert(
            "agones.dev/last-allocated".to_owned(),
            "2026-01-01T00:00:00Z".to_owned(),
        );
        server.object_meta = Some(meta);
        server.status.as_mut().unwrap().state = "Allocated".to_owned();
        sidecar.server.set_game_server(server);
        label_becomes(&sidecar, "true", &node).await;

        // SIGTERM: the node drains (no spare capacity), its player plays on
        // and the GameServer stays Ready; once the room has emptied, the
        // node reports Shutdown and exits.
        node.terminate();
        label_becomes(&sidecar, "false", &node).await;
        assert!(node.exited(Duration::from_secs(1)).await.is_none());
        assert!(ann.connected(), "the player plays on during the drain");
        assert_eq!(
            sidecar.state(),
            "Allocated",
            "no Shutdown before the drain ends"
        );
        let from = Instant::now();
        tokio::time::sleep(PERIOD * 5).await;
        assert!(pings_since(from) > 0, "pings go on during the drain");
        let messages = ann.leave().await;
        assert!(messages > 0);
        let status = node
            .exited(Duration::from_secs(20))
            .await
            .expect("the node exits once its room has emptied");
        assert!(status.success(), "{status}\n{}", node.log());
        assert_eq!(sidecar.state(), "Shutdown", "{}", node.log());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cluster_node_without_a_public_url_takes_the_game_servers_address() {
        let _turn = turn().await;
        let redis = Redis::start();
        let sidecar = Sidecar::start().await;
        // As a scheduled GameServer's status has it; port 0 stands for the
        // port the node binds, as in --public-url, since a test binds 0.
        sidecar.server.set_game_server(GameServer {
            status: Some(Status {
                address: "localhost".to_owned(),
                ports: vec![Port {
                    name: "default".to_owned(),
                    port: 0,
                }],
                ..Status::default()
            }),
            ..GameServer::default()
        });
        let node = Node::start(
            sidecar.port,
            &[
                "--redis",
                &redis.url(),
                "--cluster-secret",
                cluster_support::SECRET,
                "--node-id",
                "gs-1",
            ],
        )
        .await
        .unwrap_or_else(|(status, log)| panic!("the node did not start: {status}\n{log}"));
        let url = format!("http://localhost:{}", node.addr.port());
        let offer = cluster_support::seat(node.addr, Some("r"), "ann").await;
        assert_eq!(offer.url, url, "{}", node.log());
        assert_eq!(
            redis.hget("tickwire:node:gs-1", "url").await.as_deref(),
            Some(url.as_str())
        );
        assert_eq!(sidecar.state(), "Ready");
    }

    /// An embedder's server with `--agones` in its config and no sidecar
    /// handed to it does not start.
    #[tokio::test]
    async fn agones_in_the_config_needs_a_sidecar() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let config = tickwire::Config {
            agones: true,
            ..common::test_config()
        };
        let game = tickwire::bundled("arena", tickwire::BundledOptions::default()).unwrap();
        let error = tickwire::Server::start(config, listener, game).unwrap_err();
        assert!(
            error.to_string().contains("Sidecar::for_config"),
            "{error:#}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_node_whose_sidecar_does_not_answer_does_not_start() {
        let port = cluster_support::free_port();
        let started = Node::start(port, &["--agones-connect-timeout", "1"]).await;
        let Err((status, log)) = started else {
            panic!("the node started without a sidecar");
        };
        assert!(!status.success());
        assert!(
            log.contains(&format!(
                "the Agones SDK sidecar did not answer on localhost:{port}"
            )),
            "{log}"
        );
    }
}

/// Without the feature, `--agones` stops the start-up with what to build.
#[cfg(not(feature = "agones"))]
#[tokio::test]
async fn without_the_feature_agones_is_refused() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = tickwire::Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        agones: true,
        ..tickwire::Config::default()
    };
    let game = tickwire::bundled("arena", tickwire::BundledOptions::default()).unwrap();
    let error = tickwire::Server::start(config, listener, game).unwrap_err();
    assert!(error.to_string().contains("--features agones"), "{error:#}");
}
