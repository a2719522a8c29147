//! A spectator's way into a room: a spectator's place from the lobby (no
//! seat: a full room still admits it) and the room's welcome. From the
//! welcome on, a spectator's connection is a player's, but for what its
//! reader accepts (see `reader.rs`) and that the game never hears of it.

use std::sync::Arc;

use bytes::Bytes;
use fastwebsockets::WebSocket;
use tickwire_protocol::WatchTarget;
use tokio::sync::oneshot;

use super::Stream;
use super::close::Refusal;
use crate::Shared;
use crate::lobby::Seat;
use crate::room::{Member, PlayerLink, RoomCommand, SpectatorCommand};

/// Takes a spectator's place in the room and joins it, watching `target`.
/// A refusal is sent (error message and close) and gives `None`.
pub(super) async fn enter(
    ws: &mut WebSocket<Stream>,
    shared: &Shared,
    room: Option<&str>,
    name: String,
    identity: Option<String>,
    target: WatchTarget,
) -> Option<(Seat, Arc<PlayerLink>, Member, Bytes)> {
    let seat = match shared.lobby.watch(room) {
        Ok(seat) => seat,
        Err(error) => {
            Refusal::seat(&error).send(ws).await;
            return None;
        }
    };
    let link = Arc::new(PlayerLink::new(name).with_identity(identity));
    let (reply, replied) = oneshot::channel();
    let command = SpectatorCommand::Join {
        link: Arc::clone(&link),
        target,
        reply,
    };
    let watching = match seat.commands.send(RoomCommand::Spectator(command)).await {
        Ok(()) => replied.await.ok().flatten(),
        Err(_) => None,
    };
    match watching {
        Some(watching) => Some((seat, link, Member::Spectator(watching.id), watching.welcome)),
        None => {
            Refusal::room_unavailable().send(ws).await;
            None
        }
    }
}
