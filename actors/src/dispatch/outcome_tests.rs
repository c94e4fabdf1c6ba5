use std::time::UNIX_EPOCH;

use rand::rngs::StdRng;
use rand::SeedableRng;
use reqwest::header::HeaderValue;

use super::*;
use crate::outbound::OutboundPolicy;

fn headers(retry_after: Option<&str>) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Some(v) = retry_after {
        h.insert(RETRY_AFTER, HeaderValue::from_str(v).unwrap());
    }
    h
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

#[test]
fn status_table() {
    let now = at(1_700_000_000);
    let none = headers(None);
    for s in [200, 201, 202, 204, 299] {
        assert_eq!(classify_status(s, &none, now), Verdict::Delivered, "{s}");
    }
    assert_eq!(classify_status(401, &none, now), Verdict::Unauthorized);
    for s in [408, 425, 429, 500, 502, 503, 504, 599] {
        assert_eq!(
            classify_status(s, &none, now),
            Verdict::RetryLater {
                retry_after: None,
                reason: format!("HTTP {s}")
            },
            "{s}"
        );
    }
    for s in [400, 403, 404, 405, 409, 410, 413, 422, 499] {
        assert_eq!(
            classify_status(s, &none, now),
            Verdict::FailedForGood {
                reason: format!("HTTP {s}")
            },
            "{s}"
        );
    }
    for s in [301, 302, 303, 307, 308] {
        match classify_status(s, &none, now) {
            Verdict::FailedForGood { reason } => assert!(reason.contains("redirect"), "{reason}"),
            other => panic!("{s}: {other:?}"),
        }
    }
    assert!(matches!(
        classify_status(103, &none, now),
        Verdict::FailedForGood { .. }
    ));
}

