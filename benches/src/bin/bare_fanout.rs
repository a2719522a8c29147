//! The bare fan-out: the floor a server on Tickwire's stack works against.
//!
//! A server on the same stack as Tickwire's (tokio, hyper's upgrade,
//! fastwebsockets) that does nothing a game server does: no rooms, no
//! simulation, no encoding. Thirty times a second it writes one pre-built
//! WebSocket frame to every socket, the way the room writes snapshots (a
//! non-blocking write straight to the socket; a socket that does not take a
//! whole frame gets nothing new until the rest is written). Each socket's
//! reader task reads and drops the clients' inputs, as the arena scenario's
//! bots send one every 100 ms.
//!
//! ```text
//! cargo run --release -p tickwire-benches --bin bare-fanout -- --sockets 2000 --frame-bytes 64
//! ```
//!
//! The process runs the server and starts itself a second time as the
//! clients, so that the server's CPU time (read from `/proc/self/stat`) is
//! its own. The clients connect, settle for the warm-up, then count every
//! frame of every socket over the measured window. The run holds under the
//! scenario's rule: every socket at least 29 frames/s, the p99 gap between
//! frames under 50 ms, no errors. With `--phases 8` the sockets are served
//! in 8 slots spread over the period, as Tickwire's rooms tick; the default
//! is one burst to every socket.

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Write as _};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use fastwebsockets::{Frame, OpCode, Payload};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tickwire_sim::Input as _;
use tickwire_sim::games::arena::ArenaInput;
use tickwire_swarm::bot::{Target, connect};
use tickwire_swarm::cpu::process_cpu_seconds;
use tickwire_swarm::{Values, wire};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};

/// Frames per second to every socket, and inputs per second from each.
const FRAMES_PER_SECOND: f64 = 30.0;
const INPUT_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Parser, Debug, Clone)]
#[command(
    name = "bare-fanout",
    about = "The floor of Tickwire's stack: one frame to every socket, 30 times a second"
)]
struct Args {
    /// Sockets (clients) to serve.
    #[arg(long, default_value_t = 1000)]
    sockets: usize,
    /// Payload bytes of the frame sent to every socket.
    #[arg(long, default_value_t = 64)]
    frame_bytes: usize,
    /// Phase slots over the period: 1 sends to every socket in one burst.
    #[arg(long, default_value_t = 1)]
    phases: usize,
    /// Clients send no inputs (by default each sends one every 100 ms).
    #[arg(long)]
    no_inputs: bool,
    /// Seconds of warm-up after every client is connected.
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// Seconds measured.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
    /// Run only the clients, against a server already listening at this
    /// address (a Tickwire server, say, to compare its cost with the bare
    /// fan-out's under the very same clients; measure that server's CPU
    /// yourself).
    #[arg(long, value_name = "ADDR")]
    clients_for: Option<SocketAddr>,
    /// With --clients-for: players per room (`/ws?room=...`), 0 for one room.
    #[arg(long, default_value_t = 10)]
    room_size: usize,
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    match args.clients_for {
        Some(addr) => runtime.block_on(clients(addr, args)),
        None => runtime.block_on(serve(args)),
    }
}

// ---------------------------------------------------------------- server

/// A socket's write half and the unwritten rest of the frame begun on it.
struct Socket {
    write: OwnedWriteHalf,
    rest: Vec<u8>,
}

#[derive(Default)]
struct Served {
    sockets: Mutex<Vec<Vec<Socket>>>,
    frames: AtomicU64,
    skipped: AtomicU64,
}

