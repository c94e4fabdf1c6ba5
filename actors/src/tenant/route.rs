//! Routing: which deliveries one call event makes. The registered users involved are those
//! whose Xelion username or oid is the event's `callerUser` or `calleeUser`; each of them gets
//! one delivery per mapping of the event's type in their crm context.

use std::collections::HashMap;

use crate::domain::{CrmContextId, MappingId, UserId, XelionContextId, XelionEvent};
use crate::store::NewDelivery;
use crate::store::{EventUriMapping, UserCredentials};

use super::event::CallEvent;

/// The routing table of one tenant, rebuilt whenever its users or mappings change.
#[derive(Debug, Default, Clone)]
pub struct Routes {
    /// Username or oid -> the registrations with that name (one per crm context).
    users: HashMap<String, Vec<(CrmContextId, UserId)>>,
    /// The mappings of each crm context and event type, in id order.
    mappings: HashMap<(CrmContextId, XelionEvent), Vec<MappingId>>,
}

impl Routes {
    /// The table for these users and mappings.
    pub fn new(users: &[UserCredentials], mappings: &[EventUriMapping]) -> Routes {
        let mut routes = Routes::default();
        for u in users {
            let reg = (u.crm_context_id, u.id);
            for name in [&u.xelion_username, &u.xelion_oid] {
                if name.is_empty() {
                    continue;
                }
                let regs = routes.users.entry(name.clone()).or_default();
                if !regs.contains(&reg) {
                    regs.push(reg);
                }
            }
        }
        for m in mappings {
            routes
                .mappings
                .entry((m.crm_context_id, m.xelion_event))
                .or_default()
                .push(m.id);
        }
        for ids in routes.mappings.values_mut() {
            ids.sort();
        }
        routes
    }

    /// The deliveries `event` makes; empty when no registered user is involved or no mapping
    /// takes its type.
    pub fn deliveries(&self, xid: XelionContextId, event: &CallEvent) -> Vec<NewDelivery> {
        let mut involved: Vec<(CrmContextId, UserId)> = Vec::new();
        for name in [event.caller_user(), event.callee_user()]
            .into_iter()
            .flatten()
        {
            for reg in self.users.get(name).into_iter().flatten() {
                if !involved.contains(reg) {
                    involved.push(*reg);
                }
            }
        }
        let call_id = event.call_id().unwrap_or("").to_string();
        let mut out = Vec::new();
        for (crm, user) in involved {
            for mapping in self.mappings.get(&(crm, event.event)).into_iter().flatten() {
                out.push(NewDelivery {
                    xelion_context_id: xid,
                    crm_context_id: crm,
                    user_id: user,
                    mapping_id: *mapping,
                    xelion_event: event.event,
                    call_id: call_id.clone(),
                    event: event.fields.clone(),
                });
            }
        }
        out
    }

    /// Whether the table still routes events to `d`'s user and mapping (after a change, a
    /// delivery made before may name a user or mapping that is gone).
    pub fn still_routes(&self, d: &NewDelivery) -> bool {
        let mapped = self
            .mappings
            .get(&(d.crm_context_id, d.xelion_event))
            .is_some_and(|ids| ids.contains(&d.mapping_id));
        mapped
            && self
                .users
                .values()
                .any(|regs| regs.contains(&(d.crm_context_id, d.user_id)))
    }

    /// Whether any user is registered (an event can make a delivery at all).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() || self.mappings.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::HttpMethod;
    use serde_json::json;

    fn user(id: i64, crm: i64, name: &str, oid: &str) -> UserCredentials {
        UserCredentials {
            id: UserId(id),
            xelion_context_id: XelionContextId(1),
            crm_context_id: CrmContextId(crm),
            xelion_username: name.into(),
            xelion_oid: oid.into(),
            client_id: None,
            created_at: String::new(),
        }
    }

    fn mapping(id: i64, crm: i64, event: XelionEvent) -> EventUriMapping {
        EventUriMapping {
            id: MappingId(id),
            crm_context_id: CrmContextId(crm),
            xelion_event: event,
            crm_resource_uri: "http://crm/x".into(),
            crm_resource_payload: None,
            method: HttpMethod::Post,
            headers: None,
            created_at: String::new(),
        }
    }

    fn event(kind: XelionEvent, fields: serde_json::Value) -> CallEvent {
        CallEvent {
            event: kind,
            fields: std::sync::Arc::new(fields.as_object().unwrap().clone()),
        }
    }

    fn routes() -> Routes {
        Routes::new(
            &[
                user(1, 10, "alice", "oid-a"),
                user(2, 10, "bob", "oid-b"),
                user(3, 20, "alice", "oid-a"),
            ],
            &[
                mapping(100, 10, XelionEvent::NewCall),
                mapping(101, 10, XelionEvent::NewCall),
                mapping(102, 10, XelionEvent::CallHungUp),
                mapping(200, 20, XelionEvent::NewCall),
            ],
        )
    }

    #[test]
    fn each_user_involved_gets_each_mapping_of_the_type() {
        let ev = event(
            XelionEvent::NewCall,
            json!({"callId": "c1", "callerUser": "alice", "calleeUser": "oid-b", "x": 1}),
        );
        let out = routes().deliveries(XelionContextId(1), &ev);
        let got: Vec<(i64, i64)> = out.iter().map(|d| (d.user_id.0, d.mapping_id.0)).collect();
        assert_eq!(got, [(1, 100), (1, 101), (3, 200), (2, 100), (2, 101)]);
        assert!(out.iter().all(|d| d.call_id == "c1" && d.event["x"] == 1));
    }

    #[test]
    fn unregistered_users_and_unmapped_types_make_nothing() {
        let r = routes();
        let stranger = event(
            XelionEvent::NewCall,
            json!({"callId": "c", "callerUser": "mallory", "calleeUser": ""}),
        );
        assert!(r.deliveries(XelionContextId(1), &stranger).is_empty());
        let missed = event(
            XelionEvent::MissedCall,
            json!({"callId": "c", "callerUser": "alice"}),
        );
        assert!(r.deliveries(XelionContextId(1), &missed).is_empty());
    }

    #[test]
    fn deliveries_of_a_removed_user_or_mapping_are_no_longer_routed() {
        let ev = event(
            XelionEvent::NewCall,
            json!({"callId": "c1", "callerUser": "alice", "calleeUser": "bob"}),
        );
        let made = routes().deliveries(XelionContextId(1), &ev);
        assert!(made.iter().all(|d| routes().still_routes(d)));
        // bob (user 2) deleted, and mapping 101 with him.
        let after = Routes::new(
            &[user(1, 10, "alice", "oid-a"), user(3, 20, "alice", "oid-a")],
            &[
                mapping(100, 10, XelionEvent::NewCall),
                mapping(200, 20, XelionEvent::NewCall),
            ],
        );
        let kept: Vec<(i64, i64)> = made
            .iter()
            .filter(|d| after.still_routes(d))
            .map(|d| (d.user_id.0, d.mapping_id.0))
            .collect();
        assert_eq!(kept, [(1, 100), (3, 200)]);
    }

    #[test]
    fn a_user_named_on_both_sides_is_delivered_once() {
        let ev = event(
            XelionEvent::CallHungUp,
            json!({"callId": "c", "callerUser": "bob", "calleeUser": "oid-b"}),
        );
        assert_eq!(routes().deliveries(XelionContextId(1), &ev).len(), 1);
    }
}
