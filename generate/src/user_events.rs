//! Synthetic user events (seed 004): sessions of a user base that grows over time walk a
//! shop's funnel — log in, view pages, put things in the cart, buy, log out — so views
//! far outnumber carts, and carts purchases. Deterministic for a seed; with a bad ratio,
//! some events are malformed JSON, lack their user, or carry a time that is not one.

use super::RecordSource;
use super::draw::{cut_short, time_of, uuid};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// Pages of the shop; product pages are numbered.
const PAGES: &[&str] = &["/", "/search", "/deals", "/account", "/help"];
const PRODUCTS: u32 = 200;

/// Sessions going on at once.
const SESSIONS: usize = 64;

/// One event as the shop sends it.
#[derive(Debug, Serialize)]
pub struct UserEvent {
    pub event_id: String,
    pub user_id: Option<String>,
    pub session_id: String,
    pub event_type: &'static str,
    pub page: String,
    pub source: &'static str,
    /// Only for purchases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<f64>,
    pub ts: String,
}

/// How events are made.
#[derive(Debug, Clone)]
pub struct UserEventOptions {
    pub seed: u64,
    /// Events are spread over `[start, start + span)` in order, `count` of them...
    pub count: u64,
    pub start: DateTime<Utc>,
    pub span: Duration,
    /// ...unless they are live: then each is stamped with the time it is made.
    pub live: bool,
    /// Users at the start; one more joins every `events_per_new_user` events.
    pub users: u64,
    pub events_per_new_user: u64,
    /// Share of bad events.
    pub bad_ratio: f64,
}

/// Where a session is in the funnel.
#[derive(Clone, Copy)]
enum Step {
    Arriving,
    Browsing,
    Carted,
}

struct Session {
    id: String,
    user: u64,
    source: &'static str,
    step: Step,
    /// The product last looked at, the one carted or bought.
    product: u32,
}

/// An endless, deterministic source of user events (JSON text) keyed by user.
pub struct UserEventGenerator {
    rng: StdRng,
    options: UserEventOptions,
    sessions: Vec<Option<Session>>,
    produced: u64,
}

impl UserEventGenerator {
    /// A generator for these options.
    pub fn new(options: UserEventOptions) -> Result<Self, String> {
        if options.users == 0 || options.events_per_new_user == 0 {
            return Err("--users and the growth must be at least 1".into());
        }
        Ok(Self {
            rng: StdRng::seed_from_u64(options.seed),
            options,
            sessions: (0..SESSIONS).map(|_| None).collect(),
            produced: 0,
        })
    }

    /// A new session of a user of today's user base (newer users are as active as old).
    fn new_session(&mut self, n: u64) -> Session {
        let users = self.options.users + n / self.options.events_per_new_user;
        Session {
            id: uuid(&mut self.rng),
            user: self.rng.random_range(1..=users),
            source: if self.rng.random_bool(0.62) {
                "mobile"
            } else {
                "web"
            },
            step: Step::Arriving,
            product: self.rng.random_range(1..=PRODUCTS),
        }
    }

    fn event(&mut self, n: u64) -> UserEvent {
        let slot = self.rng.random_range(0..SESSIONS);
        let mut session = match self.sessions[slot].take() {
            Some(s) => s,
            None => self.new_session(n),
        };
        let roll: f64 = self.rng.random();
        let (event_type, ends) = match session.step {
            Step::Arriving if roll < 0.6 => ("login", false),
            Step::Arriving => ("page_view", false),
            Step::Browsing if roll < 0.78 => ("page_view", false),
            Step::Browsing if roll < 0.9 => ("add_to_cart", false),
            Step::Browsing => ("logout", true),
            Step::Carted if roll < 0.5 => ("page_view", false),
            Step::Carted if roll < 0.8 => ("purchase", false),
            Step::Carted => ("add_to_cart", false),
        };
        let page = match event_type {
            "login" | "logout" => "/account".to_string(),
            "add_to_cart" => "/cart".to_string(),
            "purchase" => format!("/products/{}", session.product),
            _ if self.rng.random_bool(0.55) => {
                session.product = self.rng.random_range(1..=PRODUCTS);
                format!("/products/{}", session.product)
            }
            _ => PAGES[self.rng.random_range(0..PAGES.len())].to_string(),
        };
        let amount = (event_type == "purchase").then(|| {
            let cents = 500 + (session.product * 137 % 20_000) as i64;
            cents as f64 / 100.0
        });
        session.step = match (event_type, session.step) {
            ("add_to_cart", _) => Step::Carted,
            ("purchase", _) | (_, Step::Arriving) => Step::Browsing,
            (_, step) => step,
        };
        let event = UserEvent {
            event_id: uuid(&mut self.rng),
            user_id: Some(format!("u{:07}", session.user)),
            session_id: session.id.clone(),
            event_type,
            page,
            source: session.source,
            amount,
            ts: time_of(
                n,
                self.options.count,
                self.options.start,
                self.options.span,
                self.options.live,
            )
            .to_rfc3339_opts(SecondsFormat::Millis, true),
        };
        if !ends {
            self.sessions[slot] = Some(session);
        }
        event
    }

