//! A Tickwire cluster's side of a bot's connection: matchmaking (`POST
//! /api/matchmake` on any node) and the node a redirect or a seat offer
//! names (`docs/scaling.md`).

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::Request;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A seat the cluster placed a bot in: where to connect, with what.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct Offer {
    /// The node's public base URL (`http://10.0.0.2:8080`).
    pub url: String,
    /// The room.
    pub room: String,
    /// The seat ticket (empty: none).
    pub ticket: String,
}

/// Asks the node at `addr` (`host:port`) for a seat in `room` for `name`.
pub async fn matchmake(addr: &str, room: &str, name: &str) -> Result<Offer, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("matchmake: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("matchmake: {e}"))?;
    tokio::spawn(connection);
    let body = serde_json::json!({ "room": room, "name": name }).to_string();
    let request = Request::post("/api/matchmake")
        .header(HOST, addr)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("matchmake: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("matchmake: {e}"))?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("matchmake: {e}"))?
        .to_bytes();
    if !status.is_success() {
        let text = String::from_utf8_lossy(&bytes);
        return Err(format!(
            "matchmake: HTTP {} {}",
            status.as_u16(),
            text.trim()
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("matchmake: bad answer: {e}"))
}

/// The `host:port` and request URI of the game endpoint of the node at
/// `url` (its public base URL), for `name` in `room` with seat `ticket`.
pub fn endpoint(
    url: &str,
    room: &str,
    name: &str,
    ticket: &str,
) -> Result<(String, String), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("node url: `{url}`: {e}"))?;
    if parsed.scheme() != "http" {
        return Err(format!(
            "node url: `{url}`: only http:// nodes are supported (the swarm speaks ws://)"
        ));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| format!("node url: `{url}` has no host"))?;
    let addr = format!("{host}:{}", parsed.port_or_known_default().unwrap_or(80));
    let path = parsed.path().trim_end_matches('/');
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("room", room).append_pair("name", name);
    if !ticket.is_empty() {
        query.append_pair("seat", ticket);
    }
    Ok((
        addr.clone(),
        format!("http://{addr}{path}/ws?{}", query.finish()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_is_the_node_s_ws_with_the_seat() {
        assert_eq!(
            endpoint("http://10.0.0.2:8080", "r-1", "bot1", "e30.c2ln"),
            Ok((
                "10.0.0.2:8080".to_owned(),
                "http://10.0.0.2:8080/ws?room=r-1&name=bot1&seat=e30.c2ln".to_owned()
            ))
        );
        assert_eq!(
            endpoint("http://lb.example/node-2/", "r", "b", "").map(|(_, uri)| uri),
            Ok("http://lb.example:80/node-2/ws?room=r&name=b".to_owned())
        );
        assert!(endpoint("https://node.example", "r", "b", "").is_err());
    }
}
