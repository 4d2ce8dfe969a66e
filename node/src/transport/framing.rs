//! Frames on QUIC streams: a `u32` little-endian length, then that many bytes.
//!
//! A reader names its bound; a length over it is refused as soon as the 4 length bytes
//! arrive, before anything is allocated for the body, and the body's buffer grows
//! only as its bytes arrive (a peer cannot make the reader reserve memory by claiming a
//! length it never sends).

use quinn::{Connection, ReadExactError, RecvStream, SendStream};

use super::TransportError;

/// Bytes of a frame's length prefix.
const LENGTH_BYTES: usize = 4;

/// Writes one frame: the length of `bytes` (`u32`, little-endian), then `bytes`.
pub async fn write_frame(send: &mut SendStream, bytes: &[u8]) -> Result<(), TransportError> {
    let len = u32::try_from(bytes.len()).map_err(|_| TransportError::FrameTooLarge {
        len: bytes.len() as u64,
        max: u64::from(u32::MAX),
    })?;
    send.write_all(&len.to_le_bytes()).await?;
    send.write_all(bytes).await?;
    Ok(())
}

/// Reads one frame of at most `max` bytes. `None` when the peer finished the stream
/// cleanly before a new frame; an error when the frame is over `max` (before reading
/// its bytes) or the stream ends inside it.
///
/// On [`TransportError::FrameTooLarge`] the rest of the stream is unread; the caller
/// answers or stops the stream.
pub async fn read_frame(
    recv: &mut RecvStream,
    max: usize,
) -> Result<Option<Vec<u8>>, TransportError> {
    match read_length(recv, max).await? {
        Some(len) => read_body(recv, len).await.map(Some),
        None => Ok(None),
    }
}

/// Reads a frame's length prefix: `None` when the peer finished the stream cleanly
/// before it, an error when the length is over `max`. A reader that must make room
/// for the body first (a byte budget) reads the length with this, then the body with
/// [`read_body`].
pub async fn read_length(
    recv: &mut RecvStream,
    max: usize,
) -> Result<Option<usize>, TransportError> {
    let mut prefix = [0u8; LENGTH_BYTES];
    match recv.read_exact(&mut prefix).await {
        Ok(()) => {}
        Err(ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(ReadExactError::FinishedEarly(received)) => {
            return Err(TransportError::TruncatedLength { received });
        }
        Err(ReadExactError::ReadError(error)) => return Err(error.into()),
    }
    let claimed = u32::from_le_bytes(prefix);
    usize::try_from(claimed)
        .ok()
        .filter(|len| *len <= max)
        .map(Some)
        .ok_or(TransportError::FrameTooLarge {
            len: u64::from(claimed),
            max: max as u64,
        })
}

/// Reads a frame's body of `len` bytes (after [`read_length`]); the buffer grows only
/// as bytes arrive.
pub async fn read_body(recv: &mut RecvStream, len: usize) -> Result<Vec<u8>, TransportError> {
    let mut body = Vec::new();
    while body.len() < len {
        let Some(chunk) = recv.read_chunk(len - body.len(), true).await? else {
            return Err(TransportError::TruncatedFrame {
                expected: len,
                received: body.len(),
            });
        };
        reserve_within(&mut body, chunk.bytes.len(), len);
        body.extend_from_slice(&chunk.bytes);
    }
    Ok(body)
}

/// Sends one request on a new bidirectional stream of `connection` and reads the one
/// response frame (at most `max` bytes): open, write the frame, finish, read.
pub async fn request(
    connection: &Connection,
    body: &[u8],
    max: usize,
) -> Result<Vec<u8>, TransportError> {
    let (mut send, mut recv) = connection.open_bi().await?;
    write_frame(&mut send, body).await?;
    send.finish()?;
    read_frame(&mut recv, max)
        .await?
        .ok_or(TransportError::NoResponse)
}

/// Makes room in `body` for `incoming` more bytes, doubling as a `Vec` does but never
/// past the frame's length `len`.
fn reserve_within(body: &mut Vec<u8>, incoming: usize, len: usize) {
    let needed = body.len() + incoming;
    if needed > body.capacity() {
        let target = (body.capacity() * 2).clamp(needed, len.max(needed));
        body.reserve_exact(target - body.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_never_grows_past_the_frame() {
        let len = 10_000;
        let mut body = Vec::new();
        for incoming in [1, 1, 3, 100, 1000, 4000, 4895] {
            reserve_within(&mut body, incoming, len);
            body.extend(std::iter::repeat_n(0u8, incoming));
            assert!(body.capacity() <= len, "{} > {len}", body.capacity());
        }
        assert_eq!(body.len(), len);
    }
}
