use super::*;

fn iot() -> Dataset {
    let root = env!("CARGO_MANIFEST_DIR").to_string() + "/../datasets/iot_sensors.toml";
    Dataset::load(std::path::Path::new(&root)).unwrap()
}

/// Every name the pipeline writes, for one object, spelled out.
#[test]
fn every_name_of_the_curated_bucket() {
    let dataset = iot();
    let attempt = attempt_id("8f6b1a2e-2c1d-4e4b-9d3a-0a1b2c3d4e5f");
    assert_eq!(attempt.len(), 12);
    assert_ne!(attempt, attempt_id("8f6b1a2e-2c1d-4e4b-9d3a-0a1b2c3d4e60"));
    let source = SourceObject {
        bucket: "raw".into(),
        key: "iot/a.json".into(),
        version: Some("v1".into()),
        attempt: Some(attempt.clone()),
        created: None,
    };
    let id = source.id();
    assert_eq!(id, source_id("raw", "iot/a.json", Some("v1")));
    assert_eq!(id.len(), 20);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let stem = source.file_stem();
    assert_eq!(stem, format!("{id}-{attempt}"));
    let by_cli = SourceObject::local_file("/tmp/a.json");
    assert_eq!(by_cli.file_stem(), by_cli.id());
    assert_eq!(source.uri(), "s3://raw/iot/a.json");
    assert_eq!(
        SourceObject::local_file("/tmp/a.json").uri(),
        "file:///tmp/a.json"
    );

    let layout = CuratedLayout::with_defaults("curated");
    let table = format!("tables/{}/{}/", dataset.database, dataset.table);
    assert_eq!(layout.table_prefix(&dataset), table);
    assert_eq!(
        layout.table_location(&dataset).to_string(),
        format!("s3://curated/{table}")
    );
    assert_eq!(
        data_file_name(&stem, 3, Compression::Snappy),
        format!("part-{id}-{attempt}-00003.snappy.parquet")
    );
    assert_eq!(
        data_file_name(&stem, 0, Compression::Zstd),
        format!("part-{stem}-00000.zstd.parquet")
    );
    assert_eq!(
        data_file_name(&stem, 12, Compression::None),
        format!("part-{stem}-00012.parquet")
    );
    assert_eq!(
        longest_data_file_name(&stem, Compression::Snappy),
        format!("part-{stem}-4294967295.snappy.parquet").len()
    );
    assert_eq!(layout.rejected_prefix(), "rejected/");
    assert_eq!(
        rejected_file_name("iot_sensors", &stem),
        format!("iot_sensors/rejected-{stem}.jsonl")
    );
    assert_eq!(
        layout.rejected_key("iot_sensors", &stem),
        format!("rejected/iot_sensors/rejected-{stem}.jsonl")
    );
    assert_eq!(
        layout.summary_key("iot_sensors", &stem),
        format!("summaries/iot_sensors/{stem}.json")
    );
    let key = key_id("raw", "iot/a.json");
    assert_eq!(key, key_id("raw", "iot/a.json"));
    assert_ne!(key, id, "one manifest per key, whatever the version");
    assert_eq!(
        layout.manifest_key("iot_sensors", "raw", "iot/a.json"),
        format!("manifests/iot_sensors/{key}.json")
    );
    assert_eq!(
        layout.uri("summaries/x.json").to_string(),
        "s3://curated/summaries/x.json"
    );
}

#[test]
fn prefixes_are_normalised_and_may_be_the_root() {
    let layout = CuratedLayout::new("b", "/t", "r/", "");
    assert_eq!(layout.table_prefix(&iot()), "t/iot/sensor_readings/");
    assert_eq!(layout.rejected_prefix(), "r/");
    assert_eq!(layout.summary_key("d", "x"), "d/x.json");
}

#[test]
fn source_ids_tell_objects_apart() {
    let id = source_id("raw", "iot/a.json", Some("v1"));
    assert_eq!(id, source_id("raw", "iot/a.json", Some("v1")));
    assert_ne!(id, source_id("raw", "iot/a.json", Some("v2")));
    assert_ne!(id, source_id("raw", "iot/a.json", None));
    assert_ne!(source_id("ab", "c", None), source_id("a", "bc", None));
}

#[test]
fn s3_uris_parse_and_print() {
    let uri = S3Uri::parse("s3://b/k/x.json").unwrap();
    assert_eq!((uri.bucket.as_str(), uri.key.as_str()), ("b", "k/x.json"));
    assert_eq!(uri.to_string(), "s3://b/k/x.json");
    assert_eq!(S3Uri::parse("s3://b").unwrap(), S3Uri::new("b", ""));
    assert_eq!(S3Uri::parse("s3://b/").unwrap().to_string(), "s3://b/");
    assert!(S3Uri::parse_object("s3://b/").is_err());
    assert!(S3Uri::parse_object("s3://b").is_err());
    for bad in ["s3://", "s3:///k", "file:///x", "b/k", ""] {
        let err = S3Uri::parse(bad).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{bad:?} is not an s3://bucket/key URI")
        );
    }
}

#[test]
fn percent_decoding() {
    assert_eq!(
        percent_decode("Happy+Face%21.jpg", true).unwrap(),
        "Happy Face!.jpg"
    );
    assert_eq!(percent_decode("a%2Bb+c", true).unwrap(), "a+b c");
    assert_eq!(percent_decode("a%2Bb+c", false).unwrap(), "a+b+c");
    assert_eq!(percent_decode("caf%C3%A9", false).unwrap(), "café");
    assert_eq!(percent_decode("%2f%2F", false).unwrap(), "//");
    for bad in ["bad%zz", "bad%", "bad%4", "%+F", "bad%FF"] {
        assert!(percent_decode(bad, true).is_err(), "{bad}");
    }
    assert_eq!(
        percent_decode("x%zz", true).unwrap_err(),
        "\"x%zz\" has a bad %-escape at byte 1"
    );
}
