//! The feed as a supervisor watches it: a bounded buffer of events, newest at the bottom,
//! following by default; paused, it keeps what arrives aside and counts it; a filter narrows
//! what shows. No I/O.

use cip_common::event::{Event, EventDetail, EventKind};
use cip_common::payment::Mode;
use cip_common::status::PaymentStatus;
use std::collections::VecDeque;

/// What `/` narrows the feed to. Values within a field are OR'ed, fields are AND'ed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub applications: Vec<String>,
    pub statuses: Vec<PaymentStatus>,
    pub kinds: Vec<EventKind>,
    /// Who keyed the payment (or, for a security event, the user it is about).
    pub agents: Vec<String>,
    /// The payment's channel: gateway, partial or full.
    pub modes: Vec<Mode>,
    /// Matched against payment id, confirmation code, last four and payer name (or, for a
    /// security event, the user).
    pub text: Vec<String>,
}

impl Filter {
    /// Parses `app:DMV-RENEWAL,PARK-RESERVE status:declined kind:lockout agent:agent1 mode:full ada 4242`.
    pub fn parse(line: &str) -> Result<Filter, String> {
        let mut filter = Filter::default();
        for word in line.split_whitespace() {
            match word.split_once(':') {
                Some(("app", values)) => filter.applications.extend(
                    values
                        .split(',')
                        .filter(|v| !v.is_empty())
                        .map(str::to_ascii_uppercase),
                ),
                Some(("status", values)) => {
                    for value in values.split(',').filter(|v| !v.is_empty()) {
                        let status = PaymentStatus::from_code(&value.to_ascii_lowercase())
                            .ok_or_else(|| format!("status {value:?}: use approved, declined, failed, in_doubt, processing or voided"))?;
                        filter.statuses.push(status);
                    }
                }
                Some(("kind", values)) => {
                    for value in values.split(',').filter(|v| !v.is_empty()) {
                        let value = value.to_ascii_lowercase();
                        let kinds: Vec<EventKind> = EventKind::ALL
                            .into_iter()
                            .filter(|k| {
                                k.code() == value
                                    || k.code().ends_with(&format!(".{value}"))
                                    || k.code().starts_with(&format!("{value}."))
                            })
                            .collect();
                        if kinds.is_empty() {
                            return Err(format!(
                                "kind {value:?}: use received, approved, declined, failed, in_doubt, resolved, voided, sign_in, sign_in_failed, lockout, unlock, payment or security"
                            ));
                        }
                        filter.kinds.extend(kinds);
                    }
                }
                Some(("agent", values)) => filter.agents.extend(
                    values
                        .split(',')
                        .filter(|v| !v.is_empty())
                        .map(str::to_lowercase),
                ),
                Some(("mode", values)) => {
                    for value in values.split(',').filter(|v| !v.is_empty()) {
                        let mode =
                            Mode::from_code(&value.to_ascii_lowercase()).ok_or_else(|| {
                                format!("mode {value:?}: use gateway, partial or full")
                            })?;
                        filter.modes.push(mode);
                    }
                }
                Some((field, _)) => {
                    return Err(format!(
                        "{field:?} is not a filter field: use app:, status:, kind:, agent:, mode: or plain words"
                    ));
                }
                None => filter.text.push(word.to_lowercase()),
            }
        }
        Ok(filter)
    }

    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    pub fn matches(&self, event: &Event) -> bool {
        let app_ok = self.applications.is_empty()
            || event
                .application
                .as_ref()
                .is_some_and(|a| self.applications.contains(a));
        let kind_ok = self.kinds.is_empty() || self.kinds.contains(&event.kind);
        let (status, agent, mode, haystack): (_, _, _, Vec<String>) = match &event.detail {
            EventDetail::Payment {
                payment_id,
                status,
                confirmation_code,
                last_four,
                payer_name,
                keyed_by,
                mode,
                ..
            } => (
                Some(*status),
                Some(keyed_by),
                Some(*mode),
                vec![
                    payment_id.to_lowercase(),
                    confirmation_code.clone().unwrap_or_default().to_lowercase(),
                    last_four.clone(),
                    payer_name.to_lowercase(),
                ],
            ),
            EventDetail::Refund {
                refund_id,
                payment_id,
                last_four,
                payer_name,
                asked_by,
                ..
            } => (
                None,
                Some(asked_by),
                None,
                vec![
                    payment_id.to_lowercase(),
                    refund_id.to_lowercase(),
                    last_four.clone(),
                    payer_name.to_lowercase(),
                ],
            ),
            EventDetail::Security { user, .. } => {
                (None, Some(user), None, vec![user.to_lowercase()])
            }
            EventDetail::Batch { batch_id, .. } => {
                (None, None, None, vec![batch_id.to_lowercase()])
            }
        };
        let status_ok =
            self.statuses.is_empty() || status.is_some_and(|s| self.statuses.contains(&s));
        let agent_ok = self.agents.is_empty()
            || agent.is_some_and(|a| self.agents.contains(&a.to_lowercase()));
        let mode_ok = self.modes.is_empty() || mode.is_some_and(|m| self.modes.contains(&m));
        let text_ok = self.text.is_empty()
            || self
                .text
                .iter()
                .any(|t| haystack.iter().any(|h| h.contains(t.as_str())));
        app_ok && kind_ok && status_ok && agent_ok && mode_ok && text_ok
    }
}

