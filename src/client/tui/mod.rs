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
/// Key presses become typing notices at most this often: the conversation
/// sends one every few seconds anyway, and one per key would fill the input
/// queue of a fast typist (or a terminal without bracketed paste) and crowd
/// out the lines themselves.
const TYPING_EVERY: Duration = Duration::from_secs(1);

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
    color: bool,
) -> std::io::Result<(mpsc::Receiver<InputEvent>, Box<dyn Face>)> {
    let taken = screen::Taken::take()?;
    let terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
    let shared = Arc::new(Shared {
        buffers: Mutex::new(Buffers::new(server)),
        bell: Mutex::new(false),
        changed: Notify::new(),
    });
    let (sender, receiver) = mpsc::channel(INPUT_QUEUE);
    let handover = Handover {
        input: sender,
        last_typing: None,
    };
    tokio::spawn(run(terminal, shared.clone(), handover, color));
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
async fn run(mut terminal: Screen, shared: Arc<Shared>, mut input: Handover, color: bool) {
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
        let events = draw(&mut terminal, &shared, &mut app, color);
        app.refused(input.hand_over(events, &shared));
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
                app.refused(input.hand_over(events, &shared));
            }
            _ = shared.changed.notified() => {}
            _ = tick.tick() => {}
            _ = terminate.recv() => {
                input.hand_over(vec![InputEvent::End], &shared);
            }
            _ = hangup.recv() => {
                input.hand_over(vec![InputEvent::End], &shared);
            }
        }
    }
}

/// Draws the interface; returns what scrolling asks of the conversation.
fn draw(terminal: &mut Screen, shared: &Shared, app: &mut App, color: bool) -> Vec<InputEvent> {
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
            color,
        };
        drawn = draw::draw(frame, &buffers, &view);
    });
    if result.is_err() {
        return vec![InputEvent::End];
    }
    app.drawn(drawn, &mut buffers)
}

/// The way input reaches the conversation.
struct Handover {
    input: mpsc::Sender<InputEvent>,
    last_typing: Option<Instant>,
}

impl Handover {
    /// Hands input over without ever waiting on the conversation: the
    /// interface must keep drawing while it is busy. A full queue (hundreds of
    /// lines waiting for a slow connection) refuses the line, says so, and
    /// returns it, so it goes back to the input line rather than be lost.
    fn hand_over(&mut self, events: Vec<InputEvent>, shared: &Shared) -> Option<String> {
        let mut refused = None;
        for event in events {
            if matches!(event, InputEvent::TypingIn(_)) {
                let now = Instant::now();
                if self
                    .last_typing
                    .is_some_and(|at| now.duration_since(at) < TYPING_EVERY)
                {
                    continue;
                }
                self.last_typing = Some(now);
            }
            if let Err(full) = self.input.try_send(event) {
                if let InputEvent::Line(line) | InputEvent::LineIn(_, line) = full.into_inner() {
                    let note = "too many lines are waiting for the server; \
                                that one is back in the input line"
                        .into();
                    shared
                        .buffers()
                        .apply(Update::Error(note), std::time::Instant::now());
                    refused.get_or_insert(line);
                }
            }
        }
        refused
    }
}
