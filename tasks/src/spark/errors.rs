//! Spark's errors as task errors: what Spark says about the SQL (analysis, parse, ANSI
//! arithmetic: an error class) fails at once; a server that is away is worth a retry.

use crate::TaskError;
use spark_connect_core::SparkError;

/// gRPC codes that say the server or the network failed, not the work.
const TRANSIENT: [tonic::Code; 4] = [
    tonic::Code::Unavailable,
    tonic::Code::DeadlineExceeded,
    tonic::Code::Aborted,
    tonic::Code::ResourceExhausted,
];

/// A Spark error met while `doing`: its error class and SQLSTATE in the message.
pub fn spark_error(doing: &str, e: &SparkError) -> TaskError {
    let mut text = format!("Spark: {doing}: {}", e.message());
    if let Some(class) = e.get_condition()
        && !text.contains(&class)
    {
        text.push_str(&format!(" [{class}]"));
    }
    if let Some(state) = e.get_sql_state()
        && !text.contains(&state)
    {
        text.push_str(&format!(" (SQLSTATE {state})"));
    }
    let transient = e
        .grpc_code()
        .is_some_and(|code| TRANSIENT.iter().any(|t| *t as i32 == code));
    if transient && e.get_condition().is_none() {
        TaskError::Retryable(text)
    } else {
        TaskError::Fatal(text)
    }
}

/// The server at `shown` did not answer in time: a retry may find it back.
pub fn does_not_answer(shown: &str, why: &str) -> TaskError {
    TaskError::Retryable(format!(
        "Spark Connect at {shown} does not answer within {} s ({why})",
        super::session::ANSWER_WITHIN.as_secs()
    ))
}
