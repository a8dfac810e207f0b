//! Write locks on the file tree: exclusive and shared, depth 0 or infinity, with timeouts,
//! held in memory (a restart releases them, as a crash of any lock holder would). They belong
//! to the files service, not to WebDAV, so that every surface that writes a file answers to
//! the same locks: [`LockManager::check_write`] is the rule. WebDAV's protocol around them (the
//! `If` header, LOCK/UNLOCK bodies, `lockdiscovery`) stays in `dav::locks`.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Bounds memory: a client cannot pile up locks without limit.
const MAX_LOCKS: usize = 10_000;

#[derive(Debug, Clone)]
pub struct Lock {
    pub token: String,
    /// Who took it (tokens of another user are never accepted).
    pub principal: String,
    /// The space (owner uid) and the locked path in it.
    pub space: String,
    pub root: Vec<String>,
    pub infinite: bool,
    pub exclusive: bool,
    /// The client's `DAV:owner` XML, kept as sent.
    pub owner_xml: String,
    pub timeout: Duration,
    pub expires: Instant,
}

/// Why a lock cannot be taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Another lock conflicts with it.
    Conflict,
    /// [`MAX_LOCKS`] are held.
    TooMany,
}

/// Why a lock cannot be released.
#[derive(Debug, PartialEq, Eq)]
pub enum NotReleased {
    /// No lock with that token covers the resource.
    NoMatch,
    /// It is someone else's.
    NotYours,
}

/// The lock tokens a writer holds (WebDAV: those named in its `If` header); every write of
/// the files service is checked against them ([`LockManager::check_write`]).
#[derive(Debug, Clone, Default)]
pub struct Held(pub Vec<String>);

impl Held {
    /// A writer that holds no lock (it can write only where nothing is locked).
    pub fn none() -> Held {
        Held(Vec::new())
    }
}

/// A write would touch a lock whose token its holder did not submit.
#[derive(Debug, PartialEq, Eq)]
pub struct Locked;

fn is_prefix(a: &[String], b: &[String]) -> bool {
    a.len() <= b.len() && a == &b[..a.len()]
}

impl Lock {
    /// Whether this lock covers the resource at `segs` (itself, or below a depth-infinity lock).
    pub fn covers(&self, space: &str, segs: &[String]) -> bool {
        self.space == space && (self.root == segs || (self.infinite && is_prefix(&self.root, segs)))
    }

    /// Whether this lock and one on `root` of `space` (`infinite`, `exclusive`) cannot both
    /// be held.
    fn conflicts_with(
        &self,
        space: &str,
        root: &[String],
        infinite: bool,
        exclusive: bool,
    ) -> bool {
        self.space == space
            && (self.covers(space, root) || (infinite && is_prefix(root, &self.root)))
            && (self.exclusive || exclusive)
    }
}

#[derive(Default)]
pub struct LockManager {
    locks: Mutex<Vec<Lock>>,
}

impl LockManager {
    /// The live locks (expired ones are dropped first).
    fn live(&self) -> MutexGuard<'_, Vec<Lock>> {
        let mut g = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        let now = crate::clock::instant();
        g.retain(|l| l.expires > now);
        g
    }

    /// The locks covering a resource.
    pub fn covering(&self, space: &str, segs: &[String]) -> Vec<Lock> {
        self.live()
            .iter()
            .filter(|l| l.covers(space, segs))
            .cloned()
            .collect()
    }

    /// Locks on `segs` itself, above it, or (for a collection) anywhere below it.
    fn touching_subtree(&self, space: &str, segs: &[String]) -> Vec<Lock> {
        self.live()
            .iter()
            .filter(|l| l.space == space && (l.covers(space, segs) || is_prefix(segs, &l.root)))
            .cloned()
            .collect()
    }

    pub fn has_token(&self, space: &str, segs: &[String], token: &str) -> bool {
        self.live()
            .iter()
            .any(|l| l.token == token && l.covers(space, segs))
    }

    /// Moves or removes locks when their resource moves away or is deleted.
    pub fn forget_subtree(&self, space: &str, segs: &[String]) {
        self.live()
            .retain(|l| !(l.space == space && is_prefix(segs, &l.root)));
    }

    /// The rule every write to a file or folder answers to: each lock involved — on `segs`
    /// (with `subtree`, also below it) and, with `membership`, on its parent folder, whose
    /// list of members changes (RFC 4918 §7.5) — must be `me`'s, with its token among
    /// `submitted`.
    pub fn check_write(
        &self,
        me: &str,
        space: &str,
        segs: &[String],
        membership: bool,
        subtree: bool,
        submitted: &[&str],
    ) -> Result<(), Locked> {
        let mut involved = if subtree {
            self.touching_subtree(space, segs)
        } else {
            self.covering(space, segs)
        };
        if membership && !segs.is_empty() {
            involved.extend(self.covering(space, &segs[..segs.len() - 1]));
        }
        match involved
            .iter()
            .all(|l| l.principal == me && submitted.contains(&l.token.as_str()))
        {
            true => Ok(()),
            false => Err(Locked),
        }
    }

    /// Whether a new lock on `root` of `space` could be taken now.
    pub fn can_take(
        &self,
        space: &str,
        root: &[String],
        infinite: bool,
        exclusive: bool,
    ) -> Result<(), Refused> {
        let g = self.live();
        if g.len() >= MAX_LOCKS {
            return Err(Refused::TooMany);
        }
        match g
            .iter()
            .any(|l| l.conflicts_with(space, root, infinite, exclusive))
        {
            true => Err(Refused::Conflict),
            false => Ok(()),
        }
    }

    /// Takes `lock`, checking again for a conflict under the table's mutex (another client
    /// may have won since [`Self::can_take`]).
    pub fn take(&self, lock: Lock) -> Result<(), Refused> {
        let mut g = self.live();
        if g.iter()
            .any(|o| o.conflicts_with(&lock.space, &lock.root, lock.infinite, lock.exclusive))
        {
            return Err(Refused::Conflict);
        }
        g.push(lock);
        Ok(())
    }

    /// Gives `me`'s lock covering `segs` whose token is among `tokens` a new timeout.
    pub fn refresh(
        &self,
        me: &str,
        space: &str,
        segs: &[String],
        tokens: &[&str],
        timeout: Duration,
    ) -> Option<Lock> {
        let mut g = self.live();
        let l = g.iter_mut().find(|l| {
            tokens.contains(&l.token.as_str()) && l.covers(space, segs) && l.principal == me
        })?;
        l.timeout = timeout;
        l.expires = crate::clock::instant() + timeout;
        Some(l.clone())
    }

    /// Releases the lock with `token` covering `segs`, when it is `me`'s.
    pub fn release(
        &self,
        me: &str,
        space: &str,
        segs: &[String],
        token: &str,
    ) -> Result<(), NotReleased> {
        let mut g = self.live();
        let i = g
            .iter()
            .position(|l| l.token == token && l.covers(space, segs))
            .ok_or(NotReleased::NoMatch)?;
        if g[i].principal != me {
            return Err(NotReleased::NotYours);
        }
        g.remove(i);
        Ok(())
    }
}
