//! Synthetic tweets with the seeds' schema: skewed (a few hashtags, users, languages and
//! regions dominate, as in real streams), deterministic for a seed, with optional
//! duplicates, late events and malformed records.

use super::RecordSource;
use super::draw::{cut_short, pick, time_of, uuid};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};
use serde::Serialize;

const HASHTAGS: &[&str] = &[
    "rust",
    "data",
    "ai",
    "kafka",
    "lakehouse",
    "delta",
    "spark",
    "python",
    "sql",
    "cloud",
    "devops",
    "ml",
    "bigdata",
    "analytics",
    "opensource",
    "startup",
    "tech",
    "coding",
    "web3",
    "security",
    "football",
    "music",
    "travel",
    "food",
    "news",
    "gaming",
    "movies",
    "science",
    "climate",
    "health",
    "fitness",
    "art",
    "books",
    "photography",
    "crypto",
    "design",
    "nba",
    "f1",
    "olympics",
    "weather",
    "elections",
    "economy",
    "jobs",
    "education",
    "space",
    "cats",
    "dogs",
    "coffee",
    "memes",
    "friday",
];
const WORDS: &[&str] = &[
    "the", "new", "pipeline", "is", "fast", "today", "love", "this", "release", "just", "shipped",
    "team", "amazing", "great", "bad", "day", "data", "stream", "batch", "query", "check", "out",
    "our", "latest", "results", "why", "does", "it", "break", "again",
];
const LANGUAGES: &[(&str, u32)] = &[
    ("en", 50),
    ("es", 14),
    ("pt", 8),
    ("ja", 8),
    ("fr", 6),
    ("de", 5),
    ("ar", 4),
    ("hi", 3),
    ("it", 2),
];
const REGIONS: &[(&str, u32)] = &[
    ("NA", 35),
    ("EU", 28),
    ("LATAM", 15),
    ("APAC", 17),
    ("MEA", 5),
];

/// One tweet as the seeds describe it (plus language and region).
#[derive(Debug, Serialize)]
pub struct Tweet {
    pub tweet_id: String,
    pub text: String,
    pub user: User,
    pub created_at: String,
    pub hashtags: Vec<String>,
    pub mentions: Vec<String>,
    pub language: String,
    pub region: String,
    pub sentiment_score: f64,
    pub engagement_score: i64,
}

/// The author of a tweet.
#[derive(Debug, Serialize)]
pub struct User {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    pub followers_count: i64,
    pub verified: bool,
}

/// How events are made.
#[derive(Debug, Clone)]
pub struct GeneratorOptions {
    pub seed: u64,
    pub count: u64,
    /// Event times are spread over `[start, start + span)` in order.
    pub start: DateTime<Utc>,
    pub span: Duration,
    /// Share of malformed records (bad JSON, missing fields, wrong types).
    pub bad_ratio: f64,
    /// Share of records that repeat an earlier tweet (at-least-once producers do this).
    pub duplicate_ratio: f64,
    /// Share of events that arrive late (created hours before their neighbours).
    pub late_ratio: f64,
    pub users: u64,
}

/// An endless, deterministic source of tweet records (JSON text) and their keys.
pub struct TweetGenerator {
    rng: StdRng,
    options: GeneratorOptions,
    hashtag_zipf: Zipf<f64>,
    user_zipf: Zipf<f64>,
    produced: u64,
    recent: Vec<(String, String)>,
}

impl TweetGenerator {
    /// A generator for these options.
    pub fn new(options: GeneratorOptions) -> Result<Self, String> {
        let hashtag_zipf = Zipf::new(HASHTAGS.len() as f64, 1.1).map_err(|e| e.to_string())?;
        let user_zipf = Zipf::new(options.users.max(1) as f64, 1.2).map_err(|e| e.to_string())?;
        Ok(Self {
            rng: StdRng::seed_from_u64(options.seed),
            options,
            hashtag_zipf,
            user_zipf,
            produced: 0,
            recent: Vec::new(),
        })
    }

    fn record(&mut self) -> (String, String) {
        let n = self.produced;
        self.produced += 1;
        if !self.recent.is_empty() && self.rng.random_bool(self.options.duplicate_ratio) {
            let i = self.rng.random_range(0..self.recent.len());
            return self.recent[i].clone();
        }
        let tweet = self.tweet(n);
        let key = tweet.tweet_id.clone();
        let json = if self.rng.random_bool(self.options.bad_ratio) {
            self.malformed(&tweet)
        } else {
            serde_json::to_string(&tweet).unwrap_or_default()
        };
        if self.recent.len() < 1024 {
            self.recent.push((key.clone(), json.clone()));
        } else {
            let slot = self.rng.random_range(0..self.recent.len());
            self.recent[slot] = (key.clone(), json.clone());
        }
        (key, json)
    }

