//! A session's accounts (protocol 1.2): logging in at `hello`, `register`,
//! `set_password`, `drop_account`, and the nick rules accounts bring (a
//! registered nick needs its password; a logged-in nick is locked).
//!
//! Passwords are checked with Argon2id on blocking threads, a bounded number
//! at once (`accounts::Passwords`), so a burst of logins never stalls chat.
//! Every check counts in the back-off twice: per address (guessing many
//! accounts from one place) and per account (guessing one account from many
//! places). Writes to the accounts store (an fsync each) also run on blocking
//! threads; reads are short and run in place.

use std::sync::Arc;

use tracing::{error, info, warn};

use crate::protocol::frames::Empty;
use crate::protocol::moderation::{check_password, AccountOk, AccountRequest};
use crate::protocol::names::Nick;
use crate::protocol::request::RequestId;
use crate::protocol::ProtocolError;

use super::super::accounts::{AccountRecord, Registry, RegistryError, Verified};
use super::super::address::AddressKey;
use super::super::auth_backoff::Attempt;
use super::super::hub::Client;
use super::super::rules::Who;
use super::{Reply, Session};
use crate::config::Registration;

/// Who is acting, as the moderation rules ask.
pub(super) struct Actor {
    pub nick: Nick,
    pub account: Option<Nick>,
    /// A server operator: owner power in every room.
    pub operator: bool,
}

impl Actor {
    pub fn who(&self) -> Who<'_> {
        Who {
            nick: &self.nick,
            account: self.account.as_ref().map(Nick::as_str),
            operator: self.operator,
        }
    }
}

/// Which back-off refused a password unchecked.
enum Waiting {
    Address,
    Account,
}

/// The accounts store failed: the request cannot be answered for now.
fn store_failed(e: RegistryError) -> ProtocolError {
    error!("accounts store: {e}");
    ProtocolError::Unavailable(
        "the server could not read or write its accounts; try again later".into(),
    )
}

impl Session {
    /// Who `client` is, with the server operators of the settings in force.
    pub(super) fn actor(&self, client: &Client) -> Actor {
        let account = client.account();
        let operator = account.as_ref().is_some_and(|account| {
            self.shared
                .settings()
                .accounts
                .is_operator(account.as_str())
        });
        Actor {
            nick: client.nick(),
            account,
            operator,
        }
    }

