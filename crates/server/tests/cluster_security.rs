//! Seat tickets that are forged, altered, malformed, expired or replayed
//! are refused with the documented close codes (4011, 4012, 4013), after
//! an error message with the same code, and counted in the metrics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cluster_support;
mod common;

use cluster_support::{Entered, Node, Redis, enter, metrics, open, seat, ws_url};
use common::metric;
use tickwire::cluster::seat::{SeatClaims, issue};
use tickwire::ticket::now_unix;

/// Opens `url` and expects a refusal with `code` as error and close code.
async fn refused(url: &str, code: u16) -> String {
    match open(url).await {
        Entered::Refused {
            code: error,
            reason,
            close,
        } => {
            assert_eq!(error, code, "{reason}");
            assert_eq!(close.code, code, "{reason}");
            reason
        }
        other => panic!("expected a refusal with {code}: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_seat_tickets_are_refused_with_their_close_codes_and_counted() {
    let redis = Redis::start();
    let a = Node::start(&redis, "a", &[]);
    let claims = |exp: u64| SeatClaims {
        room: "r-1".into(),
        node: "a".into(),
        epoch: 1,
        name: "mallory".into(),
        exp,
        jti: "test-1".into(),
    };
    let url = |ticket: &str| ws_url(&a.url(), Some("r-1"), "mallory", Some(ticket));

    // Forged: signed with another secret.
    let forged = issue(b"not the cluster's secret at all", &claims(now_unix() + 60));
    let reason = refused(&url(&forged), 4011).await;
    assert!(reason.contains("signature"), "{reason}");
    // Altered: the claims changed, the signature kept.
    let genuine = issue(cluster_support::SECRET.as_bytes(), &claims(now_unix() + 60));
    let (_, signature) = genuine.split_once('.').unwrap();
    let other = issue(
        b"not the cluster's secret at all",
        &SeatClaims {
            name: "admin".into(),
            ..claims(now_unix() + 60)
        },
    );
    let (payload, _) = other.split_once('.').unwrap();
    refused(&url(&format!("{payload}.{signature}")), 4011).await;
    // Malformed.
    refused(&url("not-a-ticket"), 4011).await;
    // Expired: genuine, but past its expiry.
    let expired = issue(cluster_support::SECRET.as_bytes(), &claims(now_unix() - 1));
    let reason = refused(&url(&expired), 4012).await;
    assert!(reason.contains("expired"), "{reason}");
    // Replayed: a real seat, taken twice.
    let offer = seat(a.addr, Some("r-1"), "ann").await;
    assert_eq!(offer.node, "a");
    let mut ann = enter(&offer.ws("ann"), "ann").await;
    ann.next_snapshot().await;
    let reason = refused(&offer.ws("ann"), 4013).await;
    assert!(reason.contains("used before"), "{reason}");

    let text = metrics(a.addr).await;
    let count = |reason: &str| {
        metric(
            &text,
            &format!("tickwire_seat_tickets_refused_total{{reason=\"{reason}\"}}"),
        )
    };
    assert_eq!(count("forged"), 2.0, "{text}");
    assert_eq!(count("malformed"), 1.0, "{text}");
    assert_eq!(count("expired"), 1.0, "{text}");
    assert_eq!(count("replayed"), 1.0, "{text}");
    // The player with the genuine ticket was never disturbed.
    ann.next_snapshot().await;
    drop(ann);
    redis.assert_every_key_has_a_ttl().await;
}
