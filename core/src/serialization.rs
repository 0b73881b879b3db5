//! Serializers and deserializers for keys and values, with the Java client's encodings.
//!
//! Integers and floats are big-endian, as Java's `IntegerSerializer` & co. write them, so a
//! key serialized here hashes to the same partition as from a Java producer.

use bytes::Bytes;

use crate::error::{KafkaError, Result};

/// Turns a key or value into bytes; `None` is Kafka's null.
pub trait Serializer<T: ?Sized>: Send + Sync {
    fn serialize(&self, topic: &str, data: &T) -> Result<Option<Bytes>>;
}

/// Turns bytes (or null) back into a key or value.
pub trait Deserializer<T>: Send + Sync {
    fn deserialize(&self, topic: &str, data: Option<&Bytes>) -> Result<T>;

    /// True when `deserialize` cannot fail and [`Deserializer::deserialize_owned`] keeps the
    /// bytes as they are: the consumer then hands over the record's bytes instead of a
    /// reference (no reference-count round trip per record).
    fn takes_bytes(&self) -> bool {
        false
    }

    /// `deserialize` given the bytes to keep; the consumer calls it only when both the key's
    /// and the value's deserializer say [`Deserializer::takes_bytes`].
    fn deserialize_owned(&self, topic: &str, data: Option<Bytes>) -> Result<T> {
        self.deserialize(topic, data.as_ref())
    }
}

/// Bytes as they are.
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesSerde;

/// UTF-8 strings.
#[derive(Debug, Clone, Copy, Default)]
pub struct StringSerde;

/// Big-endian integers and floats (Java's Short/Integer/Long/Float/Double serializers).
#[derive(Debug, Clone, Copy, Default)]
pub struct BigEndianSerde;

impl Serializer<Bytes> for BytesSerde {
    fn serialize(&self, _: &str, data: &Bytes) -> Result<Option<Bytes>> {
        Ok(Some(data.clone()))
    }
}
impl Serializer<Vec<u8>> for BytesSerde {
    fn serialize(&self, _: &str, data: &Vec<u8>) -> Result<Option<Bytes>> {
        Ok(Some(Bytes::copy_from_slice(data)))
    }
}
impl Serializer<[u8]> for BytesSerde {
    fn serialize(&self, _: &str, data: &[u8]) -> Result<Option<Bytes>> {
        Ok(Some(Bytes::copy_from_slice(data)))
    }
}
impl<T> Serializer<Option<T>> for BytesSerde
where
    BytesSerde: Serializer<T>,
{
    fn serialize(&self, topic: &str, data: &Option<T>) -> Result<Option<Bytes>> {
        match data {
            None => Ok(None),
            Some(d) => self.serialize(topic, d),
        }
    }
}
impl Deserializer<Option<Bytes>> for BytesSerde {
    fn deserialize(&self, _: &str, data: Option<&Bytes>) -> Result<Option<Bytes>> {
        Ok(data.cloned())
    }
    fn takes_bytes(&self) -> bool {
        true
    }
    fn deserialize_owned(&self, _: &str, data: Option<Bytes>) -> Result<Option<Bytes>> {
        Ok(data)
    }
}
impl Deserializer<Bytes> for BytesSerde {
    fn deserialize(&self, _: &str, data: Option<&Bytes>) -> Result<Bytes> {
        Ok(data.cloned().unwrap_or_default())
    }
    fn takes_bytes(&self) -> bool {
        true
    }
    fn deserialize_owned(&self, _: &str, data: Option<Bytes>) -> Result<Bytes> {
        Ok(data.unwrap_or_default())
    }
}
impl Deserializer<Vec<u8>> for BytesSerde {
    fn deserialize(&self, _: &str, data: Option<&Bytes>) -> Result<Vec<u8>> {
        Ok(data.map(|b| b.to_vec()).unwrap_or_default())
    }
}

