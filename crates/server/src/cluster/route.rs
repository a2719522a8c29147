//! Where a `/ws` connection to a cluster node goes: into a room here, on
//! to the room's node, or nowhere.
//!
//! | the connection brings | the node does |
//! | --- | --- |
//! | a seat ticket for this node and a room it has, or is to open | lets the player in (the first valid ticket opens the room) |
//! | a seat ticket for another node, or for an older incarnation of the room | places the player again (the ticket's room), then as below |
//! | no seat ticket | places the player (its `room`, or anywhere): a seat here lets it in; a seat elsewhere sends it there |
//! | a seat ticket that is malformed or forged / expired / used before | `Error` 4011 / 4012 / 4013, then the close with the same code |
//!
//! Sending on is the protocol's `Redirect` (the node's URL, the room, a
//! fresh seat ticket), then close 4010. Matchmaking that finds no seat
//! closes with 1013 after `Error` 4004 (a full room, a draining node, no
//! node up, Redis unreachable); with Redis unreachable, a connection for
//! a room this node has open is let in, since the node still owns it.

use std::sync::Arc;
use std::time::Duration;

use fastwebsockets::{Frame, OpCode, Payload, WebSocket};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tickwire_protocol::close_code;

use super::{Cluster, NoSeat};
use crate::{Shared, session, stats, wire};

/// The WebSocket close code of "try again later" (a room full, no seat).
const TRY_AGAIN_LATER: u16 = 1013;

/// How long the socket stays open after a redirect's or refusal's close,
/// for the peer to read it.
const LINGER: Duration = Duration::from_millis(500);

/// Where a connection goes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Into `room` here, as `name`.
    Local {
        /// The room.
        room: String,
        /// The player's name.
        name: String,
        /// The epoch it was placed under; `None` when Redis was away and
        /// the room is open here.
        epoch: Option<u64>,
    },
    /// On to the node at `url`, with `ticket`.
    Redirect {
        /// The node's public URL.
        url: String,
        /// The room.
        room: String,
        /// A seat ticket for it.
        ticket: String,
    },
    /// Nowhere: an error message with `error_code`, then close `code`.
    Refuse {
        /// The WebSocket close code.
        code: u16,
        /// The protocol's error code.
        error_code: u16,
        /// Why.
        reason: String,
    },
}

impl Cluster {
    /// Decides where a connection for `room` (or any), of a player named
    /// `name`, with seat ticket `seat`, goes.
    pub(crate) async fn decide(
        &self,
        room: Option<String>,
        name: String,
        seat: Option<String>,
    ) -> Decision {
        let Some(ticket) = seat else {
            return self.place(room, name).await;
        };
        let claims = match self.check_ticket(&ticket) {
            Ok(claims) => claims,
            Err(refusal) => {
                metrics::counter!(stats::SEAT_TICKETS_REFUSED, "reason" => refusal.label())
                    .increment(1);
                return Decision::Refuse {
                    code: refusal.close_code(),
                    error_code: refusal.error_code(),
                    reason: refusal.to_string(),
                };
            }
        };
        let name = crate::name::clean(&claims.name);
        if claims.node == self.settings.node
            && self.admit(&claims.room, claims.epoch, &claims.jti).is_ok()
        {
            return Decision::Local {
                room: claims.room,
                name,
                epoch: Some(claims.epoch),
            };
        }
        // Another node's ticket, or a stale one: place the player afresh.
        self.place(Some(claims.room), name).await
    }

