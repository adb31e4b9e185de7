//! CSV files as bronze records: the header row names the fields, and each row after it
//! lands as one JSON object of header → text, at the line the row starts on (a quoted
//! field may span lines). Nothing of a row is dropped: values beyond the header's
//! columns land under `_extra`, and a short row lands with the fields it has.

use super::files::{Batches, Pending};
use crate::TaskError;
use serde_json::Value;
use std::io::Read;
use updraft_core::csv_row::row_object;

/// Lands the rows of a CSV file after its position; false when landing stopped.
pub(super) fn read(
    reader: impl Read,
    file: &Pending,
    out: &mut Batches,
) -> Result<bool, TaskError> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(Tail::new(reader));
    let mut record = csv::StringRecord::new();
    let mut header: Option<Vec<String>> = None;
    let mut last_line = 0i64;
    loop {
        let more = csv
            .read_record(&mut record)
            .map_err(|e| bad_csv(file, &e))?;
        if !more {
            break;
        }
        let line = start_line(&record, csv.position(), csv.get_ref());
        last_line = line;
        let Some(names) = &header else {
            header = Some(record.iter().map(|h| h.trim().to_string()).collect());
            continue;
        };
        if line <= file.done || is_blank(&record) {
            continue;
        }
        let value = Value::Object(row_object(names, &record)).to_string();
        if !out.push(&value, file, line)? {
            return Ok(false);
        }
    }
    out.read_to(file, last_line);
    Ok(true)
}

/// The line a row starts on, from where the reader stands after it: the csv crate's own
/// start position counts the blank lines it skipped before the row. The reader stands
/// after the row's `\n`, or after the `\r` of its `\r\n`, or at the end of the file.
fn start_line<R>(record: &csv::StringRecord, after: &csv::Position, read: &Tail<R>) -> i64 {
    let past_newline = after.byte() > 0 && read.byte_at(after.byte() - 1) == Some(b'\n');
    let end = after.line() - u64::from(past_newline);
    let inside: usize = record.iter().map(|f| f.matches('\n').count()).sum();
    end as i64 - inside as i64
}

/// A reader that remembers its last bytes, so that the byte before the csv reader's
/// position can be looked at (the csv reader reads ahead by at most its 8 KiB buffer).
struct Tail<R> {
    inner: R,
    last: Vec<u8>,
    read: u64,
}

/// Bytes remembered: well beyond the csv reader's buffer.
const TAIL: usize = 64 * 1024;

impl<R> Tail<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            last: vec![0; TAIL],
            read: 0,
        }
    }

    /// The byte at `offset` from the start, if it is still remembered.
    fn byte_at(&self, offset: u64) -> Option<u8> {
        (offset < self.read && self.read - offset <= TAIL as u64)
            .then(|| self.last[(offset % TAIL as u64) as usize])
    }
}

impl<R: Read> Read for Tail<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        // Only the last TAIL bytes matter; they go in at most two slices of the ring.
        let kept = &buf[n.saturating_sub(TAIL)..n];
        let at = ((self.read + (n - kept.len()) as u64) % TAIL as u64) as usize;
        let first = kept.len().min(TAIL - at);
        self.last[at..at + first].copy_from_slice(&kept[..first]);
        self.last[..kept.len() - first].copy_from_slice(&kept[first..]);
        self.read += n as u64;
        Ok(n)
    }
}

/// A row of one empty field: a line of spaces (the csv crate skips empty lines).
fn is_blank(record: &csv::StringRecord) -> bool {
    record.len() == 1 && record[0].trim().is_empty()
}

