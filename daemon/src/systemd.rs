//! Telling systemd how `cipd serve` is doing (`Type=notify`): ready once every listener is bound,
//! stopping when asked to, and alive, through the watchdog, only while the store's writer
//! answers. Without `NOTIFY_SOCKET` (not under systemd) nothing is sent.

use crate::store::Store;
use sd_notify::NotifyState;
use tokio_util::task::AbortOnDropHandle;

/// Says the daemon serves: the socket and every listener are bound, so a unit ordered after
/// cipd finds them answering.
pub fn ready() {
    tell(&[NotifyState::Ready]);
}

/// Says the daemon stopped accepting and is letting payments in flight finish.
pub fn stopping() {
    tell(&[NotifyState::Stopping]);
}

fn tell(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!("cannot tell systemd ({states:?}): {e}");
    }
}

/// When systemd watches the daemon (`WatchdogSec=`, which sets `WATCHDOG_USEC`), a task that
/// sends the store's writer a heartbeat every half of that time and tells systemd the daemon
/// is alive only when the writer answered it: a writer stuck on a lock or a hung thread takes
/// no payment, and systemd then restarts the daemon. Stops when dropped.
pub fn watchdog(store: Store) -> Option<AbortOnDropHandle<()>> {
    let every = sd_notify::watchdog_enabled()? / 2;
    tracing::info!("systemd watchdog: the store's writer is asked every {every:?}");
    Some(AbortOnDropHandle::new(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            // An answer later than the next beat is no answer: systemd must not hear that a
            // writer which takes that long is well.
            match tokio::time::timeout(every, store.writer_answers()).await {
                Ok(true) => tell(&[NotifyState::Watchdog]),
                Ok(false) => tracing::error!("systemd watchdog: the store's writer is gone"),
                Err(_) => tracing::error!(
                    "systemd watchdog: the store's writer did not answer within {every:?}"
                ),
            }
        }
    })))
}