#[derive(Debug)]
pub struct Feed {
    capacity: usize,
    events: VecDeque<Event>,
    /// Events that arrived while paused, shown on resuming.
    held: VecDeque<Event>,
    pub paused: bool,
    /// Arrived while paused (may exceed what is held when the buffer overflowed).
    pub new_while_paused: usize,
    pub filter: Filter,
    /// The selected row among the shown events; `None` follows the newest.
    pub selected: Option<usize>,
    /// No older events exist before the buffer's first.
    pub oldest_reached: bool,
}

impl Feed {
    pub fn new(capacity: usize) -> Feed {
        Feed {
            capacity,
            events: VecDeque::with_capacity(capacity.min(1024)),
            held: VecDeque::new(),
            paused: false,
            new_while_paused: 0,
            filter: Filter::default(),
            selected: None,
            oldest_reached: false,
        }
    }

    pub fn following(&self) -> bool {
        self.selected.is_none() && !self.paused
    }

    /// Takes newly committed events (in seq order).
    pub fn push(&mut self, events: Vec<Event>) {
        if self.paused {
            self.new_while_paused += events.iter().filter(|e| self.filter.matches(e)).count();
            self.held.extend(events);
            while self.held.len() > self.capacity {
                self.held.pop_front();
            }
        } else {
            self.append(events);
        }
    }

    fn append(&mut self, events: impl IntoIterator<Item = Event>) {
        self.events.extend(events);
        while self.events.len() > self.capacity {
            self.events.pop_front();
            self.oldest_reached = false;
        }
    }

    /// Older events fetched from the daemon, oldest first, put before the buffer's first.
    pub fn prepend(&mut self, older: Vec<Event>, asked: u32) {
        if (older.len() as u32) < asked {
            self.oldest_reached = true;
        }
        let room = self.capacity.saturating_sub(self.events.len());
        let skip = older.len().saturating_sub(room);
        let shift = self.shown_count_of(&older[skip..]);
        for event in older.into_iter().skip(skip).rev() {
            self.events.push_front(event);
        }
        if let Some(selected) = self.selected.as_mut() {
            *selected += shift;
        }
    }

    fn shown_count_of(&self, events: &[Event]) -> usize {
        events.iter().filter(|e| self.filter.matches(e)).count()
    }