#[test]
fn retry_after_in_seconds_and_as_http_dates() {
    let now = at(1_700_000_000);
    let delay = |v: &str| match classify_status(503, &headers(Some(v)), now) {
        Verdict::RetryLater { retry_after, .. } => retry_after,
        other => panic!("{other:?}"),
    };
    assert_eq!(delay("120"), Some(Duration::from_secs(120)));
    assert_eq!(delay(" 0 "), Some(Duration::ZERO));
    assert_eq!(
        delay(&httpdate::fmt_http_date(now + Duration::from_secs(90))),
        Some(Duration::from_secs(90))
    );
    assert_eq!(
        delay(&httpdate::fmt_http_date(now - Duration::from_secs(90))),
        Some(Duration::ZERO),
        "a date in the past: at once"
    );
    for junk in ["soon", "-5", "1.5", ""] {
        assert_eq!(delay(junk), None, "{junk:?}");
    }
    // RFC 9110's obsolete forms: RFC 850 and asctime.
    let then = at(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
    let sixty = then - Duration::from_secs(60);
    for v in [
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
    ] {
        assert_eq!(
            retry_after(&headers(Some(v)), sixty),
            Some(Duration::from_secs(60)),
            "{v}"
        );
    }
    // 429 carries it too.
    assert_eq!(
        classify_status(429, &headers(Some("7")), now),
        Verdict::RetryLater {
            retry_after: Some(Duration::from_secs(7)),
            reason: "HTTP 429".into()
        }
    );
}

#[test]
fn retry_after_is_honoured_within_the_cap_and_never_early() {
    let p = RetryPolicy::default();
    let mut rng = StdRng::seed_from_u64(7);
    let first = at(1_700_000_000);
    let now = first + Duration::from_secs(30);
    for _ in 0..200 {
        // Honoured, even where the schedule would wait far longer (attempt 9: about 2 h).
        let next = p
            .next_attempt(9, first, Some(Duration::from_secs(40)), now, &mut rng)
            .unwrap();
        let wait = next.duration_since(now).unwrap();
        assert!(wait >= Duration::from_secs(40) && wait <= Duration::from_secs(48));
        // Ten hours asked: cut to the one-hour cap.
        let next = p
            .next_attempt(1, first, Some(Duration::from_secs(36_000)), now, &mut rng)
            .unwrap();
        let wait = next.duration_since(now).unwrap();
        assert!(wait >= p.retry_after_cap && wait <= p.retry_after_cap.mul_f64(1.2));
        // Zero asked: not a hot loop.
        let next = p
            .next_attempt(1, first, Some(Duration::ZERO), now, &mut rng)
            .unwrap();
        assert!(next.duration_since(now).unwrap() >= p.min_delay);
    }
}

#[test]
fn the_time_to_live_ends_the_retries_with_a_last_attempt_at_its_end() {
    let p = RetryPolicy {
        ttl: Duration::from_secs(600),
        ..RetryPolicy::default()
    };
    let mut rng = StdRng::seed_from_u64(1);
    let first = at(1_000_000);
    // Early on: the schedule.
    let next = p.next_attempt(1, first, None, first, &mut rng).unwrap();
    assert!(next <= first + Duration::from_secs(3));
    // Attempt 7 would wait about 24 min: the last attempt is at the end of the TTL.
    let now = first + Duration::from_secs(500);
    assert_eq!(
        p.next_attempt(7, first, None, now, &mut rng),
        Some(first + Duration::from_secs(600))
    );
    assert_eq!(
        p.next_attempt(7, first, Some(Duration::from_secs(3600)), now, &mut rng),
        Some(first + Duration::from_secs(600))
    );
    // At or after the end: failed.
    for late in [600, 601, 86_400] {
        let now = first + Duration::from_secs(late);
        assert_eq!(
            p.next_attempt(8, first, None, now, &mut rng),
            None,
            "{late}"
        );
    }
    // The default TTL is a day.
    assert_eq!(RetryPolicy::default().ttl, Duration::from_secs(86_400));
}

#[test]
fn the_schedule_escalates_from_seconds_to_minutes_to_hours_with_bounded_jitter() {
    let p = RetryPolicy::default();
    let mut rng = StdRng::seed_from_u64(42);
    let first = at(1_700_000_000);
    assert_eq!(p.scheduled_delay(1), Duration::from_secs(2));
    assert!(p.scheduled_delay(4) < Duration::from_secs(60), "seconds");
    assert!(
        p.scheduled_delay(5) >= Duration::from_secs(60),
        "then minutes"
    );
    assert!(
        p.scheduled_delay(8) >= Duration::from_secs(3600),
        "then hours"
    );
    assert_eq!(p.scheduled_delay(1000), p.max_delay, "capped");
    let mut previous = Duration::ZERO;
    for attempts in 1..40 {
        let nominal = p.scheduled_delay(attempts);
        assert!(nominal >= previous, "the schedule never shrinks");
        // Jittered waits stay inside their band, and the band of the next attempt starts
        // above this one's until the cap.
        let (lo, hi) = (nominal.mul_f64(0.8), nominal.mul_f64(1.2));
        if nominal < p.max_delay && p.scheduled_delay(attempts + 1) < p.max_delay {
            assert!(p.scheduled_delay(attempts + 1).mul_f64(0.8) > hi);
        }
        for _ in 0..50 {
            let wait = p
                .next_attempt(attempts, first, None, first, &mut rng)
                .unwrap()
                .duration_since(first)
                .unwrap();
            assert!(wait >= lo && wait <= hi, "{attempts}: {wait:?}");
        }
        previous = nominal;
    }
}

#[test]
fn excerpts_are_bounded_and_utf8_safe() {
    assert_eq!(excerpt(b"", 10), "");
    assert_eq!(excerpt(b"{\"error\":\"x\"}", 100), "{\"error\":\"x\"}");
    assert_eq!(excerpt(b"abcdef", 3), "abc…");
    // "é" is two bytes: a cut inside it drops it instead of breaking it.
    assert_eq!(excerpt("ééé".as_bytes(), 3), "é…");
    assert_eq!(excerpt("ééé".as_bytes(), 4), "éé…");
    assert_eq!(excerpt("€".as_bytes(), 2), "…");
    // Invalid bytes become U+FFFD.
    assert_eq!(excerpt(b"ok\xff\xfeok", 100), "ok\u{fffd}\u{fffd}ok");
    let big = vec![b'x'; 1 << 20];
    assert_eq!(excerpt(&big, 512).len(), 512 + '…'.len_utf8());
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test]
async fn transport_errors_are_retried_and_refusals_fail_for_good() {
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    // Connection refused.
    let url = format!("http://127.0.0.1:{}/calls?from=%2B3161234", closed_port());
    let e = plain.get(&url).send().await.unwrap_err();
    match classify_error(&e) {
        Verdict::RetryLater {
            retry_after: None,
            reason,
        } => {
            assert!(reason.starts_with("connection failed"), "{reason}");
            assert!(!reason.contains("3161234"), "no URL: {reason}");
        }
        other => panic!("{other:?}"),
    }
    // A server that accepts and never answers: a timeout.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", silent.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let e = plain.get(&url).send().await.unwrap_err();
    assert!(
        matches!(classify_error(&e), Verdict::RetryLater { reason, .. } if reason.starts_with("timed out"))
    );
    hold.abort();
    // A name that resolves to loopback, refused by the outbound rule after DNS.
    let guarded = OutboundPolicy::default()
        .http_client(Duration::from_secs(2))
        .unwrap();
    let e = guarded
        .request(reqwest::Method::POST, "http://localhost:9/x")
        .unwrap()
        .send()
        .await
        .unwrap_err();
    match classify_error(&e) {
        Verdict::FailedForGood { reason } => {
            assert!(reason.contains("outbound rule"), "{reason}");
            assert!(reason.contains("non-public"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // A request that cannot be built.
    let e = plain.get("http://exa mple.org/").send().await.unwrap_err();
    assert!(matches!(classify_error(&e), Verdict::FailedForGood { .. }));
}
