//! One connection's outbound side: a queue bounded in bytes, and the writer task
//! that drains it. Two bounds and a grace time keep a reader that keeps reading
//! connected while nobody waits long for one that does not:
//!
//! - beyond the **soft** bound (`outbound_queue_bytes`) producers that can wait
//!   (a room's next batch, a private message or typing notice, the client's own
//!   next request) wait for the queue to drain ([`Outbox::drained`]); those that
//!   cannot (a fan-out under a room's lock, a response) push anyway;
//! - the **hard** bound (`outbound_queue_max_bytes`) is never exceeded: a push
//!   beyond it cuts the client off ("slow consumer");
//! - producers wait at most the **grace** time (`drain_grace`) for one client,
//!   counted from when its queue went over soft; a client that used it up is
//!   *lagging*: nobody waits for it any more until it has drained everything
//!   (queue empty, writer idle), and it is cut if it reaches the hard bound.
//!
//! [`Outbox::push`] never waits, so a room can fan out while holding its lock.

use std::collections::VecDeque;
use std::io;
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::Limits;
use crate::protocol::frames::Frame;

/// Why an outbox stopped accepting frames on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The queue reached its hard bound, or a write did not complete within the
    /// write timeout.
    SlowConsumer,
    /// The peer is gone: a write failed.
    WriteFailed,
    /// The server ended the connection (a server operator's `kill`, a
    /// suspended account): see [`Outbox::end_with`].
    Ended,
}

/// The bounds of one connection's outbound queue, fixed when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Beyond this many queued bytes, producers that can wait do.
    pub soft: usize,
    /// A push that would queue more than this many bytes cuts the client off.
    pub hard: usize,
    /// The longest time producers wait for the queue to drain below `soft`.
    pub grace: Duration,
}

impl Bounds {
    /// The bounds the `[limits]` table sets.
    pub fn from_limits(limits: &Limits) -> Bounds {
        Bounds {
            soft: limits.outbound_queue_bytes,
            hard: limits.outbound_queue_max_bytes,
            grace: limits.drain_grace,
        }
    }
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
    /// When the queue last went over the soft bound; `None` while it is not.
    over_soft_since: Option<Instant>,
    /// Made its producers wait the whole grace time: nobody waits for it until
    /// it has drained everything.
    lagging: bool,
    /// Why the server ended the connection, if it did.
    ended: Option<Box<str>>,
}

impl State {
    /// Whether a producer that can wait should, before adding more.
    fn congested(&self, soft: usize) -> bool {
        self.phase == Phase::Open && !self.lagging && self.bytes > soft
    }
}

/// A bounded outbound frame queue.
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<State>,
    bounds: Bounds,
    /// Wakes the writer: a frame was queued, or the outbox closed.
    wake: Notify,
    /// Wakes the producers waiting in [`Outbox::drained`].
    drained: Notify,
    failed: CancellationToken,
}