    /// An event silver must quarantine: broken JSON, no user, or no time.
    fn bad(&mut self, mut event: UserEvent) -> String {
        match self.rng.random_range(0..3) {
            0 => {
                return cut_short(&event);
            }
            1 => event.user_id = None,
            _ => event.ts = "soon".into(),
        }
        serde_json::to_string(&event).unwrap_or_default()
    }
}

impl RecordSource for UserEventGenerator {
    fn next_record(&mut self) -> (String, String) {
        let n = self.produced;
        self.produced += 1;
        let event = self.event(n);
        let key = event.user_id.clone().unwrap_or_default();
        let json = if self.rng.random_bool(self.options.bad_ratio) {
            self.bad(event)
        } else {
            serde_json::to_string(&event).unwrap_or_default()
        };
        (key, json)
    }

    fn name(&self) -> &'static str {
        "user_events"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashSet};

    fn options(seed: u64, bad_ratio: f64) -> UserEventOptions {
        UserEventOptions {
            seed,
            count: 20_000,
            start: "2026-01-01T00:00:00Z".parse().unwrap(),
            span: Duration::hours(24),
            live: false,
            users: 500,
            events_per_new_user: 20,
            bad_ratio,
        }
    }

    fn events(seed: u64, bad_ratio: f64) -> Vec<(String, String)> {
        let mut g = UserEventGenerator::new(options(seed, bad_ratio)).unwrap();
        (0..20_000).map(|_| g.next_record()).collect()
    }

    #[test]
    fn funnels_narrow_and_the_user_base_grows() {
        let all = events(5, 0.0);
        assert_eq!(all, events(5, 0.0));
        let parsed: Vec<serde_json::Value> = all
            .iter()
            .map(|(_, j)| serde_json::from_str(j).unwrap())
            .collect();
        let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
        for v in &parsed {
            *kinds.entry(v["event_type"].as_str().unwrap()).or_default() += 1;
            let purchase = v["event_type"] == "purchase";
            assert_eq!(
                v["amount"].as_f64().is_some_and(|a| a > 0.0),
                purchase,
                "{v}"
            );
        }
        let n = |k: &str| kinds.get(k).copied().unwrap_or(0);
        assert!(n("page_view") > 3 * n("add_to_cart"), "{kinds:?}");
        assert!(
            n("add_to_cart") > n("purchase") && n("purchase") > 100,
            "{kinds:?}"
        );
        assert!(n("login") > 0 && n("logout") > 0, "{kinds:?}");
        let users = |part: &[serde_json::Value]| -> HashSet<String> {
            part.iter()
                .map(|v| v["user_id"].as_str().unwrap().to_string())
                .collect()
        };
        let max_user = |part: &[serde_json::Value]| users(part).into_iter().max().unwrap();
        assert!(
            max_user(&parsed[15_000..]) > max_user(&parsed[..5_000]),
            "new users join"
        );
        let bad = events(6, 0.1)
            .iter()
            .filter(|(_, j)| {
                serde_json::from_str::<serde_json::Value>(j)
                    .map_or(true, |v| v["user_id"].is_null() || v["ts"] == "soon")
            })
            .count();
        assert!((1_600..2_400).contains(&bad), "about 10 % bad, got {bad}");
    }
}
