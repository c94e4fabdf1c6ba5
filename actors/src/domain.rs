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

/// Declares the id of one table's rows: an `i64` that cannot be mistaken for another table's.
macro_rules! row_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
            sqlx::Type,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[cfg_attr(feature = "openapi", schema(value_type = i64))]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<i64> for $name {
            fn from(id: i64) -> Self {
                $name(id)
            }
        }
    };
}

row_id!(
    /// The id of a `xelion_contexts` row (the `{xelionContextId}` of the API).
    XelionContextId
);
row_id!(
    /// The id of a `crm_contexts` row (`{crmContextId}`).
    CrmContextId
);
row_id!(
    /// The id of a `user_credentials` row (`{userId}`).
    UserId
);
row_id!(
    /// The id of an `event_uri_mappings` row.
    MappingId
);
row_id!(
    /// The id of a `deliveries` row: monotonic, so a call's deliveries go out in id order;
    /// sent as the `Idempotency-Key`.
    DeliveryId
);

row_id!(
    /// The id of an `app_contexts` row: one Xelion app user's OAuth credentials for one
    /// external service.
    AppContextId
);

/// Whose OAuth token a token actor keeps fresh: a user of a crm context (deliveries) or a
/// Xelion app user's app context (external API calls). The credentials and the token state
/// live in that owner's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenOwner {
    /// A `user_credentials` row.
    User(UserId),
    /// An `app_contexts` row.
    App(AppContextId),
}

impl TokenOwner {
    /// The user, if the owner is one.
    pub fn user(self) -> Option<UserId> {
        match self {
            TokenOwner::User(u) => Some(u),
            TokenOwner::App(_) => None,
        }
    }
}

impl fmt::Display for TokenOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenOwner::User(u) => write!(f, "user {u}"),
            TokenOwner::App(a) => write!(f, "app context {a}"),
        }
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Accepted, not sent yet (or sent and not answered before a crash).
    Pending,
    /// Sent and refused for a reason that may pass; sent again when due.
    Retrying,
    /// Not attempted: the user's credentials must be updated first.
    Held,
    /// The CRM answered 2xx.
    Delivered,
    /// Given up, with the reason; the retry endpoint sends it again.
    Failed,
}

impl DeliveryStatus {
    /// Every status.
    pub const ALL: [DeliveryStatus; 5] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Retrying,
        DeliveryStatus::Held,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
    ];

    /// The name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Retrying => "retrying",
            DeliveryStatus::Held => "held",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of [`DeliveryStatus::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not one of pending, retrying, held, delivered, failed")]
pub struct UnknownStatus(pub String);

impl FromStr for DeliveryStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeliveryStatus::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_string()))
    }
}

/// `http` or `https`: how the Xelion REST API and websocket are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Plain HTTP and `ws://`.
    Http,
    /// TLS and `wss://`.
    Https,
}

impl Protocol {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Https => "https",
        }
    }
    /// Parses a stored value (anything but `http` is `https`).
    pub fn from_stored(s: &str) -> Self {
        if s.eq_ignore_ascii_case("http") {
            Protocol::Http
        } else {
            Protocol::Https
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Protocol {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The HTTP method a mapping delivers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// `GET`.
    Get,
    /// `POST`, the default.
    #[default]
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
}

impl HttpMethod {
    /// Every method a mapping may use.
    pub const ALL: [HttpMethod; 5] = [
        HttpMethod::Get,
        HttpMethod::Post,
        HttpMethod::Put,
        HttpMethod::Patch,
        HttpMethod::Delete,
    ];

    /// The upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }

    /// The method as the HTTP client names it.
    pub fn to_reqwest(self) -> reqwest::Method {
        match self {
            HttpMethod::Get => reqwest::Method::GET,
            HttpMethod::Post => reqwest::Method::POST,
            HttpMethod::Put => reqwest::Method::PUT,
            HttpMethod::Patch => reqwest::Method::PATCH,
            HttpMethod::Delete => reqwest::Method::DELETE,
        }
    }
}

impl fmt::Display for HttpMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for HttpMethod {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A name that is not one of [`HttpMethod::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not one of GET, POST, PUT, PATCH, DELETE")]
pub struct UnknownMethod(pub String);

impl FromStr for HttpMethod {
    type Err = UnknownMethod;
    /// Case-insensitive, as clients write `post` as often as `POST`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HttpMethod::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownMethod(s.to_string()))
    }
}

/// Which OAuth 2.0 credential of a user `POST /api/users/{id}/{type}/update` replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    /// `clientid`, stored in clear.
    ClientId,
    /// `clientsecret`.
    ClientSecret,
    /// `refreshtoken`.
    RefreshToken,
    /// `devicecode`.
    DeviceCode,
}

impl CredentialKind {
    /// The name in the path.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::ClientId => "clientid",
            CredentialKind::ClientSecret => "clientsecret",
            CredentialKind::RefreshToken => "refreshtoken",
            CredentialKind::DeviceCode => "devicecode",
        }
    }
}

impl fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An `{oauthCredentialsType}` that is not one of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "oauthCredentialsType `{0}` is not one of clientid, clientsecret, refreshtoken, devicecode"
)]
pub struct UnknownCredentialKind(pub String);

impl FromStr for CredentialKind {
    type Err = UnknownCredentialKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            CredentialKind::ClientId,
            CredentialKind::ClientSecret,
            CredentialKind::RefreshToken,
            CredentialKind::DeviceCode,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| UnknownCredentialKind(s.to_string()))
    }
}

impl PartialEq<&str> for XelionEvent {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
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

    #[test]
    fn methods_parse_case_insensitively_and_only_the_five() {
        for m in HttpMethod::ALL {
            assert_eq!(m.as_str().to_lowercase().parse::<HttpMethod>(), Ok(m));
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
        assert!("HEAD".parse::<HttpMethod>().is_err());
    }

    #[test]
    fn delivery_statuses_round_trip() {
        for d in DeliveryStatus::ALL {
            assert_eq!(d.as_str().parse::<DeliveryStatus>(), Ok(d));
            assert_eq!(serde_json::to_value(d).unwrap(), d.as_str());
        }
        let err = "done".parse::<DeliveryStatus>().unwrap_err().to_string();
        assert!(err.contains("`done`") && err.contains("failed"), "{err}");
    }

    #[test]
    fn ids_are_plain_numbers_in_json() {
        assert_eq!(serde_json::to_value(UserId(7)).unwrap(), 7);
        assert_eq!(
            serde_json::from_value::<MappingId>(serde_json::json!(3)).unwrap(),
            MappingId(3)
        );
    }
}
