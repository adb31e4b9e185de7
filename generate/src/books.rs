//! `updraft generate books`: a CSV shaped like the Amazon best-sellers list of seed 003
//! (`Name, Author, User Rating, Reviews, Price, Year, Genre`), deterministic for a seed,
//! with the dirt real CSVs have when asked (`--bad-ratio`): padded text, empty ratings,
//! prices written as text, a row repeated, an author spelled with another case.

use anyhow::{Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};

/// The header, as the seed's CSV has it.
pub const HEADER: [&str; 7] = [
    "Name",
    "Author",
    "User Rating",
    "Reviews",
    "Price",
    "Year",
    "Genre",
];

/// Rows per CSV file.
const ROWS_PER_FILE: u64 = 100_000;

const FIRST: [&str; 24] = [
    "Suzanne",
    "John",
    "Rick",
    "Dav",
    "Stephen",
    "Gillian",
    "Michelle",
    "Harper",
    "Delia",
    "Yuval Noah",
    "Paulo",
    "Jeff",
    "Eric",
    "Rachel",
    "George",
    "Malcolm",
    "Bill",
    "Sarah",
    "Jen",
    "Ina",
    "Walter",
    "Don",
    "Kristin",
    "Dale",
];
const LAST: [&str; 24] = [
    "Collins",
    "Green",
    "Riordan",
    "Pilkey",
    "King",
    "Flynn",
    "Obama",
    "Lee",
    "Owens",
    "Harari",
    "Coelho",
    "Kinney",
    "Carle",
    "Hollis",
    "Orwell",
    "Gladwell",
    "O'Reilly",
    "Young",
    "Sincero",
    "Garten",
    "Isaacson",
    "Miguel Ruiz",
    "Hannah",
    "Carnegie",
];
const OPENING: [&str; 16] = [
    "The",
    "A",
    "Becoming",
    "Where the",
    "How to",
    "Oh, the",
    "Diary of a",
    "The Art of",
    "Brain",
    "Milk and",
    "Fire and",
    "Dog",
    "Good",
    "The Last",
    "Think and",
    "Little",
];
const SUBJECT: [&str; 20] = [
    "Hunger Games",
    "Wimpy Kid",
    "Crawdads Sing",
    "Places You'll Go",
    "Subtle Art",
    "Four Agreements",
    "Fury",
    "Man",
    "Night",
    "Honey",
    "Habits",
    "Grow Rich",
    "Women",
    "Ocean",
    "Mockingbird",
    "Lightning Thief",
    "Silent Patient",
    "Alchemist",
    "Sapiens",
    "Educated",
];
const SUFFIX: [&str; 6] = [
    "",
    "",
    ": A Novel",
    ", Book 2",
    " (Illustrated Edition)",
    ", Revised",
];

/// What to generate.
pub struct BookOptions {
    pub seed: u64,
    pub bad_ratio: f64,
}

/// Generates book rows, each a CSV record of [`HEADER`]'s columns.
pub struct BookGenerator {
    rng: StdRng,
    bad_ratio: f64,
    previous: Option<Vec<String>>,
}

impl BookGenerator {
    /// A generator for `options` (the same seed gives the same rows).
    pub fn new(options: &BookOptions) -> Self {
        Self {
            rng: StdRng::seed_from_u64(options.seed),
            bad_ratio: options.bad_ratio,
            previous: None,
        }
    }

    /// The next row.
    pub fn next_row(&mut self) -> Vec<String> {
        let mut row = self.clean_row();
        if self.rng.random_bool(self.bad_ratio) {
            match self.rng.random_range(0..5) {
                0 => row[0] = format!("  {} ", row[0]),
                1 => row[2] = String::new(),
                2 => row[4] = format!("${}.00", row[4]),
                3 => {
                    if let Some(previous) = &self.previous {
                        row = previous.clone();
                    }
                }
                _ => row[1] = row[1].to_uppercase(),
            }
        }
        self.previous = Some(row.clone());
        row
    }