async fn serve(args: Args) -> Result<(), String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let phases = args.phases.max(1);
    let served = Arc::new(Served {
        sockets: Mutex::new((0..phases).map(|_| Vec::new()).collect()),
        ..Served::default()
    });

    let accept_served = Arc::clone(&served);
    tokio::spawn(async move {
        let mut next = 0usize;
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let served = Arc::clone(&accept_served);
            let phase = next % phases;
            next += 1;
            tokio::spawn(async move {
                let service = service_fn(move |req| upgrade(req, Arc::clone(&served), phase));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });

    // One pre-built frame, header and payload, for every socket.
    let mut frame = Vec::new();
    tickwire::bench::frame::push(&mut frame, OpCode::Binary, &vec![0x5a; args.frame_bytes]);
    let ticker_served = Arc::clone(&served);
    tokio::spawn(tokio::task::coop::unconstrained(async move {
        let slot = Duration::from_secs_f64(1.0 / FRAMES_PER_SECOND / phases as f64);
        let mut ticks = tokio::time::interval(slot);
        // A late slot is served at once, not skipped: every phase keeps its
        // 30 frames a second for as long as the machine can write them.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut phase = 0usize;
        loop {
            ticks.tick().await;
            send_all(&ticker_served, phase, &frame);
            phase = (phase + 1) % phases;
        }
    }));

    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .args(client_args(&args, addr))
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting the clients: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout from the clients")?;
    let lines = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        let mut cpu_start = None;
        let mut frames_start = 0;
        let mut skipped_start = 0;
        let mut window = None;
        while let Some(Ok(line)) = lines.next() {
            if line == "measuring" {
                cpu_start = process_cpu_seconds();
                frames_start = served.frames.load(Ordering::Relaxed);
                skipped_start = served.skipped.load(Ordering::Relaxed);
            } else if line == "measured" {
                let cpu = process_cpu_seconds().zip(cpu_start).map(|(b, a)| b - a);
                let frames = served.frames.load(Ordering::Relaxed) - frames_start;
                let skipped = served.skipped.load(Ordering::Relaxed) - skipped_start;
                window = Some((cpu, frames, skipped));
            } else if let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) {
                return window.map(|(cpu, frames, skipped)| (value, cpu, frames, skipped));
            }
        }
        None
    })
    .await
    .map_err(|e| e.to_string())?;
    let _ = child.wait();
    let (clients, cpu, frames, skipped) = lines.ok_or("the clients reported nothing")?;
    report(&args, clients, cpu, frames, skipped);
    Ok(())
}

fn client_args(args: &Args, addr: SocketAddr) -> Vec<String> {
    let mut out = vec![
        format!("--clients-for={addr}"),
        format!("--sockets={}", args.sockets),
        format!("--warmup={}", args.warmup),
        format!("--duration={}", args.duration),
        format!("--room-size={}", args.room_size),
    ];
    if args.no_inputs {
        out.push("--no-inputs".into());
    }
    out
}

/// Writes the frame to every socket of one phase slot, without blocking.
fn send_all(served: &Served, phase: usize, frame: &[u8]) {
    let mut slots = served.sockets.lock();
    let sockets = &mut slots[phase];
    let (mut frames, mut skipped) = (0u64, 0u64);
    sockets.retain_mut(|socket| {
        if !socket.rest.is_empty() {
            match socket.write.try_write(&socket.rest) {
                Ok(n) => drop(socket.rest.drain(..n)),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return false,
            }
            if !socket.rest.is_empty() {
                skipped += 1;
                return true;
            }
        }
        match socket.write.try_write(frame) {
            Ok(n) => {
                frames += 1;
                socket.rest.extend_from_slice(&frame[n..]);
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                skipped += 1;
                true
            }
            Err(_) => false,
        }
    });
    served.frames.fetch_add(frames, Ordering::Relaxed);
    served.skipped.fetch_add(skipped, Ordering::Relaxed);
}

async fn upgrade(
    mut req: Request<Incoming>,
    served: Arc<Served>,
    phase: usize,
) -> Result<Response<Empty<Bytes>>, Infallible> {
    let Ok((response, upgrade)) = fastwebsockets::upgrade::upgrade(&mut req) else {
        return Ok(Response::builder()
            .status(400)
            .body(Empty::new())
            .unwrap_or_default());
    };
    tokio::spawn(async move {
        let Ok(ws) = upgrade.await else { return };
        // The server's own way to the socket: hyper's upgrade unwrapped into
        // owned TCP halves (nothing is read past a client's handshake).
        let Ok(parts) = ws
            .into_inner()
            .into_inner()
            .downcast::<TokioIo<TcpStream>>()
        else {
            return;
        };
        let (read, write) = parts.io.into_inner().into_split();
        served.sockets.lock()[phase].push(Socket {
            write,
            rest: Vec::new(),
        });
        // Read and drop the inputs; answers to pings and closes are not needed.
        let (mut reader, _) = fastwebsockets::after_handshake_split(
            read,
            tokio::io::sink(),
            fastwebsockets::Role::Server,
        );
        reader.set_max_message_size(64 * 1024);
        let mut ignore = |_: Frame<'_>| async { Ok::<_, std::io::Error>(()) };
        while let Ok(frame) = reader.read_frame(&mut ignore).await {
            if frame.opcode == OpCode::Close {
                break;
            }
        }
    });
    Ok(response.map(|_| Empty::new()))
}