    /// Places a player and decides from where it landed.
    async fn place(&self, room: Option<String>, name: String) -> Decision {
        match self.matchmake(room.as_deref(), &name).await {
            Ok(offer) if offer.placed.node == self.settings.node => {
                let placed = offer.placed;
                match self.admit(&placed.room, placed.epoch, &offer.jti) {
                    Ok(()) => Decision::Local {
                        room: placed.room,
                        name,
                        epoch: Some(placed.epoch),
                    },
                    Err(_) => refuse(&NoSeat {
                        full: false,
                        unreachable: false,
                        reason: format!("room `{}` is closing here; try again", placed.room),
                    }),
                }
            }
            Ok(offer) => {
                metrics::counter!(stats::REDIRECTS).increment(1);
                Decision::Redirect {
                    url: offer.placed.url,
                    room: offer.placed.room,
                    ticket: offer.ticket,
                }
            }
            // The directory may be away, but the rooms here are still this
            // node's: let a player into one.
            Err(no_seat) => match room {
                Some(room) if no_seat.unreachable && self.is_local(&room) => Decision::Local {
                    room,
                    name,
                    epoch: None,
                },
                _ => refuse(&no_seat),
            },
        }
    }
}

fn refuse(no_seat: &NoSeat) -> Decision {
    Decision::Refuse {
        code: TRY_AGAIN_LATER,
        error_code: wire::error_code::FULL,
        reason: no_seat.reason.clone(),
    }
}

/// Serves a `/ws` connection on a cluster node: into a session here, or a
/// redirect or refusal and the close.
pub(crate) async fn serve(
    mut ws: WebSocket<TokioIo<Upgraded>>,
    shared: Arc<Shared>,
    cluster: Arc<Cluster>,
    request: session::Request,
    seat: Option<String>,
) {
    let session::Request {
        room,
        name,
        identity,
        watch,
        since,
        resume,
    } = request;
    // A resume names its room in its token.
    let room = room.or_else(|| {
        let token = resume.as_deref()?;
        let claims = shared
            .resumes
            .verify(token, crate::ticket::now_unix())
            .ok()?;
        Some(claims.room)
    });
    let here = room.as_deref().is_some_and(|r| shared.lobby.has(r));
    let decision = match (&resume, here) {
        // A resume for a room open here: the session finds its seat (or
        // says why not).
        (Some(_), true) => Decision::Local {
            room: room.unwrap_or_default(),
            name,
            epoch: None,
        },
        _ => cluster.decide(room, name, seat).await,
    };
    let (message, code, reason) = match decision {
        Decision::Local { room, name, epoch } => {
            // A room whose node died is continued here first.
            let prepared = match epoch {
                Some(epoch) => cluster.prepare(&room, epoch).await,
                None => Ok(()),
            };
            match prepared {
                Ok(()) => {
                    let request = session::Request {
                        room: Some(room),
                        name,
                        identity,
                        watch,
                        since,
                        resume,
                    };
                    return session::run(ws, shared, request).await;
                }
                Err(no_seat) => {
                    let Decision::Refuse {
                        code,
                        error_code,
                        reason,
                    } = refuse(&no_seat)
                    else {
                        return;
                    };
                    (wire::encode_error(error_code, &reason), code, reason)
                }
            }
        }
        Decision::Redirect { url, room, ticket } => {
            tracing::debug!(%room, %url, "sent to the room's node");
            let reason = format!("room {room} is on another node: reconnect there");
            (
                wire::encode_redirect(&url, &room, &ticket),
                close_code::WRONG_NODE,
                reason,
            )
        }
        Decision::Refuse {
            code,
            error_code,
            reason,
        } => {
            tracing::info!(code, %reason, "connection refused");
            (wire::encode_error(error_code, &reason), code, reason)
        }
    };
    ws.set_auto_close(false);
    let _ = ws
        .write_frame(Frame::binary(Payload::Borrowed(&message)))
        .await;
    let reason = wire::truncate_utf8(&reason, 123);
    let _ = ws.write_frame(Frame::close(code, reason.as_bytes())).await;
    // Read (and ignore) until the peer answers the close: a socket closed
    // with unread input is reset, and a reset peer may never see the code.
    let _ = tokio::time::timeout(LINGER, async {
        while let Ok(frame) = ws.read_frame().await {
            if frame.opcode == OpCode::Close {
                break;
            }
        }
    })
    .await;
}