    /// Runs `work` on the accounts store on a blocking thread: its writes
    /// wait for the disk.
    async fn on_store<T: Send + 'static>(
        &self,
        work: impl FnOnce(&dyn Registry) -> Result<T, RegistryError> + Send + 'static,
    ) -> Result<T, ProtocolError> {
        let registry = self.shared.registry.clone();
        tokio::task::spawn_blocking(move || work(registry.as_ref()))
            .await
            .map_err(|e| {
                error!("accounts store task failed: {e}");
                ProtocolError::Unavailable("the server could not reach its accounts".into())
            })?
            .map_err(store_failed)
    }

    /// The account a `hello` logs in to: `None` for a nick that is no
    /// account and no password; `nick_registered` for an account's nick
    /// without its password; `auth_failed` for a wrong one.
    pub(super) async fn log_in(
        &self,
        nick: &Nick,
        password: Option<String>,
    ) -> Result<Option<Nick>, ProtocolError> {
        let record = self
            .shared
            .registry
            .account(nick.as_str())
            .map_err(store_failed)?;
        match (record, password) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(ProtocolError::NickRegistered(nick.to_string())),
            (record, Some(password)) => {
                let record = self.check_account_password(nick, record, password).await?;
                if record.suspended {
                    warn!(peer = %self.peer, account = %record.name, "login refused: the account is suspended");
                    return Err(ProtocolError::NotPermitted(format!(
                        "account {} is suspended",
                        record.name
                    )));
                }
                info!(peer = %self.peer, account = %record.name, "logged in");
                Ok(Some(
                    Nick::parse(&record.name).unwrap_or_else(|_| nick.clone()),
                ))
            }
        }
    }

    /// Checks `password` against `record` (an account that does not exist
    /// fails like a wrong password), counting in both back-offs; re-hashes a
    /// hash made with older parameters. Wrong: `auth_failed`.
    async fn check_account_password(
        &self,
        name: &Nick,
        record: Option<AccountRecord>,
        password: String,
    ) -> Result<AccountRecord, ProtocolError> {
        // The back-off decides once this check's turn has come: only the
        // few checks that run at once are ever counted before their outcome
        // is known, so a crowd logging in from one address (an office) is
        // not taken for a guesser, and a guesser's parallel tries still meet
        // the wait its failures started.
        let turn = self.shared.passwords.turn().await;
        let now = std::time::Instant::now();
        let address = AddressKey::of(self.peer.ip());
        let by_address = self
            .shared
            .auth_backoff
            .begin(address, now)
            .map_err(|refused| self.throttled(refused, name, Waiting::Address))?;
        let by_account = match self.shared.account_backoff.begin(name.key(), now) {
            Ok(trial) => trial,
            Err(refused) => {
                // No password was checked: the address's attempt is taken back.
                by_address.accepted();
                return Err(self.throttled(refused, name, Waiting::Account));
            }
        };
        let verified = match &record {
            Some(record) => {
                self.shared
                    .passwords
                    .verify_on(turn, record.hash.clone(), password)
                    .await
            }
            None => Verified::Wrong,
        };
        match (record, verified) {
            (Some(mut record), Verified::Right { rehash }) => {
                by_address.accepted();
                by_account.accepted();
                if let Some(hash) = rehash {
                    record.hash = hash;
                    let updated = record.clone();
                    // Best effort: the old hash still works if this fails.
                    if let Err(e) = self
                        .on_store(move |registry| registry.update_account(&updated))
                        .await
                    {
                        warn!(account = %record.name, "could not re-hash the password: {e}");
                    }
                }
                Ok(record)
            }
            _ => {
                let failed = by_account.failed();
                let _ = by_address.failed();
                match failed {
                    Attempt::Failed { failures, .. } => {
                        warn!(peer = %self.peer, account = %name, failures, "wrong account password")
                    }
                    other => {
                        warn!(peer = %self.peer, account = %name, ?other, "wrong account password")
                    }
                }
                Err(ProtocolError::AuthFailed)
            }
        }
    }

    /// `auth_throttled` for an attempt during a back-off.
    fn throttled(&self, refused: Attempt, name: &Nick, waiting: Waiting) -> ProtocolError {
        let wait = match refused {
            Attempt::Throttled { wait, .. } => wait,
            _ => std::time::Duration::from_secs(1),
        };
        // Rounded up: a client that waits as told is not refused again.
        let wait_secs = wait.as_millis().div_ceil(1000) as u64;
        match waiting {
            Waiting::Address => {
                warn!(peer = %self.peer, account = %name, "account password not checked: the address is waiting after failed ones");
                ProtocolError::AuthThrottled { wait_secs }
            }
            Waiting::Account => {
                warn!(peer = %self.peer, account = %name, "account password not checked: the account is waiting after failed ones");
                ProtocolError::AccountThrottled { wait_secs }
            }
        }
    }

    /// A logged-in connection keeps its nick; anyone else may not take an
    /// account's nick.
    pub(super) fn may_take_nick(&self, client: &Client, nick: &Nick) -> Result<(), ProtocolError> {
        if client.nick() == *nick {
            // The identical nick changes nothing (v1 answers `ok`).
            return Ok(());
        }
        if let Some(account) = client.account() {
            return Err(ProtocolError::NotPermitted(format!(
                "your nick is locked while you are logged in as {account}"
            )));
        }
        let taken = self
            .shared
            .registry
            .account(nick.as_str())
            .map_err(store_failed)?;
        match taken {
            Some(_) => Err(ProtocolError::NickRegistered(nick.to_string())),
            None => Ok(()),
        }
    }

    /// `register`, `set_password`, `drop_account`.
    pub(super) async fn account_request(
        &mut self,
        client: &Arc<Client>,
        request: AccountRequest,
        id: Option<&RequestId>,
    ) -> Result<Reply, ProtocolError> {
        match request {
            AccountRequest::Register { nick, password } => {
                let account = self.register(client, nick, password).await?;
                Reply::ok(id, AccountOk { account })
            }
            AccountRequest::SetPassword { old, new } => {
                let account = logged_in(client, "changing a password")?;
                check_password(&new)?;
                let mut record = self.verify_own(&account, old).await?;
                record.hash = self.hash(new).await?;
                let updated = record.clone();
                if !self
                    .on_store(move |registry| registry.update_account(&updated))
                    .await?
                {
                    return Err(ProtocolError::NoSuchAccount(account.to_string()));
                }
                info!(%account, "password changed");
                Reply::ok(id, Empty {})
            }
            AccountRequest::DropAccount { password } => {
                let account = logged_in(client, "dropping an account")?;
                self.verify_own(&account, password).await?;
                let name = account.as_str().to_owned();
                self.on_store(move |registry| registry.drop_account(&name))
                    .await?;
                // The store forgot its roles; the rooms in memory forget them
                // too, and nobody stays logged in to it.
                for room in self.shared.hub.rooms_in_memory() {
                    room.rules().forget_account(account.as_str());
                }
                for connection in self.shared.hub.logged_in(&account) {
                    connection.set_account(None);
                }
                info!(%account, "account dropped");
                Reply::ok(id, Empty {})
            }
        }
    }

    async fn register(
        &self,
        client: &Client,
        nick: Option<Nick>,
        password: String,
    ) -> Result<Nick, ProtocolError> {
        let settings = self.shared.settings();
        let actor = self.actor(client);
        match settings.accounts.registration {
            Registration::Off => {
                return Err(ProtocolError::NotPermitted(
                    "registration is off on this server".into(),
                ))
            }
            Registration::Closed if !actor.operator => {
                return Err(ProtocolError::NotPermitted(
                    "registration is closed on this server: ask a server operator".into(),
                ))
            }
            _ => {}
        }
        let own = nick
            .as_ref()
            .is_none_or(|nick| nick.key() == actor.nick.key());
        if !own && !actor.operator {
            return Err(ProtocolError::NotPermitted(
                "only server operators may register another nick".into(),
            ));
        }
        if own {
            if let Some(account) = &actor.account {
                return Err(ProtocolError::NotPermitted(format!(
                    "you are already logged in as {account}"
                )));
            }
        }
        check_password(&password)?;
        let nick = nick.unwrap_or_else(|| actor.nick.clone());
        let record = AccountRecord::new(nick.as_str(), self.hash(password).await?);
        if !self
            .on_store(move |registry| registry.create_account(&record))
            .await?
        {
            return Err(ProtocolError::NickRegistered(nick.to_string()));
        }
        if own {
            client.set_account(Some(nick.clone()));
        }
        info!(account = %nick, by = %actor.nick, "account registered");
        Ok(nick)
    }

    /// The logged-in account's record, if `password` is its password (the
    /// connection stays either way: `auth_failed` without `bye`).
    async fn verify_own(
        &self,
        account: &Nick,
        password: String,
    ) -> Result<AccountRecord, ProtocolError> {
        let record = self
            .shared
            .registry
            .account(account.as_str())
            .map_err(store_failed)?
            .ok_or_else(|| ProtocolError::NoSuchAccount(account.to_string()))?;
        self.check_account_password(account, Some(record), password)
            .await
            .map_err(|e| match e {
                ProtocolError::AuthFailed => ProtocolError::WrongPassword,
                other => other,
            })
    }

    async fn hash(&self, password: String) -> Result<String, ProtocolError> {
        self.shared.passwords.hash(password).await.map_err(|e| {
            error!("password hashing failed: {e}");
            ProtocolError::Unavailable("the server could not hash the password".into())
        })
    }
}

/// The account `client` is logged in to, or `needs_account`.
fn logged_in(client: &Client, what: &str) -> Result<Nick, ProtocolError> {
    client
        .account()
        .ok_or_else(|| ProtocolError::NeedsAccount(format!("{what} needs you to be logged in")))
}