    fn tweet(&mut self, n: u64) -> Tweet {
        let o = &self.options;
        let mut at = time_of(n, o.count, o.start, o.span, false);
        if self.rng.random_bool(self.options.late_ratio) {
            at -= Duration::minutes(self.rng.random_range(60..36 * 60));
        }
        let user_rank = self.user_zipf.sample(&mut self.rng) as u64;
        let tags: Vec<String> = (0..self.rng.random_range(0..4))
            .map(|_| HASHTAGS[self.hashtag_zipf.sample(&mut self.rng) as usize - 1].to_string())
            .collect();
        let mentions: Vec<String> = (0..self.rng.random_range(0..3u32).saturating_sub(1))
            .map(|_| format!("user{}", self.user_zipf.sample(&mut self.rng) as u64))
            .collect();
        // Built in one buffer: the generator's own speed bounds `generate` into Kafka.
        let mut text = String::with_capacity(160);
        for i in 0..self.rng.random_range(4..18) {
            if i > 0 {
                text.push(' ');
            }
            text.push_str(WORDS[self.rng.random_range(0..WORDS.len())]);
        }
        for tag in &tags {
            text.push_str(" #");
            text.push_str(tag);
        }
        for mention in &mentions {
            text.push_str(" @");
            text.push_str(mention);
        }
        let followers =
            (10f64.powf(self.rng.random_range(0.0..6.5)) / (user_rank as f64).sqrt()) as i64;
        Tweet {
            tweet_id: uuid(&mut self.rng),
            text,
            user: User {
                user_id: format!("u{user_rank:07}"),
                username: format!("user{user_rank}"),
                display_name: format!("User {user_rank}"),
                followers_count: followers,
                verified: user_rank <= 50 || self.rng.random_bool(0.02),
            },
            created_at: at.to_rfc3339_opts(SecondsFormat::Millis, true),
            hashtags: tags,
            mentions,
            language: pick(&mut self.rng, LANGUAGES).to_string(),
            region: pick(&mut self.rng, REGIONS).to_string(),
            sentiment_score: (self.rng.random_range(-1.0..1.0f64) * 1000.0).round() / 1000.0,
            engagement_score: (self.rng.random::<f64>().powi(3) * 1000.0) as i64,
        }
    }

    /// A record silver must reject: broken JSON, a missing field, or a wrongly typed one.
    fn malformed(&mut self, tweet: &Tweet) -> String {
        let mut value = serde_json::to_value(tweet).unwrap_or_default();
        match self.rng.random_range(0..4) {
            0 => cut_short(&value),
            1 => {
                if let Some(o) = value.as_object_mut() {
                    o.remove("tweet_id");
                }
                value.to_string()
            }
            2 => {
                value["user"]["followers_count"] = serde_json::json!("lots");
                value.to_string()
            }
            _ => {
                value["created_at"] = serde_json::json!("yesterday-ish");
                value.to_string()
            }
        }
    }
}

impl RecordSource for TweetGenerator {
    fn next_record(&mut self) -> (String, String) {
        self.record()
    }

    fn name(&self) -> &'static str {
        "tweets"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(seed: u64) -> GeneratorOptions {
        GeneratorOptions {
            seed,
            count: 2000,
            start: DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            span: Duration::days(1),
            bad_ratio: 0.1,
            duplicate_ratio: 0.05,
            late_ratio: 0.02,
            users: 1000,
        }
    }

    #[test]
    fn same_seed_same_records_and_skewed_hashtags() {
        let mut a = TweetGenerator::new(options(7)).unwrap();
        let mut b = TweetGenerator::new(options(7)).unwrap();
        let ra: Vec<_> = (0..2000).map(|_| a.next_record()).collect();
        let rb: Vec<_> = (0..2000).map(|_| b.next_record()).collect();
        assert_eq!(ra, rb);
        let mut c = TweetGenerator::new(options(8)).unwrap();
        assert_ne!(ra[0], c.next_record());
        let valid: Vec<serde_json::Value> = ra
            .iter()
            .filter_map(|(_, j)| serde_json::from_str(j).ok())
            .collect();
        let bad = ra.len()
            - valid
                .iter()
                .filter(|v| {
                    v["tweet_id"].is_string()
                        && v["user"]["followers_count"].is_i64()
                        && v["created_at"]
                            .as_str()
                            .is_some_and(|s| s.starts_with("202"))
                })
                .count();
        assert!((100..320).contains(&bad), "about 10% malformed, got {bad}");
        let rust = valid
            .iter()
            .filter(|v| {
                v["hashtags"]
                    .as_array()
                    .is_some_and(|h| h.iter().any(|t| t == "rust"))
            })
            .count();
        let friday = valid
            .iter()
            .filter(|v| {
                v["hashtags"]
                    .as_array()
                    .is_some_and(|h| h.iter().any(|t| t == "friday"))
            })
            .count();
        assert!(
            rust > 10 * friday.max(1),
            "the top hashtag dominates: {rust} vs {friday}"
        );
    }
}