impl Outbox {
    /// A queue with the given bounds (frames counted with their newline).
    pub fn new(bounds: Bounds) -> Self {
        Outbox {
            state: Mutex::new(State {
                frames: VecDeque::new(),
                bytes: 0,
                phase: Phase::Open,
                over_soft_since: None,
                lagging: false,
                ended: None,
            }),
            bounds,
            wake: Notify::new(),
            drained: Notify::new(),
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
    /// the connection is closing, or this frame would take the queue beyond its
    /// hard bound (which marks the connection as a slow consumer).
    pub fn push(&self, frame: &Frame) -> bool {
        let mut state = self.lock();
        if state.phase != Phase::Open {
            return false;
        }
        let size = frame.get().len() + 1;
        if state.bytes + size > self.bounds.hard {
            // The client will be disconnected; what it has not read yet is moot.
            state.frames.clear();
            state.bytes = 0;
            state.phase = Phase::Failed(Failure::SlowConsumer);
            drop(state);
            self.failed.cancel();
            self.wake.notify_one();
            self.drained.notify_waiters();
            return false;
        }
        state.frames.push_back(frame.clone());
        state.bytes += size;
        if state.bytes > self.bounds.soft && state.over_soft_since.is_none() {
            state.over_soft_since = Some(Instant::now());
        }
        drop(state);
        self.wake.notify_one();
        true
    }

    /// Whether producers that can wait should wait for this client before
    /// adding more: its queue is over the soft bound and it is not lagging.
    pub fn is_congested(&self) -> bool {
        self.lock().congested(self.bounds.soft)
    }

    /// Waits until producers may add more without waiting: the queue is at or
    /// below the soft bound, the client is lagging, or the connection ends.
    /// Waits at most the grace time counted from when the queue went over the
    /// soft bound, so several producers waiting for the same client wait for
    /// the same deadline; when it passes, the client becomes lagging.
    pub async fn drained(&self) {
        loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            // Registered before the check, so a wake-up in between is not lost.
            notified.as_mut().enable();
            let deadline = {
                let state = self.lock();
                if !state.congested(self.bounds.soft) {
                    return;
                }
                let since = state.over_soft_since.expect("over soft since");
                since + self.bounds.grace
            };
            if tokio::time::timeout_at(deadline, notified).await.is_ok() {
                continue;
            }
            let mut state = self.lock();
            let expired = state
                .over_soft_since
                .is_some_and(|since| since + self.bounds.grace <= Instant::now());
            if state.congested(self.bounds.soft) && expired {
                state.lagging = true;
                drop(state);
                self.drained.notify_waiters();
                return;
            }
        }
    }

    /// [`Outbox::drained`], then [`Outbox::push`]: for producers that can wait.
    pub async fn push_when_drained(&self, frame: &Frame) -> bool {
        self.drained().await;
        self.push(frame)
    }

    /// Queues `last` after everything pending (ignoring the bounds: it is the
    /// one frame that says goodbye) and accepts nothing more.
    pub fn close_with(&self, last: Frame) {
        let mut state = self.lock();
        if state.phase != Phase::Closing {
            state.bytes += last.get().len() + 1;
            state.frames.push_back(last);
            state.phase = Phase::Closing;
        }
        drop(state);
        self.wake.notify_one();
        self.drained.notify_waiters();
    }

    /// Ends the connection from outside its session: `last` (its `bye`) is
    /// queued after everything pending, and the session, woken through
    /// [`Outbox::failed`] with [`Failure::Ended`], tells its rooms `why`.
    pub fn end_with(&self, last: Frame, why: String) {
        {
            let mut state = self.lock();
            if state.phase != Phase::Open {
                return;
            }
            state.ended = Some(why.into_boxed_str());
        }
        self.close_with(last);
        self.failed.cancel();
    }

    /// Why the server ended the connection ([`Outbox::end_with`]), if it did.
    pub fn end_reason(&self) -> Option<String> {
        self.lock().ended.as_deref().map(str::to_owned)
    }

    /// Accepts nothing more; the writer ends once the queue is empty.
    pub fn close(&self) {
        self.lock().phase = Phase::Closing;
        self.wake.notify_one();
        self.drained.notify_waiters();
    }

    /// Resolves once the queue overflowed or the writer failed.
    pub async fn failed(&self) -> Failure {
        self.failed.cancelled().await;
        let state = self.lock();
        match state.phase {
            Phase::Failed(failure) => failure,
            Phase::Closing if state.ended.is_some() => Failure::Ended,
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
        self.drained.notify_waiters();
    }

    /// Waits until frames are queued; false once the outbox is closed and
    /// empty. The writer calls it once it has written the previous batch.
    async fn ready(&self) -> bool {
        loop {
            {
                let mut state = self.lock();
                if !state.frames.is_empty() {
                    return true;
                }
                // Everything queued is written and the writer is idle: the
                // client caught up, so producers may wait for it again.
                state.lagging = false;
                if state.phase == Phase::Closing {
                    return false;
                }
            }
            self.wake.notified().await;
        }
    }

    /// Takes everything queued. The queue's own storage goes with it, so an
    /// idle connection keeps none.
    fn take(&self) -> VecDeque<Frame> {
        let mut state = self.lock();
        let frames = std::mem::take(&mut state.frames);
        let was_over = state.bytes > self.bounds.soft;
        state.bytes = 0;
        state.over_soft_since = None;
        drop(state);
        if was_over {
            self.drained.notify_waiters();
        }
        frames
    }
}

/// How the writer paces its writes, fixed when the connection starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// Time one write may take before the client counts as a slow consumer.
    pub write_timeout: Duration,
    /// After a write, frames queued within this time wait for its end and go
    /// out together in the next write (`write_coalesce`); zero writes at once.
    pub coalesce: Duration,
}

impl Pacing {
    /// The pacing the `[limits]` table sets.
    pub fn from_limits(limits: &Limits) -> Pacing {
        Pacing {
            write_timeout: limits.write_timeout,
            coalesce: limits.write_coalesce,
        }
    }
}

/// Drains `outbox` into `sink` until the outbox is closed, writing all pending
/// frames at once so a busy room costs few TLS records and syscalls. A frame
/// queued when nothing was written for `pacing.coalesce` goes out at once; one
/// queued sooner after a write waits until that much time has passed since it,
/// and goes out with whatever else came meanwhile: a member of a busy room gets
/// one write per interval instead of one per message, which is most of what a
/// delivery costs (the send, and waking the reader at the other end). Each write
/// must finish within `pacing.write_timeout`. Ends by shutting the stream down
/// (TLS close_notify, then FIN).
pub async fn drain<W>(outbox: &Outbox, mut sink: W, pacing: Pacing) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    // Made for each write and dropped after it: an idle connection holds no
    // write buffer, and a burst's large one does not outlive it.
    let mut last_write: Option<Instant> = None;
    while outbox.ready().await {
        if let Some(written) = last_write {
            let next = written + pacing.coalesce;
            if next > Instant::now() {
                tokio::time::sleep_until(next).await;
            }
        }
        let frames = outbox.take();
        let size = frames.iter().map(|frame| frame.get().len() + 1).sum();
        let mut buffer = Vec::with_capacity(size);
        for frame in frames {
            buffer.extend_from_slice(frame.get().as_bytes());
            buffer.push(b'\n');
        }
        let write = async {
            sink.write_all(&buffer).await?;
            sink.flush().await
        };
        match tokio::time::timeout(pacing.write_timeout, write).await {
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
        last_write = (!pacing.coalesce.is_zero()).then(Instant::now);
    }
    tokio::time::timeout(pacing.write_timeout, sink.shutdown())
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
    use std::sync::Arc;

    fn frame(text: &str) -> Frame {
        encode(&Event::Bye {
            reason: text.to_owned(),
        })
    }

    /// Bytes `frame("x")` takes in a queue.
    fn size() -> usize {
        frame("x").get().len() + 1
    }

    /// An outbox whose soft bound holds `soft` frames of [`frame`]`("x")` and
    /// whose hard bound holds `hard`.
    fn outbox(soft: usize, hard: usize) -> Outbox {
        Outbox::new(Bounds {
            soft: soft * size(),
            hard: hard * size(),
            grace: Duration::from_secs(2),
        })
    }

    /// Lets the writer take what is queued, as if it wrote it out; true when
    /// it found something.
    async fn take(outbox: &Outbox) -> bool {
        let ready = tokio::time::timeout(Duration::from_millis(10), outbox.ready()).await;
        if ready == Ok(true) {
            outbox.take();
        }
        ready.is_ok()
    }

    /// Writes at once, as the tests of the queue's bounds expect.
    const AT_ONCE: Pacing = Pacing {
        write_timeout: Duration::from_secs(1),
        coalesce: Duration::ZERO,
    };

    /// A sink that keeps each write apart, with when it was made.
    #[derive(Default)]
    struct Writes(Vec<(Instant, String)>);

    impl AsyncWrite for Writes {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<io::Result<usize>> {
            let text = String::from_utf8(buf.to_vec()).expect("frames are text");
            self.0.push((Instant::now(), text));
            std::task::Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn frames_queued_soon_after_a_write_go_out_together_once_the_interval_passed() {
        let outbox = Arc::new(outbox(100, 200));
        let pacing = Pacing {
            write_timeout: Duration::from_secs(1),
            coalesce: Duration::from_millis(5),
        };
        let writer = tokio::spawn({
            let outbox = outbox.clone();
            async move {
                let mut writes = Writes::default();
                drain(&outbox, &mut writes, pacing).await.unwrap();
                writes.0
            }
        });
        let started = Instant::now();
        // The first frame after a quiet spell goes out at once.
        assert!(outbox.push(&frame("a")));
        tokio::time::sleep(Duration::from_millis(1)).await;
        // These come 1 and 2 ms after that write: they wait for its interval.
        assert!(outbox.push(&frame("b")));
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(outbox.push(&frame("c")));
        // Long after: at once again.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(outbox.push(&frame("d")));
        tokio::time::sleep(Duration::from_millis(1)).await;
        outbox.close();
        let writes = writer.await.unwrap();
        let shown: Vec<(Duration, usize)> = writes
            .iter()
            .map(|(at, text)| (*at - started, text.lines().count()))
            .collect();
        assert_eq!(
            shown,
            [
                (Duration::ZERO, 1),
                (Duration::from_millis(5), 2),
                (Duration::from_millis(52), 1),
            ]
        );
        let text: String = writes.into_iter().map(|(_, text)| text).collect();
        assert_eq!(
            text,
            [frame("a"), frame("b"), frame("c"), frame("d")]
                .iter()
                .map(|f| format!("{}\n", f.get()))
                .collect::<String>()
        );
    }

    #[tokio::test]
    async fn an_idle_writer_keeps_no_queue_storage() {
        let outbox = outbox(100, 200);
        assert!(outbox.push(&frame("a")));
        assert!(take(&outbox).await);
        assert_eq!(outbox.lock().frames.capacity(), 0);
    }

    #[tokio::test]
    async fn drains_in_order_then_closes() {
        let outbox = outbox(10, 20);
        assert!(outbox.push(&frame("a")));
        assert!(outbox.push(&frame("b")));
        outbox.close_with(frame("c"));
        assert!(!outbox.push(&frame("late")));
        let mut sink = Vec::new();
        drain(&outbox, &mut sink, AT_ONCE).await.unwrap();
        let text = String::from_utf8(sink).unwrap();
        assert_eq!(
            text,
            "{\"type\":\"bye\",\"reason\":\"a\"}\n{\"type\":\"bye\",\"reason\":\"b\"}\n{\"type\":\"bye\",\"reason\":\"c\"}\n"
        );
    }

    #[tokio::test]
    async fn beyond_the_hard_bound_is_a_slow_consumer_and_keeps_the_last_frame_possible() {
        let one = frame("x");
        let outbox = outbox(1, 3);
        for n in 0..3 {
            assert!(outbox.push(&one), "frame {n} fits under the hard bound");
        }
        assert!(!outbox.push(&one), "the fourth frame does not fit");
        assert_eq!(outbox.failed().await, Failure::SlowConsumer);
        assert!(!outbox.push(&one), "nothing more is accepted");
        outbox.close_with(frame("slow consumer"));
        let mut sink = Vec::new();
        drain(&outbox, &mut sink, AT_ONCE).await.unwrap();
        assert_eq!(
            String::from_utf8(sink).unwrap(),
            "{\"type\":\"bye\",\"reason\":\"slow consumer\"}\n"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn over_the_soft_bound_producers_wait_until_the_writer_takes_the_queue() {
        let outbox = Arc::new(outbox(2, 10));
        assert!(outbox.push(&frame("x")));
        assert!(outbox.push(&frame("x")));
        assert!(!outbox.is_congested(), "at the soft bound nobody waits");
        // Fan-outs push on beyond the soft bound; only producers that can wait do.
        assert!(outbox.push(&frame("x")));
        assert!(outbox.is_congested());
        let started = Instant::now();
        let waiter = tokio::spawn({
            let outbox = outbox.clone();
            async move { outbox.drained().await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(
            !waiter.is_finished(),
            "the producer waits while nobody drains"
        );
        assert!(take(&outbox).await);
        waiter.await.unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "no grace used up"
        );
        assert!(!outbox.is_congested());
        assert!(!outbox.lock().lagging);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_does_not_drain_within_the_grace_time_lags_until_it_caught_up() {
        let outbox = Arc::new(outbox(1, 10));
        assert!(outbox.push(&frame("x")));
        assert!(outbox.push(&frame("x")));
        let started = Instant::now();
        // Two producers waiting for the same client share one deadline.
        let (first, second) = tokio::join!(outbox.drained(), outbox.drained());
        let ((), ()) = (first, second);
        assert_eq!(started.elapsed(), Duration::from_secs(2), "the grace time");
        assert!(outbox.lock().lagging);
        assert!(!outbox.is_congested(), "nobody waits for a lagging client");
        let waited = Instant::now();
        assert!(outbox.push_when_drained(&frame("x")).await);
        assert_eq!(waited.elapsed(), Duration::ZERO);
        // Lagging, it still gets frames up to the hard bound, and is cut beyond.
        for _ in 3..10 {
            assert!(outbox.push(&frame("x")));
        }
        assert!(!outbox.push(&frame("x")));
        assert_eq!(outbox.failed().await, Failure::SlowConsumer);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lagging_client_is_waited_for_again_once_its_queue_and_writer_are_empty() {
        let outbox = outbox(1, 10);
        assert!(outbox.push(&frame("x")));
        assert!(outbox.push(&frame("x")));
        outbox.drained().await;
        assert!(outbox.lock().lagging);
        // The writer takes the queue: still lagging while it writes that batch.
        assert!(take(&outbox).await);
        assert!(outbox.lock().lagging);
        assert!(outbox.push(&frame("x")));
        assert!(outbox.push(&frame("x")));
        assert!(!outbox.is_congested());
        // It wrote that batch, takes the next, then finds nothing: caught up.
        assert!(take(&outbox).await);
        assert!(!take(&outbox).await);
        assert!(!outbox.lock().lagging);
        assert!(outbox.push(&frame("x")));
        assert!(outbox.push(&frame("x")));
        assert!(
            outbox.is_congested(),
            "over soft again: producers wait again"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_producers_are_let_go_when_the_connection_ends() {
        let outbox = Arc::new(outbox(1, 10));
        assert!(outbox.push(&frame("x")));
        assert!(outbox.push(&frame("x")));
        let waiter = tokio::spawn({
            let outbox = outbox.clone();
            async move { outbox.push_when_drained(&frame("late")).await }
        });
        tokio::task::yield_now().await;
        outbox.close_with(frame("bye"));
        assert!(
            !waiter.await.unwrap(),
            "nothing is queued after the last frame"
        );
        assert!(!outbox.lock().lagging);
    }
}
