//! Codec round trips, a known batch from the Kafka spec, and garbage at every prefix.

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::batch_header::{self, BatchHeader};

const ALL: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

fn header(key: &str, value: Option<&str>) -> Header {
    Header {
        key: key.into(),
        value: value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
    }
}

#[test]
fn builder_output_decodes_under_every_codec() {
    for codec in ALL {
        let mut b = BatchBuilder::new(codec, 1000);
        b.push(
            1000,
            Some(b"k1"),
            Some(b"v1"),
            &[header("h", Some("x")), header("n", None)],
        );
        b.push(1005, None, None, &[]);
        b.push(1003, Some(b""), Some(b"third"), &[]);
        let batch = b.build().unwrap();
        let h = batch_header::validate(&batch).unwrap();
        assert_eq!(
            (
                h.records_count,
                h.last_offset_delta,
                h.max_timestamp,
                h.compression()
            ),
            (3, 2, 1005, codec.id())
        );
        check_offset_deltas(&batch).unwrap();
        let records = decode_records(&batch).unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records[0].key.as_deref(), Some(&b"k1"[..]));
        assert_eq!(
            records[0].headers,
            vec![header("h", Some("x")), header("n", None)]
        );
        assert_eq!(
            (records[1].key.clone(), records[1].value.clone()),
            (None, None)
        );
        assert_eq!(records[1].timestamp(h.base_timestamp), 1005);
        assert_eq!(records[2].offset(10), 12);
        assert_eq!(records[2].key.as_deref(), Some(&b""[..]));
    }
}

/// One record, key "key", value "value", built by hand from the Kafka protocol guide's layout.
fn spec_batch() -> Vec<u8> {
    let mut record = vec![0u8]; // attributes
    record.push(0); // timestampDelta 0
    record.push(0); // offsetDelta 0
    record.push(6); // key length 3 (zigzag)
    record.extend_from_slice(b"key");
    record.push(10); // value length 5
    record.extend_from_slice(b"value");
    record.push(0); // no headers
    let mut records = vec![(record.len() as u8) << 1];
    records.extend(record);
    let mut b = Vec::new();
    b.extend_from_slice(&0i64.to_be_bytes());
    b.extend_from_slice(&((49 + records.len()) as i32).to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes());
    b.push(2);
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&0i16.to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes());
    b.extend_from_slice(&1_700_000_000_000i64.to_be_bytes());
    b.extend_from_slice(&1_700_000_000_000i64.to_be_bytes());
    b.extend_from_slice(&(-1i64).to_be_bytes());
    b.extend_from_slice(&(-1i16).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes());
    b.extend_from_slice(&1i32.to_be_bytes());
    b.extend(records);
    let crc = batch_header::compute_crc(&b);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

#[test]
fn a_hand_built_spec_batch_decodes() {
    let batch = spec_batch();
    batch_header::validate(&batch).unwrap();
    let records = decode_records(&batch).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].key.as_deref(), Some(&b"key"[..]));
    assert_eq!(records[0].value.as_deref(), Some(&b"value"[..]));
    // The builder produces the same bytes.
    let mut b = BatchBuilder::new(Compression::None, 1_700_000_000_000);
    b.push(1_700_000_000_000, Some(b"key"), Some(b"value"), &[]);
    let mut built = b.build().unwrap().to_vec();
    built[12..16].copy_from_slice(&0i32.to_be_bytes());
    assert_eq!(built, batch);
}

#[test]
fn every_prefix_and_every_flipped_byte_is_an_error_or_a_valid_decode() {
    for codec in ALL {
        let mut b = BatchBuilder::new(codec, 0);
        b.push(0, Some(b"key"), Some(b"value"), &[header("h", Some("v"))]);
        let batch = b.build().unwrap().to_vec();
        for len in 0..batch.len() {
            assert!(
                decode_records(&batch[..len]).is_err(),
                "{codec:?} prefix {len}"
            );
            let _ = check_offset_deltas(&batch[..len]);
        }
        for i in 0..batch.len() {
            let mut damaged = batch.clone();
            damaged[i] ^= 0xa5;
            let _ = decode_records(&damaged);
            let _ = check_offset_deltas(&damaged);
        }
    }
}

#[test]
fn an_offset_gap_is_rejected() {
    let mut b = BatchBuilder::new(Compression::None, 0);
    b.push(0, None, Some(b"a"), &[]);
    b.push(0, None, Some(b"b"), &[]);
    let mut batch = b.build().unwrap().to_vec();
    // Second record: [len][attr][tsDelta][offsetDelta=1 -> 2]; make it 3 (zigzag 6).
    let first_len = (batch[61] >> 1) as usize;
    let second = 61 + 1 + first_len;
    assert_eq!(batch[second + 3], 2);
    batch[second + 3] = 6;
    batch_header::reseal_crc(&mut batch);
    assert!(matches!(
        check_offset_deltas(&batch),
        Err(crate::BatchError::OffsetGap { index: 1, delta: 3 })
    ));
}

#[test]
fn absurd_counts_do_not_allocate() {
    let mut batch = spec_batch();
    batch[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
    assert!(decode_records(&batch).is_err());
    let h = BatchHeader::parse(&batch).unwrap();
    assert_eq!(h.records_count, i32::MAX);
}

proptest! {
    #[test]
    fn random_records_round_trip(
        codec in 0usize..5,
        records in proptest::collection::vec(
            (any::<i32>(), proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
             proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
             proptest::collection::vec(("[a-z]{0,8}", proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20))), 0..3)),
            1..20),
    ) {
        let codec = ALL[codec];
        let mut b = BatchBuilder::new(codec, 1_000_000);
        for (ts, key, value, headers) in &records {
            let headers: Vec<Header> = headers.iter().map(|(k, v)| Header { key: k.clone(), value: v.clone().map(Bytes::from) }).collect();
            b.push(1_000_000 + i64::from(*ts % 100_000), key.as_deref(), value.as_deref(), &headers);
        }
        let batch = b.build().unwrap();
        let h = batch_header::validate(&batch).unwrap();
        check_offset_deltas(&batch).unwrap();
        let decoded = decode_records(&batch).unwrap();
        prop_assert_eq!(decoded.len(), records.len());
        for (i, (r, (ts, key, value, headers))) in decoded.iter().zip(&records).enumerate() {
            prop_assert_eq!(r.offset_delta, i as i32);
            prop_assert_eq!(r.timestamp(h.base_timestamp), 1_000_000 + i64::from(*ts % 100_000));
            prop_assert_eq!(r.key.as_deref(), key.as_deref());
            prop_assert_eq!(r.value.as_deref(), value.as_deref());
            prop_assert_eq!(r.headers.len(), headers.len());
        }
    }
}

#[test]
fn recompress_keeps_records_and_producer_under_every_codec_pair() {
    for from in ALL {
        let mut b = BatchBuilder::new(from, 5_000).producer(42, 3, 17);
        b.push(5_000, Some(b"k"), Some(b"v1"), &[header("h", Some("x"))]);
        b.push(5_007, None, None, &[]);
        let original = b.build().unwrap();
        for to in ALL {
            let again = recompress(&original, to).unwrap();
            let h = batch_header::validate(&again).unwrap();
            assert_eq!(Compression::from_attributes(h.attributes).unwrap(), to);
            assert_eq!(
                (h.producer_id, h.producer_epoch, h.base_sequence),
                (42, 3, 17)
            );
            assert_eq!((h.base_timestamp, h.max_timestamp), (5_000, 5_007));
            assert_eq!(
                decode_records(&again).unwrap(),
                decode_records(&original).unwrap()
            );
        }
    }
}