impl Serializer<String> for StringSerde {
    fn serialize(&self, _: &str, data: &String) -> Result<Option<Bytes>> {
        Ok(Some(Bytes::copy_from_slice(data.as_bytes())))
    }
}
impl Serializer<str> for StringSerde {
    fn serialize(&self, _: &str, data: &str) -> Result<Option<Bytes>> {
        Ok(Some(Bytes::copy_from_slice(data.as_bytes())))
    }
}
impl Serializer<Option<String>> for StringSerde {
    fn serialize(&self, _: &str, data: &Option<String>) -> Result<Option<Bytes>> {
        Ok(data.as_ref().map(|s| Bytes::copy_from_slice(s.as_bytes())))
    }
}
impl Deserializer<String> for StringSerde {
    fn deserialize(&self, topic: &str, data: Option<&Bytes>) -> Result<String> {
        match data {
            None => Ok(String::new()),
            Some(b) => String::from_utf8(b.to_vec()).map_err(|e| {
                KafkaError::Serialization(format!("record in {topic} is not UTF-8: {e}"))
            }),
        }
    }
}
impl Deserializer<Option<String>> for StringSerde {
    fn deserialize(&self, topic: &str, data: Option<&Bytes>) -> Result<Option<String>> {
        data.map(|b| <StringSerde as Deserializer<String>>::deserialize(self, topic, Some(b)))
            .transpose()
    }
}

macro_rules! big_endian {
    ($($t:ty),*) => {$(
        impl Serializer<$t> for BigEndianSerde {
            fn serialize(&self, _: &str, data: &$t) -> Result<Option<Bytes>> {
                Ok(Some(Bytes::copy_from_slice(&data.to_be_bytes())))
            }
        }
        impl Deserializer<$t> for BigEndianSerde {
            fn deserialize(&self, topic: &str, data: Option<&Bytes>) -> Result<$t> {
                let b = data.ok_or_else(|| KafkaError::Serialization(format!("null {} in {topic}", stringify!($t))))?;
                let arr: [u8; std::mem::size_of::<$t>()] = b[..].try_into().map_err(|_| {
                    KafkaError::Serialization(format!("{} bytes cannot be a {} in {topic}", b.len(), stringify!($t)))
                })?;
                Ok(<$t>::from_be_bytes(arr))
            }
        }
    )*};
}
big_endian!(i16, i32, i64, f32, f64);

/// The unit type serializes to null (records without a key).
impl Serializer<()> for BytesSerde {
    fn serialize(&self, _: &str, _: &()) -> Result<Option<Bytes>> {
        Ok(None)
    }
}

/// JSON via serde.
#[cfg(feature = "json")]
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonSerde;

#[cfg(feature = "json")]
impl<T: serde::Serialize> Serializer<T> for JsonSerde {
    fn serialize(&self, _: &str, data: &T) -> Result<Option<Bytes>> {
        serde_json::to_vec(data)
            .map(|v| Some(Bytes::from(v)))
            .map_err(|e| KafkaError::Serialization(e.to_string()))
    }
}

#[cfg(feature = "json")]
impl<T: serde::de::DeserializeOwned> Deserializer<T> for JsonSerde {
    fn deserialize(&self, topic: &str, data: Option<&Bytes>) -> Result<T> {
        let b = data.ok_or_else(|| KafkaError::Serialization(format!("null JSON in {topic}")))?;
        serde_json::from_slice(b).map_err(|e| KafkaError::Serialization(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_big_endian_like_java() {
        assert_eq!(
            BigEndianSerde
                .serialize("t", &1i32)
                .unwrap()
                .unwrap()
                .as_ref(),
            &[0, 0, 0, 1]
        );
        assert_eq!(
            BigEndianSerde
                .serialize("t", &-2i64)
                .unwrap()
                .unwrap()
                .as_ref(),
            &[0xff; 7].iter().copied().chain([0xfe]).collect::<Vec<_>>()[..]
        );
        let b = Bytes::from_static(&[0, 0, 1, 0]);
        assert_eq!(
            <BigEndianSerde as Deserializer<i32>>::deserialize(&BigEndianSerde, "t", Some(&b))
                .unwrap(),
            256
        );
        assert!(
            <BigEndianSerde as Deserializer<i64>>::deserialize(&BigEndianSerde, "t", Some(&b))
                .is_err()
        );
        assert!(<StringSerde as Deserializer<String>>::deserialize(
            &StringSerde,
            "t",
            Some(&Bytes::from_static(&[0xff]))
        )
        .is_err());
    }
}
