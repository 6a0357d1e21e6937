use proptest::prelude::*;

use super::*;
use crate::layout::hive::DEFAULT_PARTITION;

/// Partitioned by `year`/`month`/`day`/`hour` of `ts` and by the value of `k`.
fn dataset() -> Dataset {
    Dataset::from_toml_str(
        r#"
name = "t"
database = "d"
table = "t"
[source]
prefix = ""
[[fields]]
column = "ts"
type = "timestamp"
[[fields]]
column = "k"
type = "string"
[[partitions]]
name = "year"
from = "ts"
part = "year"
[[partitions]]
name = "month"
from = "ts"
part = "month"
[[partitions]]
name = "day"
from = "ts"
part = "day"
[[partitions]]
name = "hour"
from = "ts"
part = "hour"
[[partitions]]
name = "k"
from = "k"
"#,
        "test",
    )
    .unwrap()
}

fn new_path(place: Result<Place, Box<Refused>>) -> String {
    match place {
        Ok(Place::New(p)) => p.path,
        other => panic!("expected a new partition, got {other:?}"),
    }
}

#[test]
fn rows_find_their_partition_by_value_and_by_path() {
    let d = dataset();
    let mut p = Partitioner::new(&d, usize::MAX);
    assert_eq!(p.names(), ["year", "month", "day", "hour", "k"]);
    // 2020-06-24T13:57:24Z
    let t = Value::Micros(1_593_007_044_000_000);
    assert_eq!(
        new_path(p.place(&[t, Value::Str("A/B")])),
        "year=2020/month=06/day=24/hour=13/k=A%2FB/"
    );
    assert_eq!(p.place(&[t, Value::Str("A/B")]), Ok(Place::Known(0)));
    // Another second of the same hour: the same partition.
    let later = Value::Micros(1_593_007_045_000_000);
    assert_eq!(p.place(&[later, Value::Str("A/B")]), Ok(Place::Known(0)));
    assert_eq!(
        new_path(p.place(&[t, Value::Null])),
        format!("year=2020/month=06/day=24/hour=13/k={DEFAULT_PARTITION}/")
    );
    // "" and null both are the default partition: one directory, one index.
    assert_eq!(p.place(&[t, Value::Str("")]), Ok(Place::Known(1)));
    assert_eq!(
        new_path(p.place(&[Value::Null, Value::Str("A/B")])),
        format!("year={DEFAULT_PARTITION}/month={DEFAULT_PARTITION}/day={DEFAULT_PARTITION}/hour={DEFAULT_PARTITION}/k=A%2FB/")
    );
}

#[test]
fn values_that_cannot_name_a_directory_are_refused_naming_their_field() {
    let d = dataset();
    let t = Value::Micros(0);
    let mut p = Partitioner::new(&d, usize::MAX);
    let reserved = p.place(&[t, Value::Str(DEFAULT_PARTITION)]).unwrap_err();
    assert_eq!(reserved.field, 1);
    assert_eq!(reserved.rejection.reason, Reason::ReservedPartitionValue);
    let long = "x".repeat(300);
    let too_long = p.place(&[t, Value::Str(&long)]).unwrap_err();
    assert_eq!(too_long.field, 1);
    assert_eq!(too_long.rejection.reason, Reason::PartitionValueTooLong);
    // A refused value is refused again, never remembered.
    assert!(p.place(&[t, Value::Str(DEFAULT_PARTITION)]).is_err());

    let path = "year=1970/month=01/day=01/hour=00/k=abc/";
    let mut tight = Partitioner::new(&d, path.len());
    assert_eq!(new_path(tight.place(&[t, Value::Str("abc")])), path);
    let over = tight.place(&[t, Value::Str("abcd")]).unwrap_err();
    assert_eq!(
        (over.field, over.rejection.reason),
        (1, Reason::PartitionValueTooLong)
    );
    assert!(
        over.rejection
            .message
            .contains("too long for an object key"),
        "{}",
        over.rejection.message
    );
}

proptest! {
    /// The calendar parts, cached from row to row, are chrono's.
    #[test]
    fn time_parts_are_chronos(micros in proptest::collection::vec(-62_135_596_800_000_000i64..253_402_300_799_000_000, 1..40)) {
        let d = dataset();
        let mut p = Partitioner::new(&d, usize::MAX);
        for &m in &micros {
            let at = chrono::DateTime::from_timestamp_micros(m).unwrap();
            let want = at.format("year=%Y/month=%m/day=%d/hour=%H/k=x/").to_string();
            match p.place(&[Value::Micros(m), Value::Str("x")]).unwrap() {
                Place::New(new) => prop_assert_eq!(new.path, want),
                Place::Known(_) => {}
            }
        }
    }

    /// Two rows share a partition exactly when their paths are equal.
    #[test]
    fn equal_partitions_are_equal_paths(values in proptest::collection::vec(prop_oneof![
        Just(None), Just(Some(String::new())), "[a-c/=%]{0,3}".prop_map(Some),
    ], 1..30)) {
        let d = dataset();
        let mut p = Partitioner::new(&d, usize::MAX);
        let mut paths: Vec<String> = Vec::new();
        for v in &values {
            let k = v.as_deref().map_or(Value::Null, Value::Str);
            let path = hive::partition_path(
                p.names(),
                ["1970", "01", "01", "00"].into_iter().map(Some).chain([v.as_deref()]),
            ).unwrap();
            match p.place(&[Value::Micros(0), k]).unwrap() {
                Place::Known(i) => prop_assert_eq!(&paths[i], &path),
                Place::New(new) => {
                    prop_assert!(!paths.contains(&new.path));
                    prop_assert_eq!(&new.path, &path);
                    paths.push(new.path);
                }
            }
        }
    }
}
