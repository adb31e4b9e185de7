//! The attempt's tests as JUnit XML (`attempt=N.junit.xml`), the report CI systems read:
//! one `<testcase>` per test, a `<failure>` for `fail`, an `<error>` for `error`.

use super::{TestResult, TestStatus};
use std::fmt::Write as _;
use std::path::Path;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The report of `results`, a suite named `suite`.
pub fn document(suite: &str, results: &[TestResult]) -> String {
    let count = |s: TestStatus| results.iter().filter(|r| r.status == s).count();
    let time: f64 = results.iter().map(|r| r.execution_time).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{time:.3}\">",
        escape(suite),
        results.len(),
        count(TestStatus::Fail),
        count(TestStatus::Error),
        count(TestStatus::Skipped)
    );
    for r in results {
        let _ = write!(
            xml,
            "  <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\"",
            escape(&r.test_name),
            escape(&r.model),
            r.execution_time
        );
        let message = escape(r.message.as_deref().unwrap_or_default());
        let _ = match r.status {
            TestStatus::Pass => writeln!(xml, "/>"),
            TestStatus::Warn => writeln!(
                xml,
                ">\n    <system-out>warn: {message}</system-out>\n  </testcase>"
            ),
            TestStatus::Fail => writeln!(
                xml,
                ">\n    <failure message=\"{message}\"/>\n  </testcase>"
            ),
            TestStatus::Error => {
                writeln!(xml, ">\n    <error message=\"{message}\"/>\n  </testcase>")
            }
            TestStatus::Skipped => writeln!(xml, ">\n    <skipped/>\n  </testcase>"),
        };
    }
    xml.push_str("</testsuite>\n");
    xml
}

/// Writes the report next to the attempt log.
pub fn write(path: &Path, suite: &str, results: &[TestResult]) -> std::io::Result<()> {
    std::fs::write(path, document(suite, results))
}
