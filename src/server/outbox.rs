//! One connection's outbound side: a queue bounded in bytes that any task may push
//! frames into without waiting, and the writer task that drains it. Pushing never
//! blocks, so a room can fan out while holding its lock; a client whose queue
//! overflows is cut off ("slow consumer") instead of slowing anyone else down.

use std::collections::VecDeque;
use std::io;
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::protocol::frames::Frame;

/// Why an outbox stopped accepting frames on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The queue overflowed, or a write did not complete within the write timeout.
    SlowConsumer,
    /// The peer is gone: a write failed.
    WriteFailed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    /// Overflowed or the writer failed: nothing more is accepted but a last frame.
    Failed(Failure),
    /// The last frame is queued; the writer ends once the queue is empty.
    Closing,
}

#[derive(Debug)]
struct State {
    frames: VecDeque<Frame>,
    bytes: usize,
    phase: Phase,
}

/// A bounded outbound frame queue.
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<State>,
    capacity: usize,
    wake: Notify,
    failed: CancellationToken,
}

impl Outbox {
    /// A queue holding at most `capacity` bytes of frames (newlines counted).
    pub fn new(capacity: usize) -> Self {
        Outbox {
            state: Mutex::new(State {
                frames: VecDeque::new(),
                bytes: 0,
                phase: Phase::Open,
            }),
            capacity,
            wake: Notify::new(),
            failed: CancellationToken::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere must not take every sender down with this queue.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues a frame without waiting. Returns false if the frame was not queued:
    /// the connection is closing, or this frame overflowed the queue (which marks
    /// the connection as a slow consumer).
    pub fn push(&self, frame: &Frame) -> bool {
        let mut state = self.lock();
        if state.phase != Phase::Open {
            return false;
        }
        let size = frame.get().len() + 1;
        if state.bytes + size > self.capacity {
            // The client will be disconnected; what it has not read yet is moot.
            state.frames.clear();
            state.bytes = 0;
            state.phase = Phase::Failed(Failure::SlowConsumer);
            drop(state);
            self.failed.cancel();
            self.wake.notify_one();
            return false;
        }
        state.frames.push_back(frame.clone());
        state.bytes += size;
        drop(state);
        self.wake.notify_one();
        true
    }

    /// Queues `last` after everything pending (ignoring the bound: it is the one
    /// frame that says goodbye) and accepts nothing more.
    pub fn close_with(&self, last: Frame) {
        let mut state = self.lock();
        if state.phase != Phase::Closing {
            state.bytes += last.get().len() + 1;
            state.frames.push_back(last);
            state.phase = Phase::Closing;
        }
        drop(state);
        self.wake.notify_one();
    }

    /// Accepts nothing more; the writer ends once the queue is empty.
    pub fn close(&self) {
        self.lock().phase = Phase::Closing;
        self.wake.notify_one();
    }

    /// Resolves once the queue overflowed or the writer failed.
    pub async fn failed(&self) -> Failure {
        self.failed.cancelled().await;
        match self.lock().phase {
            Phase::Failed(failure) => failure,
            // Closed after failing: the failure was already reported to whoever closed it.
            Phase::Open | Phase::Closing => Failure::SlowConsumer,
        }
    }

    fn fail(&self, failure: Failure) {
        let mut state = self.lock();
        state.frames.clear();
        state.bytes = 0;
        if state.phase == Phase::Open {
            state.phase = Phase::Failed(failure);
        }
        drop(state);
        self.failed.cancel();
    }

    /// Moves everything queued into `batch`; false once the outbox is closed and empty.
    async fn next_batch(&self, batch: &mut Vec<Frame>) -> bool {
        loop {
            {
                let mut state = self.lock();
                if !state.frames.is_empty() {
                    batch.extend(state.frames.drain(..));
                    state.bytes = 0;
                    return true;
                }
                if state.phase == Phase::Closing {
                    return false;
                }
            }
            self.wake.notified().await;
        }
    }
}

/// Largest write buffer kept between batches; a burst beyond it is freed after.
const KEEP_BUFFER_BYTES: usize = 64 * 1024;

/// Drains `outbox` into `sink` until the outbox is closed, writing all pending
/// frames at once so a busy room costs few TLS records and syscalls. Each write
/// must finish within `write_timeout`. Ends by shutting the stream down (TLS
/// close_notify, then FIN).
pub async fn drain<W>(outbox: &Outbox, mut sink: W, write_timeout: Duration) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    let mut batch = Vec::new();
    // Grown on first use: an idle connection holds no write buffer.
    let mut buffer = Vec::new();
    while outbox.next_batch(&mut batch).await {
        buffer.clear();
        for frame in batch.drain(..) {
            buffer.extend_from_slice(frame.get().as_bytes());
            buffer.push(b'\n');
        }
        let write = async {
            sink.write_all(&buffer).await?;
            sink.flush().await
        };
        match tokio::time::timeout(write_timeout, write).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                outbox.fail(Failure::WriteFailed);
                return Err(e);
            }
            Err(_) => {
                outbox.fail(Failure::SlowConsumer);
                return Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out"));
            }
        }
        if buffer.capacity() > KEEP_BUFFER_BYTES {
            buffer = Vec::new();
        }
    }
    tokio::time::timeout(write_timeout, sink.shutdown())
        .await
        .unwrap_or_else(|_| {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "shutdown timed out",
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frames::{encode, Event};

    fn frame(text: &str) -> Frame {
        encode(&Event::Bye {
            reason: text.to_owned(),
        })
    }

    #[tokio::test]
    async fn drains_in_order_then_closes() {
        let outbox = Outbox::new(1024);
        assert!(outbox.push(&frame("a")));
        assert!(outbox.push(&frame("b")));
        outbox.close_with(frame("c"));
        assert!(!outbox.push(&frame("late")));
        let mut sink = Vec::new();
        drain(&outbox, &mut sink, Duration::from_secs(1))
            .await
            .unwrap();
        let text = String::from_utf8(sink).unwrap();
        assert_eq!(
            text,
            "{\"type\":\"bye\",\"reason\":\"a\"}\n{\"type\":\"bye\",\"reason\":\"b\"}\n{\"type\":\"bye\",\"reason\":\"c\"}\n"
        );
    }

    #[tokio::test]
    async fn overflow_marks_a_slow_consumer_and_keeps_the_last_frame_possible() {
        let one = frame("x");
        let size = one.get().len() + 1;
        let outbox = Outbox::new(size * 2);
        assert!(outbox.push(&one));
        assert!(outbox.push(&one));
        assert!(!outbox.push(&one), "the third frame does not fit");
        assert_eq!(outbox.failed().await, Failure::SlowConsumer);
        assert!(!outbox.push(&one), "nothing more is accepted");
        outbox.close_with(frame("slow consumer"));
        let mut sink = Vec::new();
        drain(&outbox, &mut sink, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(
            String::from_utf8(sink).unwrap(),
            "{\"type\":\"bye\",\"reason\":\"slow consumer\"}\n"
        );
    }
}
