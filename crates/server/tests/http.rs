//! The HTTP routes: the web client, health, rooms and metrics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_ok() {
    let server = arena().await;
    let response = http_get(server.local_addr(), "/healthz").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("ok\n"), "{response}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_rooms_lists_rooms_with_players_and_tick_times() {
    let server = arena().await;
    let addr = server.local_addr();
    let mut p = join(addr, "listed", "ann").await;
    for _ in 0..5 {
        p.next_snapshot().await;
    }
    let response = http_get(addr, "/api/rooms").await;
    let body = response.split("\r\n\r\n").nth(1).unwrap();
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    let room = &json["rooms"][0];
    assert_eq!(room["room"], "listed");
    assert_eq!(room["game"], "arena");
    assert_eq!(room["players"], 1);
    assert!(room["tick"].as_u64().unwrap() >= 5);
    for phase in ["simulate", "encode", "send"] {
        assert!(
            room["tick_time"][phase]["p99_us"].as_u64().unwrap() > 0,
            "{room}"
        );
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_prometheus_text_with_tick_phases() {
    let server = arena().await;
    let addr = server.local_addr();
    let mut p = join(addr, "metered", "ann").await;
    for _ in 0..5 {
        p.next_snapshot().await;
    }
    let response = http_get(addr, "/metrics").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    for needle in [
        "tickwire_tick_phase_seconds_bucket{phase=\"simulate\"",
        "tickwire_tick_phase_seconds_bucket{phase=\"encode\"",
        "tickwire_tick_phase_seconds_bucket{phase=\"send\"",
        "tickwire_frames_out_total",
        "tickwire_bytes_out_total",
        "tickwire_connections",
        "tickwire_players",
        "tickwire_rooms",
    ] {
        assert!(response.contains(needle), "missing {needle}:\n{response}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_are_404() {
    let server = arena().await;
    let response = http_get(server.local_addr(), "/no/such/file.js").await;
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_client_is_served_with_module_friendly_types() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let game = tickwire::bundled("arena", tickwire::BundledOptions::default()).unwrap();
    let server = tickwire::Server::builder(test_config(), game)
        .page(tickwire::bundled::page())
        .start(listener)
        .unwrap();
    let addr = server.local_addr();
    let index = http_get(addr, "/").await.to_ascii_lowercase();
    assert!(index.starts_with("http/1.1 200"), "{index}");
    assert!(index.contains("content-type: text/html"), "{index}");
    let script = http_get(addr, "/src/main.js").await.to_ascii_lowercase();
    assert!(script.starts_with("http/1.1 200"), "{script}");
    assert!(
        script.contains("content-type: text/javascript")
            || script.contains("content-type: application/javascript"),
        "{script}"
    );
    let hidden = http_get(addr, "/package.json").await;
    assert!(hidden.starts_with("HTTP/1.1 404"), "{hidden}");
    server.shutdown().await;
}

// With the `jemalloc` feature there is no glibc arena to trim and no trimming
// task (see the_allocator_is_not_trimmed_with_jemalloc).
#[cfg(not(feature = "jemalloc"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allocator_is_trimmed_every_period_and_timed() {
    let config = tickwire::Config {
        malloc_trim_every: std::time::Duration::from_millis(50),
        ..test_config()
    };
    let server = start(config).await;
    let addr = server.local_addr();
    // Trims counted in /metrics; bounded wait, generous for a loaded machine.
    let trims = |response: &str| metric(response, "tickwire_malloc_trim_seconds_count ");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut response = http_get(addr, "/metrics").await;
    while trims(&response) < 3.0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        response = http_get(addr, "/metrics").await;
    }
    assert!(trims(&response) >= 3.0, "no trims counted:\n{response}");
    assert!(
        response.contains("tickwire_malloc_trim_seconds_bucket{le=\"0.001\"}"),
        "{response}"
    );
    server.shutdown().await;
}

// glibc tells its heap at each scrape: more than nothing in use, a figure
// that moves with what the process holds.
#[cfg(all(target_os = "linux", target_env = "gnu", not(feature = "jemalloc")))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_tell_the_heap_in_use_and_free() {
    let server = start(test_config()).await;
    let addr = server.local_addr();
    let before = http_get(addr, "/metrics").await;
    let in_use = metric(&before, "tickwire_heap_bytes ");
    assert!(in_use > 0.0, "{before}");
    assert!(before.contains("\ntickwire_heap_free_bytes "), "{before}");
    // 64 MiB held across a scrape: the next scrape's figure holds it too.
    let held = vec![1u8; 64 << 20];
    let during = http_get(addr, "/metrics").await;
    let grown = metric(&during, "tickwire_heap_bytes ") - in_use;
    assert!(
        grown >= (56 << 20) as f64,
        "heap grew {grown} bytes holding 64 MiB"
    );
    drop(held);
    server.shutdown().await;
}

// With the `jemalloc` feature the server starts no trimming task: jemalloc
// gives its free pages back by itself, and glibc has nothing to trim.
#[cfg(feature = "jemalloc")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allocator_is_not_trimmed_with_jemalloc() {
    let config = tickwire::Config {
        malloc_trim_every: std::time::Duration::from_millis(20),
        ..test_config()
    };
    let server = start(config).await;
    let addr = server.local_addr();
    // Twenty-five periods and more: a trimming task would have counted some.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let response = http_get(addr, "/metrics").await;
    let trims = metric(&response, "tickwire_malloc_trim_seconds_count ");
    assert_eq!(trims, 0.0, "trims counted with jemalloc:\n{response}");
    server.shutdown().await;
}