    /// The seq before which older events are to be asked for.
    pub fn first_seq(&self) -> Option<u64> {
        self.events.front().map(|e| e.seq)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn toggle_pause(&mut self) {
        if self.paused {
            self.paused = false;
            self.new_while_paused = 0;
            let held: Vec<Event> = self.held.drain(..).collect();
            self.append(held);
            self.selected = None;
        } else {
            self.paused = true;
        }
    }

    /// The events that pass the filter, oldest first.
    pub fn shown(&self) -> Vec<&Event> {
        self.events
            .iter()
            .filter(|e| self.filter.matches(e))
            .collect()
    }

    pub fn selected_event(&self) -> Option<&Event> {
        let shown = self.shown();
        let index = self.selected.unwrap_or(shown.len().checked_sub(1)?);
        shown.get(index).copied()
    }

    /// Moves the selection by `delta` rows; moving past the newest follows again.
    pub fn move_selection(&mut self, delta: isize) {
        let count = self.shown().len();
        if count == 0 {
            return;
        }
        let current = self.selected.unwrap_or(count - 1) as isize;
        let next = current + delta;
        self.selected = if next >= count as isize {
            None
        } else {
            Some(next.max(0) as usize)
        };
    }

    pub fn follow(&mut self) {
        self.selected = None;
        if self.paused {
            self.toggle_pause();
        }
    }

    pub fn set_filter(&mut self, filter: Filter) {
        self.filter = filter;
        self.selected = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::payment_event;

    #[test]
    fn the_buffer_is_bounded_and_follows_the_newest() {
        let mut feed = Feed::new(100);
        feed.push(
            (1..=250)
                .map(|s| payment_event(s, EventKind::PaymentReceived, "A", "x"))
                .collect(),
        );
        assert_eq!(feed.len(), 100);
        assert_eq!(feed.first_seq(), Some(151));
        assert_eq!(feed.selected_event().unwrap().seq, 250);
        assert!(feed.following());
    }

    #[test]
    fn paused_it_holds_what_arrives_and_resuming_jumps_to_the_newest() {
        let mut feed = Feed::new(100);
        feed.push(vec![payment_event(1, EventKind::PaymentReceived, "A", "x")]);
        feed.toggle_pause();
        feed.push(
            (2..=6)
                .map(|s| payment_event(s, EventKind::PaymentApproved, "A", "x"))
                .collect(),
        );
        assert_eq!(feed.new_while_paused, 5);
        assert_eq!(feed.shown().len(), 1, "the display stays still");
        feed.toggle_pause();
        assert_eq!(feed.shown().len(), 6);
        assert_eq!(feed.selected_event().unwrap().seq, 6);
        assert_eq!(feed.new_while_paused, 0);
    }

    #[test]
    fn filters_or_within_a_field_and_and_across() {
        let events = [
            payment_event(1, EventKind::PaymentApproved, "DMV-RENEWAL", "Ada Lovelace"),
            payment_event(2, EventKind::PaymentDeclined, "DMV-RENEWAL", "Grace Hopper"),
            payment_event(3, EventKind::PaymentApproved, "PARK-RESERVE", "Ada Byron"),
        ];
        let shown = |line: &str| -> Vec<u64> {
            let filter = Filter::parse(line).unwrap();
            events
                .iter()
                .filter(|e| filter.matches(e))
                .map(|e| e.seq)
                .collect()
        };
        assert_eq!(shown(""), [1, 2, 3]);
        assert_eq!(shown("app:dmv-renewal"), [1, 2]);
        assert_eq!(
            shown("app:DMV-RENEWAL,PARK-RESERVE status:approved"),
            [1, 3]
        );
        assert_eq!(shown("kind:declined"), [2]);
        assert_eq!(shown("ada"), [1, 3]);
        assert_eq!(shown("ada hopper"), [1, 2, 3]);
        assert_eq!(shown("app:PARK-RESERVE ada"), [3]);
        assert_eq!(shown("7mre-s8ee-g"), [1, 3]);
        assert_eq!(shown("kind:security"), Vec::<u64>::new());
        assert!(
            Filter::parse("colour:red")
                .unwrap_err()
                .contains("app:, status:, kind:, agent:, mode:")
        );
        assert!(Filter::parse("mode:kiosk").unwrap_err().contains("gateway"));
        assert!(
            Filter::parse("status:pending")
                .unwrap_err()
                .contains("approved")
        );
    }

    #[test]
    fn filters_by_who_keyed_the_payment_and_its_channel() {
        let mut gateway = payment_event(2, EventKind::PaymentApproved, "DMV-RENEWAL", "Ada");
        if let EventDetail::Payment { keyed_by, mode, .. } = &mut gateway.detail {
            *keyed_by = "dmv-api".into();
            *mode = Mode::Gateway;
        }
        let events = [
            payment_event(1, EventKind::PaymentApproved, "DMV-RENEWAL", "Ada"),
            gateway,
            crate::testing::security_event(3, EventKind::Lockout, "agent1"),
        ];
        let shown = |line: &str| -> Vec<u64> {
            let filter = Filter::parse(line).unwrap();
            events
                .iter()
                .filter(|e| filter.matches(e))
                .map(|e| e.seq)
                .collect()
        };
        assert_eq!(shown("agent:AGENT1"), [1, 3]);
        assert_eq!(shown("mode:gateway"), [2]);
        assert_eq!(shown("mode:full,gateway"), [1, 2]);
        assert_eq!(shown("agent:agent1 mode:full"), [1]);
    }

    #[test]
    fn older_events_go_before_the_first_and_the_selection_stays_on_its_event() {
        let mut feed = Feed::new(100);
        feed.push(
            (51..=60)
                .map(|s| payment_event(s, EventKind::PaymentReceived, "A", "x"))
                .collect(),
        );
        feed.move_selection(-2);
        let before = feed.selected_event().unwrap().seq;
        feed.prepend(
            (41..=50)
                .map(|s| payment_event(s, EventKind::PaymentReceived, "A", "x"))
                .collect(),
            10,
        );
        assert_eq!(feed.first_seq(), Some(41));
        assert_eq!(feed.selected_event().unwrap().seq, before);
        assert!(!feed.oldest_reached);
        feed.prepend(
            vec![payment_event(40, EventKind::PaymentReceived, "A", "x")],
            10,
        );
        assert!(feed.oldest_reached);
    }
}