fn report(args: &Args, clients: serde_json::Value, cpu: Option<f64>, frames: u64, skipped: u64) {
    let seconds = args.duration as f64;
    let get = |key: &str| {
        clients
            .get(key)
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(f64::NAN)
    };
    let cores = cpu.map_or(f64::NAN, |c| c / seconds);
    let us_per_frame = cpu.map_or(f64::NAN, |c| c * 1e6 / frames.max(1) as f64);
    let holds = get("frames_per_s_min") >= 29.0 && get("gap_ms_p99") < 50.0 && get("errors") == 0.0;
    let result = serde_json::json!({
        "sockets": args.sockets,
        "frame_bytes": args.frame_bytes,
        "phases": args.phases.max(1),
        "inputs": !args.no_inputs,
        "server_cpu": cores,
        "server_us_per_frame": us_per_frame,
        "frames_sent": frames,
        "frames_skipped": skipped,
        "frames_per_s_mean": get("frames_per_s_mean"),
        "frames_per_s_min": get("frames_per_s_min"),
        "gap_ms_p50": get("gap_ms_p50"),
        "gap_ms_p99": get("gap_ms_p99"),
        "gap_ms_max": get("gap_ms_max"),
        "errors": get("errors"),
        "clients_cpu": get("clients_cpu"),
        "holds": holds,
    });
    if args.json {
        println!("{result}");
    } else {
        println!(
            "{} sockets, {} B frames, {} phase(s), inputs {}: server {:.3} cores ({:.1} µs per frame), \
             clients {:.2} cores, frames/s per socket mean {:.1} min {:.1}, gap p50/p99/max {:.1}/{:.1}/{:.1} ms, \
             skipped {}, errors {}: holds {}",
            args.sockets,
            args.frame_bytes,
            args.phases.max(1),
            if args.no_inputs { "off" } else { "on" },
            cores,
            us_per_frame,
            get("clients_cpu"),
            get("frames_per_s_mean"),
            get("frames_per_s_min"),
            get("gap_ms_p50"),
            get("gap_ms_p99"),
            get("gap_ms_max"),
            skipped,
            get("errors"),
            if holds { "yes" } else { "no" },
        );
    }
}

// ---------------------------------------------------------------- clients

/// What one client saw in the measured window.
#[derive(Default)]
struct Seen {
    frames: u64,
    gaps_us: Vec<u32>,
}

