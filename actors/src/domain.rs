//! Domain values as types: what the pipeline routes on is checked once, where it enters.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A call event type of the Xelion websocket (the `notificationType` of a frame, the
/// `xelionEvent` of a mapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum XelionEvent {
    /// A call starts ringing.
    #[serde(rename = "newCallEvent")]
    NewCall,
    /// A call was answered.
    #[serde(rename = "callConnectedEvent")]
    CallConnected,
    /// A call ended.
    #[serde(rename = "callHungUpEvent")]
    CallHungUp,
    /// One side of a call hung up.
    #[serde(rename = "channelHungUpEvent")]
    ChannelHungUp,
    /// A call was not answered.
    #[serde(rename = "missedCallEvent")]
    MissedCall,
}

impl XelionEvent {
    /// Every event type, in the order Xelion documents them.
    pub const ALL: [XelionEvent; 5] = [
        XelionEvent::NewCall,
        XelionEvent::CallConnected,
        XelionEvent::CallHungUp,
        XelionEvent::ChannelHungUp,
        XelionEvent::MissedCall,
    ];

    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            XelionEvent::NewCall => "newCallEvent",
            XelionEvent::CallConnected => "callConnectedEvent",
            XelionEvent::CallHungUp => "callHungUpEvent",
            XelionEvent::ChannelHungUp => "channelHungUpEvent",
            XelionEvent::MissedCall => "missedCallEvent",
        }
    }
}

impl fmt::Display for XelionEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of [`XelionEvent::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown xelionEvent `{0}`; expected one of newCallEvent, callConnectedEvent, callHungUpEvent, channelHungUpEvent, missedCallEvent")]
pub struct UnknownEvent(pub String);

impl FromStr for XelionEvent {
    type Err = UnknownEvent;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        XelionEvent::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| UnknownEvent(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_round_trip() {
        for e in XelionEvent::ALL {
            assert_eq!(e.as_str().parse::<XelionEvent>(), Ok(e));
            assert_eq!(serde_json::to_value(e).unwrap(), e.as_str());
        }
        assert!("newcallevent".parse::<XelionEvent>().is_err());
    }
}
