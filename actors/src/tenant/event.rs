//! Frames of the Xelion websocket, read into typed call events.
//!
//! A frame is `{"notificationType": "...", "notification": {...}}` (an extra `messageType` is
//! ignored). The notification keeps every field Xelion sent: mappings may name any of them.

use std::sync::Arc;

use serde_json::Value;

use crate::domain::XelionEvent;
use crate::store::EventFields;

/// A call event as Xelion sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct CallEvent {
    /// The event type.
    pub event: XelionEvent,
    /// Every field of the notification, with its JSON type (shared with its deliveries).
    pub fields: EventFields,
}

impl CallEvent {
    /// A string field, if present and a string.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(Value::as_str)
    }

    /// `callId`.
    pub fn call_id(&self) -> Option<&str> {
        self.text("callId")
    }

    /// `callerUser`, when it names a user.
    pub fn caller_user(&self) -> Option<&str> {
        self.text("callerUser").filter(|s| !s.is_empty())
    }

    /// `calleeUser`, when it names a user.
    pub fn callee_user(&self) -> Option<&str> {
        self.text("calleeUser").filter(|s| !s.is_empty())
    }
}

/// Why a frame was not taken as an event. Each is counted; none stops the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rejected {
    /// Not JSON, or not an object.
    Malformed,
    /// A `notificationType` the server does not handle.
    UnknownType,
    /// A call event type without a `notification` object.
    NotACallEvent,
    /// Larger than the limit for one event.
    Oversized,
}

impl Rejected {
    /// The name in the status answer.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejected::Malformed => "malformed",
            Rejected::UnknownType => "unknownType",
            Rejected::NotACallEvent => "notACallEvent",
            Rejected::Oversized => "oversized",
        }
    }
}

/// What a text frame turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// A call event.
    Event(CallEvent),
    /// A frame with no event in it (the echo of a `test` keep-alive, an acknowledgement).
    Other,
    /// A frame that is counted and dropped.
    Rejected(Rejected),
}

/// Reads one text frame; `max_len` bounds what is parsed at all.
pub fn parse_frame(text: &str, max_len: usize) -> Frame {
    if text.len() > max_len {
        return Frame::Rejected(Rejected::Oversized);
    }
    let Ok(Value::Object(mut obj)) = serde_json::from_str::<Value>(text) else {
        return Frame::Rejected(Rejected::Malformed);
    };
    let kind = match obj.get("notificationType") {
        Some(Value::String(kind)) => kind.clone(),
        Some(_) => return Frame::Rejected(Rejected::Malformed),
        None => {
            return if obj.contains_key("messageType") {
                Frame::Other
            } else {
                Frame::Rejected(Rejected::Malformed)
            }
        }
    };
    let Ok(event) = kind.parse::<XelionEvent>() else {
        return Frame::Rejected(Rejected::UnknownType);
    };
    match obj.remove("notification") {
        Some(Value::Object(fields)) => Frame::Event(CallEvent {
            event,
            fields: Arc::new(fields),
        }),
        _ => Frame::Rejected(Rejected::NotACallEvent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_keep_every_field() {
        let f = parse_frame(
            r#"{"messageType":"notification","notificationType":"callConnectedEvent",
                "notification":{"callId":"186ba647df1ef222","callerUser":"alice","duration":12,
                "custom":{"x":[1,2]}}}"#,
            1 << 16,
        );
        let Frame::Event(e) = f else { panic!("{f:?}") };
        assert_eq!(e.event, XelionEvent::CallConnected);
        assert_eq!(e.call_id(), Some("186ba647df1ef222"));
        assert_eq!(e.caller_user(), Some("alice"));
        assert_eq!(e.callee_user(), None);
        assert_eq!(e.fields["duration"], 12);
        assert_eq!(e.fields["custom"]["x"][1], 2);
    }

    #[test]
    fn bad_frames_are_told_apart() {
        let max = 1 << 16;
        assert_eq!(
            parse_frame("not json", max),
            Frame::Rejected(Rejected::Malformed)
        );
        assert_eq!(
            parse_frame("[1]", max),
            Frame::Rejected(Rejected::Malformed)
        );
        assert_eq!(
            parse_frame(
                r#"{"notificationType":"presenceEvent","notification":{}}"#,
                max
            ),
            Frame::Rejected(Rejected::UnknownType)
        );
        assert_eq!(
            parse_frame(
                r#"{"notificationType":"newCallEvent","notification":7}"#,
                max
            ),
            Frame::Rejected(Rejected::NotACallEvent)
        );
        assert_eq!(
            parse_frame(r#"{"messageType":"test","x":1}"#, max),
            Frame::Other
        );
        let huge = format!(
            r#"{{"notificationType":"newCallEvent","pad":"{}"}}"#,
            "x".repeat(max)
        );
        assert_eq!(
            parse_frame(&huge, max),
            Frame::Rejected(Rejected::Oversized)
        );
    }
}
