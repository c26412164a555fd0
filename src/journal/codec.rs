//! Payload codecs (provisional: byte shuffle + zstd; replaced by the measured codec set).
use crate::frame::{Packing, PixelFormat};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    None,
    Shuffle16,
}
impl Transform {
    pub fn code(self) -> u8 {
        match self {
            Transform::None => 0,
            Transform::Shuffle16 => 1,
        }
    }
    pub fn from_code(c: u8) -> Option<Self> {
        match c {
            0 => Some(Transform::None),
            1 => Some(Transform::Shuffle16),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Transform::None => "none",
            Transform::Shuffle16 => "shuffle16",
        }
    }
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Stored,
    Zstd,
}
impl Compression {
    pub fn code(self) -> u8 {
        match self {
            Compression::Stored => 0,
            Compression::Zstd => 1,
        }
    }
    pub fn from_code(c: u8) -> Option<Self> {
        match c {
            0 => Some(Compression::Stored),
            1 => Some(Compression::Zstd),
            _ => None,
        }
    }
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodecSpec {
    pub transform: Transform,
    pub compression: Compression,
}
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("corrupt payload: {0}")]
    Corrupt(String),
    #[error("decoded {got} bytes, expected {want}")]
    Size { got: usize, want: usize },
}
pub struct Encoder {
    level: i32,
    scratch: Vec<u8>,
}
impl Encoder {
    pub fn new(level: i32) -> Encoder {
        Encoder {
            level,
            scratch: Vec::new(),
        }
    }
    pub fn level(&self) -> i32 {
        self.level
    }
    pub fn set_level(&mut self, level: i32) {
        self.level = level;
    }
    pub fn encode(
        &mut self,
        format: &PixelFormat,
        raw: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<CodecSpec, CodecError> {
        let transform = if format.packing == Packing::U16Le && raw.len().is_multiple_of(2) {
            Transform::Shuffle16
        } else {
            Transform::None
        };
        let compression = if self.level == 0 {
            Compression::Stored
        } else {
            Compression::Zstd
        };
        let spec = CodecSpec {
            transform,
            compression,
        };
        self.encode_with(spec, format, raw, out)?;
        Ok(spec)
    }
    pub fn encode_with(
        &mut self,
        spec: CodecSpec,
        _format: &PixelFormat,
        raw: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        let data: &[u8] = match spec.transform {
            Transform::None => raw,
            Transform::Shuffle16 => {
                let n = raw.len() / 2;
                self.scratch.resize(raw.len(), 0);
                for i in 0..n {
                    self.scratch[i] = raw[2 * i];
                    self.scratch[n + i] = raw[2 * i + 1];
                }
                &self.scratch
            }
        };
        out.clear();
        match spec.compression {
            Compression::Stored => out.extend_from_slice(data),
            Compression::Zstd => {
                let mut c = zstd::bulk::Compressor::new(self.level)
                    .map_err(|e| CodecError::Corrupt(e.to_string()))?;
                c.include_checksum(true)
                    .map_err(|e| CodecError::Corrupt(e.to_string()))?;
                *out = c
                    .compress(data)
                    .map_err(|e| CodecError::Corrupt(e.to_string()))?;
            }
        }
        Ok(())
    }
}
#[derive(Default)]
pub struct Decoder {
    scratch: Vec<u8>,
}
impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }
    pub fn decode(
        &mut self,
        spec: CodecSpec,
        _format: &PixelFormat,
        stored: &[u8],
        raw_len: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        self.scratch.clear();
        match spec.compression {
            Compression::Stored => self.scratch.extend_from_slice(stored),
            Compression::Zstd => {
                self.scratch.reserve(raw_len);
                let mut d = zstd::bulk::Decompressor::new()
                    .map_err(|e| CodecError::Corrupt(e.to_string()))?;
                d.decompress_to_buffer(stored, &mut self.scratch)
                    .map_err(|e| CodecError::Corrupt(e.to_string()))?;
            }
        }
        if self.scratch.len() != raw_len {
            return Err(CodecError::Size {
                got: self.scratch.len(),
                want: raw_len,
            });
        }
        out.clear();
        match spec.transform {
            Transform::None => out.extend_from_slice(&self.scratch),
            Transform::Shuffle16 => {
                let n = raw_len / 2;
                out.resize(raw_len, 0);
                for i in 0..n {
                    out[2 * i] = self.scratch[i];
                    out[2 * i + 1] = self.scratch[n + i];
                }
            }
        }
        Ok(())
    }
}