async fn clients(addr: SocketAddr, args: Args) -> Result<(), String> {
    let measuring = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let connected = Arc::new(AtomicU64::new(0));
    let target = Arc::new(Target::from_url(&format!("ws://{addr}/ws"))?);
    let mut tasks = Vec::with_capacity(args.sockets);
    for i in 0..args.sockets {
        let (measuring, done, errors, connected) = (
            Arc::clone(&measuring),
            Arc::clone(&done),
            Arc::clone(&errors),
            Arc::clone(&connected),
        );
        let inputs = !args.no_inputs;
        let target = Arc::clone(&target);
        let room = format!("r{}", i.checked_div(args.room_size).unwrap_or(0));
        let name = format!("c{i}");
        tasks.push(tokio::spawn(async move {
            let ended = client(&target, &room, &name, inputs, &measuring, &done, &connected).await;
            if ended.is_err() && !done.load(Ordering::Relaxed) {
                errors.fetch_add(1, Ordering::Relaxed);
            }
        }));
        // Ramp up at about 2,000 connections a second.
        if i % 20 == 19 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while connected.load(Ordering::Relaxed) < args.sockets as u64
        && errors.load(Ordering::Relaxed) == 0
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    let cpu_start = process_cpu_seconds();
    measuring.store(true, Ordering::Relaxed);
    println!("measuring");
    let _ = std::io::stdout().flush();
    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    measuring.store(false, Ordering::Relaxed);
    println!("measured");
    let _ = std::io::stdout().flush();
    // Each client hands its figures over with its first frame after the window.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cpu = process_cpu_seconds().zip(cpu_start).map(|(b, a)| b - a);
    done.store(true, Ordering::Relaxed);

    let mut gaps = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
        .map_err(|e| e.to_string())?;
    let seconds = args.duration as f64;
    let (mut min_rate, mut total) = (f64::INFINITY, 0u64);
    for task in tasks {
        // Clients still reading are stopped by the process exiting.
        task.abort();
    }
    let seen = std::mem::take(&mut *SEEN.lock());
    for s in &seen {
        min_rate = min_rate.min(s.frames as f64 / seconds);
        total += s.frames;
        for &g in &s.gaps_us {
            let _ = gaps.record(u64::from(g).max(1));
        }
    }
    let missing = args.sockets.saturating_sub(seen.len());
    if missing > 0 {
        min_rate = 0.0;
    }
    let result = serde_json::json!({
        "frames_per_s_mean": total as f64 / seconds / args.sockets.max(1) as f64,
        "frames_per_s_min": if min_rate.is_finite() { min_rate } else { 0.0 },
        "gap_ms_p50": gaps.value_at_quantile(0.5) as f64 / 1000.0,
        "gap_ms_p99": gaps.value_at_quantile(0.99) as f64 / 1000.0,
        "gap_ms_max": gaps.max() as f64 / 1000.0,
        "errors": errors.load(Ordering::Relaxed) + missing as u64,
        "clients_cpu": cpu.map_or(f64::NAN, |c| c / seconds),
    });
    println!("{result}");
    let _ = std::io::stdout().flush();
    std::process::exit(0);
}

/// Every client's figures, handed over when its window ends.
static SEEN: Mutex<Vec<Seen>> = Mutex::new(Vec::new());

async fn client(
    target: &Target,
    room: &str,
    name: &str,
    inputs: bool,
    measuring: &AtomicBool,
    done: &AtomicBool,
    connected: &AtomicU64,
) -> Result<(), String> {
    // The swarm's own way in: TCP without delay, the WebSocket handshake.
    let ws = connect(target, room, name).await?;
    connected.fetch_add(1, Ordering::Relaxed);
    let (mut reader, mut writer) = ws.split(tokio::io::split);
    // The scenario's messages, so that a Tickwire server can be driven too:
    // the join, then an input every 100 ms (the bare server drops them).
    writer
        .write_frame(Frame::binary(Payload::Owned(wire::join())))
        .await
        .map_err(|e| e.to_string())?;
    if inputs {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(INPUT_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            for seq in 1.. {
                ticks.tick().await;
                let input = wire::input(seq, &scenario_input(seq as f32 / 10.0));
                if writer
                    .write_frame(Frame::binary(Payload::Owned(input)))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
    }
    let mut seen = Seen::default();
    let mut last: Option<Instant> = None;
    let mut was_measuring = false;
    loop {
        let frame = reader
            .read_frame(&mut |_| async { Ok::<_, String>(()) })
            .await
            .map_err(|e| e.to_string())?;
        if frame.opcode != OpCode::Binary {
            continue;
        }
        let now = Instant::now();
        if measuring.load(Ordering::Relaxed) {
            seen.frames += 1;
            if let Some(prev) = last.filter(|_| was_measuring) {
                let gap = now.duration_since(prev).as_micros();
                seen.gaps_us.push(gap.min(u128::from(u32::MAX)) as u32);
            }
            was_measuring = true;
        } else if was_measuring || done.load(Ordering::Relaxed) {
            SEEN.lock().push(seen);
            return Ok(());
        }
        last = Some(now);
    }
}

/// The arena's input moving at full speed in `direction` (radians), aiming
/// along it: the scenario bot's input.
fn scenario_input(direction: f32) -> Values {
    let (sin, cos) = direction.sin_cos();
    let turn = direction.rem_euclid(std::f32::consts::TAU) / std::f32::consts::TAU;
    ArenaInput {
        move_x: (cos * 127.0).round() as i8,
        move_y: (sin * 127.0).round() as i8,
        aim: (turn * 65536.0) as u32 as u16,
        buttons: 0,
    }
    .to_values()
}
