//! The recovery-point checkpoint: Kafka's `recovery-point-offset-checkpoint` file in the data
//! dir, naming for each partition the offset below which its log is fsynced.
//!
//! Kafka's text layout: a version line (`0`), a count line, then one `topic partition offset`
//! line per partition. The topic manager writes it whole through a rename
//! (`durable::replace_file`) at a clean shutdown and, when a recovery point moved, on the
//! flusher's passes; a start-up opens the segments wholly below a partition's recovery point
//! from their index files and scans only the rest (`recovery.rs`).

use std::collections::BTreeMap;

/// The file's name in the data dir.
pub const FILE: &str = "recovery-point-offset-checkpoint";

/// Recovery points by (topic, partition).
pub type RecoveryPoints = BTreeMap<(String, i32), i64>;

/// The file's content for `points`.
pub fn encode(points: &RecoveryPoints) -> String {
    let mut text = format!("0\n{}\n", points.len());
    for ((topic, partition), offset) in points {
        text.push_str(&format!("{topic} {partition} {offset}\n"));
    }
    text
}

/// Reads the file's content; `Err` says what is wrong with it.
pub fn parse(text: &str) -> Result<RecoveryPoints, String> {
    let mut lines = text.lines();
    match lines.next() {
        Some("0") => {}
        other => return Err(format!("version line {other:?}, expected \"0\"")),
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or("no count line")?;
    let mut points = RecoveryPoints::new();
    for line in lines.by_ref().take(count) {
        let fields: Vec<&str> = line.split(' ').collect();
        let [topic, partition, offset] = fields[..] else {
            return Err(format!("`{line}` is not `topic partition offset`"));
        };
        let (Ok(partition), Ok(offset)) = (partition.parse::<i32>(), offset.parse::<i64>()) else {
            return Err(format!("`{line}` is not `topic partition offset`"));
        };
        if offset < 0 {
            return Err(format!("`{line}`: a negative offset"));
        }
        points.insert((topic.to_string(), partition), offset);
    }
    if points.len() != count || lines.any(|l| !l.trim().is_empty()) {
        return Err(format!("the count line says {count} entries"));
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkpoint_round_trips_and_damage_is_an_error() {
        let points: RecoveryPoints = [(("orders".to_string(), 0), 42), (("orders".into(), 1), 0)]
            .into_iter()
            .collect();
        let text = encode(&points);
        assert_eq!(text, "0\n2\norders 0 42\norders 1 0\n");
        assert_eq!(parse(&text), Ok(points));
        assert_eq!(parse("0\n0\n"), Ok(RecoveryPoints::new()));
        for damaged in [
            "",
            "1\n0\n",
            "0\n2\norders 0 42\n",
            "0\n1\norders 0\n",
            "0\n1\norders x 42\n",
            "0\n1\norders 0 -1\n",
            "0\n1\norders 0 42\nextra 0 1\n",
            "0\n1\norders 0 4\u{0}",
        ] {
            assert!(parse(damaged).is_err(), "{damaged:?} accepted");
        }
    }
}