    fn clean_row(&mut self) -> Vec<String> {
        let rng = &mut self.rng;
        // Few authors write many books: the first names of the lists come up most.
        let author = format!(
            "{} {}",
            FIRST[skewed(rng, FIRST.len())],
            LAST[skewed(rng, LAST.len())]
        );
        let name = format!(
            "{} {}{}",
            OPENING[rng.random_range(0..OPENING.len())],
            SUBJECT[rng.random_range(0..SUBJECT.len())],
            SUFFIX[rng.random_range(0..SUFFIX.len())]
        );
        let rating = f64::from(rng.random_range(33..=49u8)) / 10.0;
        let reviews = rng.random_range(37..=87_841u32);
        let price = rng.random_range(0..=105u32);
        let year = rng.random_range(2009..=2019u32);
        let genre = if rng.random_bool(0.44) {
            "Fiction"
        } else {
            "Non Fiction"
        };
        vec![
            name,
            author,
            format!("{rating:.1}"),
            reviews.to_string(),
            price.to_string(),
            year.to_string(),
            genre.to_string(),
        ]
    }
}

/// An index below `n`, small ones more often.
fn skewed(rng: &mut StdRng, n: usize) -> usize {
    let u: f64 = rng.random();
    ((u * u) * n as f64) as usize
}

/// Writes `count` rows into CSV files of at most 100,000 rows in `dir` (each written
/// aside, then renamed into place); returns their paths. `progress` is told each row.
pub fn write_csv(
    generator: &mut BookGenerator,
    count: u64,
    dir: &Path,
    mut progress: impl FnMut(u64),
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%6f");
    let mut written = 0;
    let mut files = Vec::new();
    while written < count {
        let rows = ROWS_PER_FILE.min(count - written);
        let name = format!("books-{stamp}-{:05}.csv", files.len());
        let partial = dir.join(format!(".{name}.partial"));
        let mut out = csv::Writer::from_path(&partial)
            .with_context(|| format!("cannot write {}", partial.display()))?;
        out.write_record(HEADER)?;
        for _ in 0..rows {
            out.write_record(generator.next_row())?;
            written += 1;
            progress(written);
        }
        out.flush()?;
        drop(out);
        let path = dir.join(&name);
        std::fs::rename(&partial, &path)?;
        files.push(path);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(seed: u64, bad_ratio: f64, n: usize) -> Vec<Vec<String>> {
        let mut g = BookGenerator::new(&BookOptions { seed, bad_ratio });
        (0..n).map(|_| g.next_row()).collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_rows_and_clean_rows_are_clean() {
        assert_eq!(rows(3, 0.1, 500), rows(3, 0.1, 500));
        assert_ne!(rows(3, 0.0, 50), rows(4, 0.0, 50));
        for row in rows(5, 0.0, 2_000) {
            assert_eq!(row.len(), HEADER.len());
            let rating: f64 = row[2].parse().unwrap();
            assert!((3.3..=4.9).contains(&rating));
            assert!(row[4].parse::<u32>().is_ok(), "{row:?}");
            assert!(matches!(row[6].as_str(), "Fiction" | "Non Fiction"));
            assert_eq!(row[0].trim(), row[0]);
        }
    }

    #[test]
    fn dirt_comes_in_every_kind_asked_for() {
        let rows = rows(7, 0.5, 2_000);
        assert!(rows.iter().any(|r| r[0] != r[0].trim()), "padded names");
        assert!(rows.iter().any(|r| r[2].is_empty()), "empty ratings");
        assert!(rows.iter().any(|r| r[4].starts_with('$')), "prices as text");
        assert!(rows.windows(2).any(|w| w[0] == w[1]), "a repeated row");
        assert!(
            rows.iter().any(|r| r[1] == r[1].to_uppercase()),
            "an author in capitals"
        );
        assert!(rows.iter().any(|r| r[0].contains(',')), "names with commas");
    }
}
