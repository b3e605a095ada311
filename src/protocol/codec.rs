//! The line codec: splits inbound bytes into lines of at most `max_line_bytes`
//! (excluding the `\n` or `\r\n`). An over-long line is reported once, as soon as it
//! is known to be too long, and the rest of it is discarded up to the next `\n`, so
//! a peer can never make the server buffer more than one line's worth of input.
//! Unlike tokio-util's `LinesCodec`, neither an over-long line nor invalid UTF-8 is a
//! stream error: both are answered and the connection goes on.

use bytes::BytesMut;
use tokio_util::codec::Decoder;

/// One inbound line.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A complete line without its terminator (bytes, not yet checked as UTF-8).
    Text(BytesMut),
    /// A line longer than the limit; its bytes are being discarded.
    TooLong,
}

/// Decoder for `\n`-terminated lines with a length bound.
#[derive(Debug)]
pub struct LineCodec {
    max_line_bytes: usize,
    /// Bytes already searched for `\n`, so a slowly arriving line is scanned once.
    scanned: usize,
    /// Inside an over-long line that was already reported.
    discarding: bool,
}

impl LineCodec {
    pub fn new(max_line_bytes: usize) -> Self {
        LineCodec {
            max_line_bytes,
            scanned: 0,
            discarding: false,
        }
    }

    fn finish_line(&self, mut line: BytesMut) -> Line {
        if line.last() == Some(&b'\r') {
            line.truncate(line.len() - 1);
        }
        if line.len() > self.max_line_bytes {
            Line::TooLong
        } else {
            Line::Text(line)
        }
    }
}

impl Decoder for LineCodec {
    type Item = Line;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Line>, Self::Error> {
        loop {
            let newline = buf[self.scanned..].iter().position(|&b| b == b'\n');
            let Some(offset) = newline else {
                if self.discarding {
                    buf.clear();
                    self.scanned = 0;
                    return Ok(None);
                }
                // Longer than the limit plus a possible trailing '\r': too long
                // whatever comes next, so answer now instead of buffering on.
                if buf.len() > self.max_line_bytes + 1 {
                    buf.clear();
                    self.scanned = 0;
                    self.discarding = true;
                    return Ok(Some(Line::TooLong));
                }
                self.scanned = buf.len();
                return Ok(None);
            };
            let end = self.scanned + offset;
            let mut line = buf.split_to(end + 1);
            line.truncate(end);
            self.scanned = 0;
            if self.discarding {
                // The tail of a line that was already answered with line_too_long.
                self.discarding = false;
                continue;
            }
            return Ok(Some(self.finish_line(line)));
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Line>, Self::Error> {
        if let Some(line) = self.decode(buf)? {
            return Ok(Some(line));
        }
        // A last line without its newline (a netcat user pressing Ctrl-D) still counts.
        if buf.is_empty() || self.discarding {
            buf.clear();
            return Ok(None);
        }
        self.scanned = 0;
        let line = buf.split();
        Ok(Some(self.finish_line(line)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut LineCodec, input: &[u8]) -> Vec<Line> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(line) = codec.decode(&mut buf).unwrap() {
            out.push(line);
        }
        while let Some(line) = codec.decode_eof(&mut buf).unwrap() {
            out.push(line);
        }
        out
    }

    fn text(s: &str) -> Line {
        Line::Text(BytesMut::from(s.as_bytes()))
    }

    #[test]
    fn splits_lines_and_strips_crlf() {
        let lines = decode_all(&mut LineCodec::new(100), b"one\ntwo\r\n\nlast");
        assert_eq!(
            lines,
            vec![text("one"), text("two"), text(""), text("last")]
        );
    }

    #[test]
    fn limit_excludes_the_terminator() {
        let lines = decode_all(&mut LineCodec::new(4), b"abcd\r\nabcd\nabcde\nok\n");
        assert_eq!(
            lines,
            vec![text("abcd"), text("abcd"), Line::TooLong, text("ok")]
        );
    }

    #[test]
    fn over_long_line_is_reported_once_and_discarded_across_reads() {
        let mut codec = LineCodec::new(4);
        let mut buf = BytesMut::from(&b"abcdefgh"[..]);
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(Line::TooLong));
        assert!(buf.is_empty(), "the over-long prefix is not kept");
        buf.extend_from_slice(b"ijklmnop");
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"qr\nnext\n");
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(text("next")));
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
    }

    #[test]
    fn random_chunks_never_yield_an_over_long_line_or_grow_the_buffer() {
        let max = 16;
        let mut codec = LineCodec::new(max);
        let mut buf = BytesMut::new();
        let mut state: u32 = 0x1234_5678;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        let (mut lines, mut too_long) = (0, 0);
        for _ in 0..5_000 {
            let chunk_len = next() % 40;
            for _ in 0..chunk_len {
                // Newlines often enough that short lines occur, rarely enough
                // that over-long ones do too.
                let byte = match next() % 24 {
                    0 => b'\n',
                    1 => b'\r',
                    _ => b'a' + (next() % 26) as u8,
                };
                buf.extend_from_slice(&[byte]);
            }
            while let Some(line) = codec.decode(&mut buf).unwrap() {
                match line {
                    Line::Text(text) => {
                        assert!(text.len() <= max, "{} bytes", text.len());
                        assert!(!text.contains(&b'\n'));
                        lines += 1;
                    }
                    Line::TooLong => too_long += 1,
                }
            }
            assert!(buf.len() <= max + 1, "buffered {} bytes", buf.len());
        }
        assert!(
            lines > 1000 && too_long > 100,
            "{lines} lines, {too_long} too long"
        );
    }

    #[test]
    fn waits_for_the_rest_of_a_line() {
        let mut codec = LineCodec::new(10);
        let mut buf = BytesMut::from(&b"hel"[..]);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"lo\n");
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(text("hello")));
    }
}