fn bad_csv(file: &Pending, e: &csv::Error) -> TaskError {
    let at = e
        .position()
        .map(|p| format!(":{}", p.line()))
        .unwrap_or_default();
    TaskError::Fatal(format!("{}{at}: not CSV: {e}", file.path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StreamUri;
    use deltalake::arrow::array::{AsArray, RecordBatch};
    use deltalake::arrow::datatypes::Int64Type;
    use std::collections::BTreeMap;
    use tokio_util::sync::CancellationToken;

    /// One sent batch: (line, record) pairs, and the positions it commits.
    type Sent = (Vec<(i64, Value)>, BTreeMap<String, i64>);

    /// Lands `text` as the file `books.csv` after `done` lines, in batches of `size`.
    fn land(text: &str, done: i64, size: usize) -> Vec<Sent> {
        let source = StreamUri::File("landing".into());
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        let cancel = CancellationToken::new();
        let file = Pending {
            path: "landing/books.csv".into(),
            name: "books.csv".into(),
            done,
        };
        let mut out = Batches::new(&source, size, &tx, &cancel);
        assert!(read(text.as_bytes(), &file, &mut out).unwrap());
        out.finish().unwrap();
        let mut sent = Vec::new();
        while let Ok(filled) = rx.try_recv() {
            let filled = filled.unwrap();
            let (batch, positions) = filled.parts();
            sent.push((records(batch), positions.clone()));
        }
        sent
    }

    fn records(batch: &RecordBatch) -> Vec<(i64, Value)> {
        let lines = batch
            .column_by_name("line")
            .unwrap()
            .as_primitive::<Int64Type>();
        let values = batch.column_by_name("value").unwrap().as_string::<i32>();
        (0..batch.num_rows())
            .map(|i| {
                (
                    lines.value(i),
                    serde_json::from_str(values.value(i)).unwrap(),
                )
            })
            .collect()
    }

    const BOOKS: &str = "Name,Author,User Rating\n\
                         \"Sapiens, A Brief History\",Yuval Noah Harari,4.7\n\
                         \n\
                         \"Two\nlines\",\"Quote \"\"x\"\"\",\n\
                         Short,Only\n\
                         Long,A,4.1,extra1,extra2\n";

    #[test]
    fn rows_keep_quoted_commas_newlines_and_every_value() {
        let sent = land(BOOKS, 0, 100);
        assert_eq!(sent.len(), 1);
        let (rows, positions) = &sent[0];
        let lines: Vec<i64> = rows.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [2, 4, 6, 7]);
        assert_eq!(rows[0].1["Name"], "Sapiens, A Brief History");
        assert_eq!(rows[0].1["User Rating"], "4.7");
        assert_eq!(rows[1].1["Name"], "Two\nlines");
        assert_eq!(rows[1].1["Author"], "Quote \"x\"");
        assert_eq!(rows[1].1["User Rating"], "");
        assert_eq!(
            rows[2].1,
            serde_json::json!({"Name": "Short", "Author": "Only"})
        );
        assert_eq!(rows[3].1["_extra"], serde_json::json!(["extra1", "extra2"]));
        assert_eq!(positions["updraft-land:file:books.csv"], 7);
    }

    #[test]
    fn a_file_continues_after_its_position_in_full_batches() {
        let sent = land(BOOKS, 4, 1);
        let lines: Vec<Vec<i64>> = sent
            .iter()
            .map(|(rows, _)| rows.iter().map(|(l, _)| *l).collect())
            .collect();
        assert_eq!(lines, [vec![6], vec![7]]);
        let positions: Vec<i64> = sent
            .iter()
            .map(|(_, p)| p["updraft-land:file:books.csv"])
            .collect();
        assert_eq!(positions, [6, 7]);
        assert!(land(BOOKS, 7, 100).is_empty(), "nothing new: no commit");
    }

    #[test]
    fn a_last_row_without_a_newline_and_crlf_lines_are_placed_right() {
        let sent = land("a,b\r\n1,\"x\r\ny\"\r\n\r\n2,z", 0, 100);
        let (rows, positions) = &sent[0];
        let lines: Vec<i64> = rows.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [2, 5]);
        assert_eq!(rows[0].1["b"], "x\r\ny");
        assert_eq!(positions["updraft-land:file:books.csv"], 5);
    }

    #[test]
    fn a_broken_file_names_its_line() {
        let source = StreamUri::File("landing".into());
        let (tx, _rx) = tokio::sync::mpsc::channel(4);
        let cancel = CancellationToken::new();
        let file = Pending {
            path: "landing/bad.csv".into(),
            name: "bad.csv".into(),
            done: 0,
        };
        let mut out = Batches::new(&source, 10, &tx, &cancel);
        let bytes: &[u8] = b"a,b\n1,2\n3,\xff\n";
        let err = read(bytes, &file, &mut out).unwrap_err().to_string();
        assert!(err.contains("landing/bad.csv:3"), "{err}");
    }
}
