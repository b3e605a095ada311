//! Admission: which sockets the server takes on, and under which bound each
//! one counts while it lives.
//!
//! Three pools, so that connections that have not proved anything yet cannot
//! crowd out those that have:
//! - registered clients (a successful `hello`), at most `max_connections`;
//! - pending connections (in their TLS handshake, or before their `hello`
//!   succeeds), at most `max_pending_connections`;
//! - refusals: a few sockets let through their handshake only to be told why
//!   they are turned away ("server full", too many connections from their
//!   address), at most a tenth of `max_connections` (at least 16).
//!
//! Pending and registered connections also count against their address
//! (`max_connections_per_address`, see `address.rs`), so one address cannot
//! fill the pending pool. A socket that finds no room in any pool is closed at
//! once, so a connection flood cannot exhaust memory or file descriptors.
//!
//! The counters live under one mutex rather than in atomics: admitting looks at
//! several of them at once, and the lock is only taken when a connection comes,
//! registers or goes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tracing::{debug, warn};

use super::address::AddressKey;
use crate::config::Limits;

/// Sockets allowed beyond the pools, just to be told why they are refused.
fn refusal_headroom(max_connections: usize) -> usize {
    (max_connections / 10).max(16)
}

/// Every connection admitted: its own counters, and the bounds in force (a
/// reload moves them; connections already over a lowered bound stay, and
/// newcomers wait for the count to fall below it).
#[derive(Debug)]
pub(super) struct Admission {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    max_registered: usize,
    max_pending: usize,
    max_per_address: usize,
    registered: usize,
    pending: usize,
    refusals: usize,
    /// Pending and registered connections per address; an address leaves the
    /// map with its last connection, so the map is bounded by the pools.
    per_address: HashMap<AddressKey, PerAddress>,
}

#[derive(Debug, Default)]
struct PerAddress {
    connections: usize,
    /// The address was told "too many connections" since it last was under
    /// its limit: the warning is logged once per such episode, not once per
    /// socket of a flood.
    warned: bool,
}

/// Why a socket is let through its handshake only to be turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// `max_connections` clients are registered, or `max_pending_connections`
    /// are still registering.
    ServerFull,
    /// The address has `max_connections_per_address` connections already;
    /// the limit it met comes along for the error message.
    TooManyConnections { max: usize },
}

/// Where a connection counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pool {
    Pending,
    Registered,
    Refused(Refusal),
}

/// Held for a connection's lifetime; counts it until dropped.
#[derive(Debug)]
pub(super) struct Ticket {
    admission: Arc<Admission>,
    address: AddressKey,
    pool: Pool,
}

/// The last `hello` found `max_connections` clients registered.
#[derive(Debug)]
pub(super) struct Full;

