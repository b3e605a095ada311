//! The full-screen interface (ratatui over crossterm): a face of the core.
//! The conversation reports updates into the shared buffers (`TuiFace`), and
//! the interface's loop draws them and turns keys into input.
//!
//! - `app`: the interface's own state and what each key does
//! - `draw`: the layout and every row of it
//! - `editor`: the input line; `complete`: Tab completion
//! - `text`: text that cannot fake the screen (marks, wrapping, folding,
//!   nick colours, mentions)
//! - `screen`: taking the terminal over and giving it back

pub mod app;
pub mod complete;
pub mod draw;
pub mod editor;
mod screen;
pub mod text;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crossterm::event::{Event as TermEvent, EventStream};
use futures_util::StreamExt;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, Notify};
use tokio::time::{interval, Instant, MissedTickBehavior};

use crate::client::core::buffers::Buffers;
use crate::client::core::update::{Face, Update};
use crate::client::input::{InputEvent, INPUT_QUEUE};

use app::App;
use draw::{View, Zone};

/// Redraws at least this often: typing notices expire, the reconnect countdown
/// ticks.
const TICK: Duration = Duration::from_secs(1);

/// What the conversation and the interface share.
struct Shared {
    buffers: Mutex<Buffers>,
    /// A mention or private message came in since the last drawing.
    bell: Mutex<bool>,
    changed: Notify,
}

impl Shared {
    fn buffers(&self) -> MutexGuard<'_, Buffers> {
        self.buffers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The face the conversation reports to.
struct TuiFace {
    shared: Arc<Shared>,
    ring: bool,
    /// Gives the terminal back when the conversation ends and drops its face.
    _taken: screen::Taken,
}

impl Face for TuiFace {
    fn update(&mut self, update: Update) {
        let effects = self
            .shared
            .buffers()
            .apply(update, std::time::Instant::now());
        if effects.bell && self.ring {
            *self.shared.bell.lock().unwrap_or_else(|p| p.into_inner()) = true;
        }
        self.shared.changed.notify_one();
    }
}

/// Takes the terminal over and starts the interface. Must run inside the
/// client's runtime.
pub fn start(
    server: &str,
    ring: bool,
) -> std::io::Result<(mpsc::Receiver<InputEvent>, Box<dyn Face>)> {
    let taken = screen::Taken::take()?;
    let terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
    let shared = Arc::new(Shared {
        buffers: Mutex::new(Buffers::new(server)),
        bell: Mutex::new(false),
        changed: Notify::new(),
    });
    let (sender, receiver) = mpsc::channel(INPUT_QUEUE);
    tokio::spawn(run(terminal, shared.clone(), sender));
    let face = TuiFace {
        shared,
        ring,
        _taken: taken,
    };
    Ok((receiver, Box::new(face)))
}

type Screen = Terminal<CrosstermBackend<std::io::Stdout>>;

/// The interface's loop: draw, then wait for a key, an update, a tick or a
/// signal. It ends when the conversation does (the runtime drops it).
async fn run(mut terminal: Screen, shared: Arc<Shared>, input: mpsc::Sender<InputEvent>) {
    let mut app = App::new();
    let mut keys = EventStream::new();
    let mut tick = interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let (Ok(mut terminate), Ok(mut hangup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return;
    };
    loop {
        let events = draw(&mut terminal, &shared, &mut app);
        hand_over(&input, events, &shared);
        tokio::select! {
            event = keys.next() => {
                let events = match event {
                    Some(Ok(TermEvent::Key(key))) => app.key(key, &mut shared.buffers()),
                    Some(Ok(TermEvent::Paste(text))) => {
                        app.paste(&text);
                        Vec::new()
                    }
                    // A resize is drawn anew below, from the buffers.
                    Some(Ok(_)) => Vec::new(),
                    // The terminal is gone: end the session.
                    Some(Err(_)) | None => vec![InputEvent::End],
                };
                hand_over(&input, events, &shared);
            }
            _ = shared.changed.notified() => {}
            _ = tick.tick() => {}
            _ = terminate.recv() => hand_over(&input, vec![InputEvent::End], &shared),
            _ = hangup.recv() => hand_over(&input, vec![InputEvent::End], &shared),
        }
    }
}

/// Draws the interface; returns what scrolling asks of the conversation.
fn draw(terminal: &mut Screen, shared: &Shared, app: &mut App) -> Vec<InputEvent> {
    if std::mem::take(&mut *shared.bell.lock().unwrap_or_else(|p| p.into_inner())) {
        screen::bell();
    }
    if std::mem::take(&mut app.clear) {
        let _ = terminal.clear();
    }
    let mut buffers = shared.buffers();
    let mut drawn = Default::default();
    let result = terminal.draw(|frame| {
        let view = View {
            editor: &app.editor,
            scroll: app.scroll,
            expanded: app.expanded,
            confirm_paste: app.confirm_paste.as_ref().map(Vec::len),
            now: Instant::now().into_std(),
            zone: Zone::Local,
        };
        drawn = draw::draw(frame, &buffers, &view);
    });
    if result.is_err() {
        return vec![InputEvent::End];
    }
    app.drawn(drawn, &mut buffers)
}

/// Hands input to the conversation without ever waiting on it: the interface
/// must keep drawing while the conversation is busy. A full queue (hundreds of
/// lines waiting for a slow connection) refuses the line, and says so.
fn hand_over(input: &mpsc::Sender<InputEvent>, events: Vec<InputEvent>, shared: &Shared) {
    for event in events {
        let line = matches!(event, InputEvent::Line(_) | InputEvent::LineIn(..));
        if input.try_send(event).is_err() && line {
            let note = "too many lines are waiting for the server; that one was not taken".into();
            shared
                .buffers()
                .apply(Update::Error(note), std::time::Instant::now());
        }
    }
}
