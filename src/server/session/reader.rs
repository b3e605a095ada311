//! A connection's inbound lines, read without keeping a buffer while the
//! connection is idle. Bytes are read into a chunk on the stack for the length
//! of one poll and only what arrived is copied to the heap; once every complete
//! line is taken, the heap buffer is let go. An idle connection (most of them,
//! most of the time) then holds no read buffer at all, where a codec's framed
//! reader would hold its whole capacity for the connection's life.

use std::future::poll_fn;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::BytesMut;
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::codec::Decoder;

use crate::protocol::codec::{Line, LineCodec};

/// The most read from the stream in one poll. It lives on the stack only
/// while the poll runs, never in the connection's task.
const READ_CHUNK_BYTES: usize = 4096;

/// Lines from one stream, split by [`LineCodec`].
pub(super) struct LineReader<R> {
    stream: R,
    codec: LineCodec,
    /// Bytes read and not yet taken as lines; no allocation when empty.
    buffer: BytesMut,
    /// The stream ended: what is left is the last line, if anything.
    ended: bool,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    pub(super) fn new(stream: R, codec: LineCodec) -> Self {
        LineReader {
            stream,
            codec,
            buffer: BytesMut::new(),
            ended: false,
        }
    }

    /// The next line; `None` once the stream ended and every line was taken.
    /// Cancel-safe: what a cancelled call read stays in the buffer.
    pub(super) async fn next(&mut self) -> Option<io::Result<Line>> {
        loop {
            if self.ended {
                return self.codec.decode_eof(&mut self.buffer).transpose();
            }
            if !self.buffer.is_empty() {
                match self.codec.decode(&mut self.buffer) {
                    Ok(Some(line)) => {
                        self.let_go_when_empty();
                        return Some(Ok(line));
                    }
                    Ok(None) => self.let_go_when_empty(),
                    Err(e) => return Some(Err(e)),
                }
            }
            match poll_fn(|cx| self.poll_read_chunk(cx)).await {
                Ok(0) => self.ended = true,
                Ok(_) => {}
                Err(e) => return Some(Err(e)),
            }
        }
    }

    /// Reads what the stream has (at most one chunk) onto the buffer.
    fn poll_read_chunk(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK_BYTES];
        let mut read = ReadBuf::uninit(&mut chunk);
        ready!(Pin::new(&mut self.stream).poll_read(cx, &mut read))?;
        self.buffer.extend_from_slice(read.filled());
        Poll::Ready(Ok(read.filled().len()))
    }

    /// Frees the buffer once nothing is left in it (the codec may have
    /// discarded an over-long line's bytes, or every line was taken). A line
    /// handed out shares the allocation until it is dropped.
    fn let_go_when_empty(&mut self) {
        if self.buffer.is_empty() && self.buffer.capacity() > 0 {
            self.buffer = BytesMut::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(line: Line) -> String {
        match line {
            Line::Text(bytes) => String::from_utf8(bytes.to_vec()).unwrap(),
            Line::TooLong => "<too long>".to_owned(),
        }
    }

    #[tokio::test]
    async fn lines_across_reads_then_the_last_line_without_its_newline() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut reader = LineReader::new(server, LineCodec::new(1024));
        use tokio::io::AsyncWriteExt;
        client.write_all(b"one\ntw").await.unwrap();
        assert_eq!(text(reader.next().await.unwrap().unwrap()), "one");
        client.write_all(b"o\r\nthree").await.unwrap();
        assert_eq!(text(reader.next().await.unwrap().unwrap()), "two");
        drop(client);
        assert_eq!(text(reader.next().await.unwrap().unwrap()), "three");
        assert!(reader.next().await.is_none());
    }

    #[tokio::test]
    async fn holds_no_buffer_once_every_line_is_taken() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut reader = LineReader::new(server, LineCodec::new(1024));
        use tokio::io::AsyncWriteExt;
        client.write_all(b"hello\n").await.unwrap();
        assert_eq!(text(reader.next().await.unwrap().unwrap()), "hello");
        assert_eq!(reader.buffer.capacity(), 0);
    }

    #[tokio::test]
    async fn an_over_long_line_is_reported_once_and_the_next_one_read() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut reader = LineReader::new(server, LineCodec::new(10));
        use tokio::io::AsyncWriteExt;
        let long = vec![b'x'; 10_000];
        client.write_all(&long).await.unwrap();
        client.write_all(b"\nok\n").await.unwrap();
        assert_eq!(text(reader.next().await.unwrap().unwrap()), "<too long>");
        assert_eq!(text(reader.next().await.unwrap().unwrap()), "ok");
    }
}