impl Admission {
    pub(super) fn new(limits: &Limits) -> Admission {
        let admission = Admission {
            state: Mutex::new(State {
                max_registered: 0,
                max_pending: 0,
                max_per_address: 0,
                registered: 0,
                pending: 0,
                refusals: 0,
                per_address: HashMap::new(),
            }),
        };
        admission.set_limits(limits);
        admission
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The counters are only ever changed by whole steps under the lock.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A reload changed the bounds; they apply to the next newcomer (and the
    /// next `hello`).
    pub(super) fn set_limits(&self, limits: &Limits) {
        let mut state = self.state();
        state.max_registered = limits.max_connections;
        state.max_pending = limits.max_pending_connections;
        state.max_per_address = limits.max_connections_per_address;
    }

    /// Takes on a new socket from `ip`: as a pending connection, as one to be
    /// told why it is refused, or (`None`) not at all.
    pub(super) fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Ticket> {
        let address = AddressKey::of(ip);
        let mut state = self.state();
        let max = state.max_per_address;
        let crowded = state
            .per_address
            .get_mut(&address)
            .filter(|entry| entry.connections >= max);
        let refusal = if let Some(entry) = crowded {
            if !std::mem::replace(&mut entry.warned, true) {
                warn!(%address, connections = entry.connections, max, "too many connections from one address; refusing more until some end");
            }
            Some(Refusal::TooManyConnections { max })
        } else if state.registered >= state.max_registered || state.pending >= state.max_pending {
            Some(Refusal::ServerFull)
        } else {
            None
        };
        let pool = match refusal {
            None => {
                state.pending += 1;
                state.per_address.entry(address).or_default().connections += 1;
                Pool::Pending
            }
            Some(refusal) => {
                if state.refusals >= refusal_headroom(state.max_registered) {
                    debug!(%address, ?refusal, "closed at once: over the connection ceiling");
                    return None;
                }
                state.refusals += 1;
                Pool::Refused(refusal)
            }
        };
        Some(Ticket {
            admission: self.clone(),
            address,
            pool,
        })
    }
}

impl Ticket {
    /// Why this connection is only to be told it is refused, if it is.
    pub(super) fn refusal(&self) -> Option<Refusal> {
        match self.pool {
            Pool::Refused(refusal) => Some(refusal),
            Pool::Pending | Pool::Registered => None,
        }
    }

    /// Moves a pending connection to the registered pool, when it has room.
    pub(super) fn register(&mut self) -> Result<(), Full> {
        debug_assert_eq!(self.pool, Pool::Pending);
        let mut state = self.admission.state();
        if state.registered >= state.max_registered {
            return Err(Full);
        }
        state.registered += 1;
        state.pending -= 1;
        self.pool = Pool::Registered;
        Ok(())
    }

    /// Undoes [`Ticket::register`] when the `hello` failed after all (its
    /// nick was taken meanwhile): the connection may try again as it was.
    pub(super) fn unregister(&mut self) {
        debug_assert_eq!(self.pool, Pool::Registered);
        let mut state = self.admission.state();
        state.registered -= 1;
        state.pending += 1;
        self.pool = Pool::Pending;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut state = self.admission.state();
        match self.pool {
            Pool::Refused(_) => {
                state.refusals -= 1;
                return;
            }
            Pool::Pending => state.pending -= 1,
            Pool::Registered => state.registered -= 1,
        }
        let max_per_address = state.max_per_address;
        if let Some(entry) = state.per_address.get_mut(&self.address) {
            entry.connections -= 1;
            if entry.connections == 0 {
                state.per_address.remove(&self.address);
            } else if entry.connections < max_per_address {
                entry.warned = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(max_connections: usize, pending: usize, per_address: usize) -> Arc<Admission> {
        Arc::new(Admission::new(&Limits {
            max_connections,
            max_pending_connections: pending,
            max_connections_per_address: per_address,
            ..Limits::default()
        }))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn one_address_cannot_fill_the_pending_pool() {
        let admission = admission(100, 50, 3);
        let flood: Vec<Ticket> = (0..3)
            .map(|_| admission.admit(ip("192.0.2.1")).unwrap())
            .collect();
        assert!(flood.iter().all(|t| t.refusal().is_none()));
        let refused = admission.admit(ip("192.0.2.1")).unwrap();
        assert_eq!(
            refused.refusal(),
            Some(Refusal::TooManyConnections { max: 3 })
        );
        // Same /64, another host: the same address for the limit.
        let v6: Vec<Ticket> = (1..=4)
            .map(|n| admission.admit(ip(&format!("2001:db8::{n}"))).unwrap())
            .collect();
        assert_eq!(
            v6.iter().filter(|t| t.refusal().is_some()).count(),
            1,
            "the fourth of one /64 is refused"
        );
        let other = admission.admit(ip("192.0.2.2")).unwrap();
        assert_eq!(other.refusal(), None);
        // A connection that goes frees its address's slot.
        drop(flood);
        assert_eq!(admission.admit(ip("192.0.2.1")).unwrap().refusal(), None);
    }

    #[test]
    fn pending_connections_do_not_take_registered_slots() {
        let admission = admission(2, 3, 100);
        let mut pending: Vec<Ticket> = (0..3)
            .map(|n| admission.admit(ip(&format!("192.0.2.{n}"))).unwrap())
            .collect();
        assert_eq!(
            admission.admit(ip("192.0.2.9")).unwrap().refusal(),
            Some(Refusal::ServerFull),
            "the pending pool is full"
        );
        pending[0].register().unwrap();
        pending[1].register().unwrap();
        assert!(pending[2].register().is_err(), "registered is full");
        // Registered clients leave the pending pool: a newcomer gets in, to
        // be told the server is full as soon as it is (before any hello).
        assert_eq!(
            admission.admit(ip("192.0.2.9")).unwrap().refusal(),
            Some(Refusal::ServerFull)
        );
        pending[1].unregister();
        pending[2].register().unwrap();
    }

    #[test]
    fn refusals_are_bounded_and_beyond_them_sockets_are_closed_at_once() {
        let admission = admission(1, 1, 100);
        let _held = admission.admit(ip("192.0.2.1")).unwrap();
        let refused: Vec<Ticket> = (0..16)
            .map(|_| admission.admit(ip("192.0.2.2")).unwrap())
            .collect();
        assert!(refused
            .iter()
            .all(|t| t.refusal() == Some(Refusal::ServerFull)));
        assert!(admission.admit(ip("192.0.2.3")).is_none());
        drop(refused);
        assert!(admission.admit(ip("192.0.2.3")).is_some());
    }

    #[test]
    fn a_reload_moves_the_bounds_for_the_next_newcomer() {
        let admission = admission(10, 10, 1);
        let _first = admission.admit(ip("192.0.2.1")).unwrap();
        assert!(admission
            .admit(ip("192.0.2.1"))
            .unwrap()
            .refusal()
            .is_some());
        admission.set_limits(&Limits {
            max_connections_per_address: 2,
            ..Limits::default()
        });
        assert_eq!(admission.admit(ip("192.0.2.1")).unwrap().refusal(), None);
    }
}
