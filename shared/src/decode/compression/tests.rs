use std::io::Write;

use super::*;

/// `data` compressed as `kind` by the format's own encoder (several members, frames, streams or
/// blocks where the format allows them one after the other).
pub(crate) fn compress(kind: Compression, data: &[u8]) -> Vec<u8> {
    let halves = data.split_at(data.len() / 2);
    let mut out = Vec::new();
    match kind {
        Compression::None => out.extend_from_slice(data),
        Compression::Gzip => {
            for part in [halves.0, halves.1] {
                let mut e = flate2::write::GzEncoder::new(&mut out, flate2::Compression::fast());
                e.write_all(part).unwrap();
                e.finish().unwrap();
            }
        }
        Compression::Zstd => {
            for part in [halves.0, halves.1] {
                out.extend(zstd::stream::encode_all(part, 3).unwrap());
            }
        }
        Compression::Bzip2 => {
            for part in [halves.0, halves.1] {
                let mut e = bzip2::write::BzEncoder::new(&mut out, bzip2::Compression::fast());
                e.write_all(part).unwrap();
                e.finish().unwrap();
            }
        }
        Compression::Snappy => {
            let mut e = snap::write::FrameEncoder::new(&mut out);
            e.write_all(data).unwrap();
            e.flush().unwrap();
        }
        Compression::Zip => {
            unreachable!("an archive of members: see decode::zip::tests::python_zip")
        }
        Compression::HadoopSnappy => {
            // Hadoop's BlockCompressorStream: blocks of 256 KiB, each written as chunks of at
            // most 64 KiB (as its buffer size gives them), every length big-endian.
            for block in data.chunks(256 << 10) {
                out.extend((block.len() as u32).to_be_bytes());
                for chunk in block.chunks(64 << 10) {
                    let compressed = snap::raw::Encoder::new().compress_vec(chunk).unwrap();
                    out.extend((compressed.len() as u32).to_be_bytes());
                    out.extend(compressed);
                }
            }
        }
    }
    out
}

pub(crate) const ALL: [Compression; 6] = [
    Compression::None,
    Compression::Gzip,
    Compression::Zstd,
    Compression::Bzip2,
    Compression::Snappy,
    Compression::HadoopSnappy,
];

/// Some megabytes of NDJSON, varied enough not to compress to nothing.
fn records() -> Vec<u8> {
    (0..40_000u64)
        .map(|i| {
            format!(
                "{{\"id\":{i},\"v\":{},\"s\":\"{:x}\"}}\n",
                i.wrapping_mul(2654435761) % 1000,
                i.wrapping_mul(0x9e3779b97f4a7c15)
            )
        })
        .collect::<String>()
        .into_bytes()
}

fn decompress(bytes: &[u8]) -> io::Result<(Compression, Vec<u8>)> {
    let kind = Compression::detect(&bytes[..bytes.len().min(64)]);
    let mut out = Vec::new();
    kind.decoder(bytes)?.read_to_end(&mut out)?;
    Ok((kind, out))
}

#[test]
fn every_compression_is_detected_from_its_bytes_and_undone_whole() {
    let data = records();
    for kind in ALL {
        let compressed = compress(kind, &data);
        let (detected, out) = decompress(&compressed).unwrap();
        assert_eq!(detected, kind, "{}", kind.name());
        assert!(
            out == data,
            "{}: the bytes come back as they were",
            kind.name()
        );
        if kind != Compression::None {
            assert!(compressed.len() < data.len(), "{}", kind.name());
        }
    }
}

#[test]
fn json_in_any_of_its_openings_is_not_taken_for_a_compression() {
    for text in [
        "{\"a\":1}",
        "[1]",
        " \n{}",
        "\u{feff}{}",
        "1",
        "",
        "\"BZh9\"",
        "null",
        "\t[]",
    ] {
        assert_eq!(
            Compression::detect(text.as_bytes()),
            Compression::None,
            "{text:?}"
        );
    }
    // Zero bytes that do not hold a Snappy chunk are not Hadoop-Snappy either.
    assert_eq!(
        Compression::detect(&[0, 0, 0, 9, 0, 0, 0, 2, 0xff, 0xff]),
        Compression::None
    );
}

#[test]
fn a_stream_cut_short_or_damaged_is_an_error_not_fewer_records() {
    let data = records();
    for kind in &ALL[1..] {
        let compressed = compress(*kind, &data);
        let cut = &compressed[..compressed.len() * 2 / 3];
        let result = decompress(cut);
        assert!(
            result.is_err(),
            "{}: {:?}",
            kind.name(),
            result.map(|(_, out)| out.len())
        );
    }
    let mut hadoop = compress(Compression::HadoopSnappy, &data);
    hadoop[4..8].copy_from_slice(&(100u32 << 20).to_be_bytes());
    let err = decompress(&hadoop).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the Hadoop-Snappy stream is corrupt: a length of"),
        "{err}"
    );
}

#[test]
fn a_zip_archive_is_told_and_is_no_stream() {
    let head = b"PK\x03\x04\x14\x00\x00\x00\x08\x00";
    assert_eq!(Compression::detect(head), Compression::Zip);
    let empty_archive = b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
    assert_eq!(Compression::detect(empty_archive), Compression::Zip);
    let err = Compression::Zip.decoder(&head[..]).err().unwrap();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(
        err.to_string()
            .starts_with("a ZIP archive inside a ZIP archive"),
        "{err}"
    );
}
