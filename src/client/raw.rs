//! `--raw`: stdin lines go to the server verbatim and every frame received is
//! printed as it came (made terminal-safe), like `openssl s_client` but with the
//! certificate checked. At end of input the client waits for the answers to
//! what it sent, then quits.

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::protocol::frames::Event;
use crate::protocol::incoming::{ServerEvent, ServerFrame};

use super::core::connection::Connection;
use super::error::ClientError;
use super::screen::json_safe;
use super::settings::ClientSettings;
use super::trust::{Asker, KnownHosts, Trust};

/// Runs a raw session. `Ok(true)` when no request got an `error`.
pub async fn run(
    settings: &ClientSettings,
    ask: Option<&mut dyn Asker>,
) -> Result<bool, ClientError> {
    let trust = Trust::new(&settings.trust)?;
    let known_hosts = KnownHosts::new(settings.known_hosts.clone());
    let mut connection = Connection::open(&settings.server, &trust, &known_hosts, ask).await?;
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let lost = |reason: String| ClientError::Lost {
        server: settings.server.to_string(),
        reason,
    };
    // Every non-blank line gets exactly one response, in order.
    let mut unanswered = 0usize;
    let mut failed = false;
    let mut input_done = false;
    let mut quitting = false;
    loop {
        if input_done && unanswered == 0 && !quitting {
            quitting = true;
            connection
                .send(r#"{"type":"quit"}"#)
                .await
                .map_err(|b| lost(b.0))?;
        }
        tokio::select! {
            line = connection.next_line() => {
                let line = match line {
                    Ok(line) => line,
                    Err(_) if quitting => return Ok(!failed),
                    Err(broken) => return Err(lost(broken.0)),
                };
                // The answers to the client's own closing `quit` are not the user's.
                if !(quitting && unanswered == 0) {
                    println!("{}", json_safe(&line));
                }
                // Whatever this build cannot read is the user's to judge: it
                // was printed, and counts as neither answer nor goodbye.
                match ServerFrame::parse(&line) {
                    Ok(ServerFrame::Ok(_)) => unanswered = unanswered.saturating_sub(1),
                    Ok(ServerFrame::Error(_)) => {
                        unanswered = unanswered.saturating_sub(1);
                        failed = true;
                    }
                    Ok(ServerFrame::Event(ServerEvent::Known(Event::Bye { .. }))) => {
                        connection.close().await;
                        return Ok(!failed);
                    }
                    Ok(ServerFrame::Event(_)) | Err(_) => {}
                }
            }
            line = stdin.next_line(), if !input_done => {
                match line {
                    Ok(Some(line)) => {
                        connection.send(&line).await.map_err(|b| lost(b.0))?;
                        if !line.trim().is_empty() {
                            unanswered += 1;
                        }
                    }
                    Ok(None) => input_done = true,
                    Err(e) => {
                        eprintln!("confab client: reading stdin: {e}");
                        input_done = true;
                    }
                }
            }
        }
    }
}
