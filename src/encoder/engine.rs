//! The inference engine: the same BERT as [`super::bert`], run without candle's per-op overhead.
//!
//! Why a second forward pass: candle runs one allocating op at a time on padded batches, in
//! f32, and copies the 250,000-row word-embedding table (384 MB for multilingual-e5-small) out
//! of the memory map. For one short utterance that costs about 24 ms and 800 MB. This engine
//! packs the utterances of a batch end to end (no padding), fuses residual + LayerNorm and
//! GELU into the matrix products' outputs, reuses its buffers, multiplies with int8 weights on
//! AVX-512 VNNI or AVX2 (or in f32), and reads word embeddings from the weight file a row at
//! a time, so the 250,000-row table never becomes resident.
//!
//! [`super::bert::BertModel`] stays the reference (and the trainable path of adaptation); the
//! tests check this engine against it.

#![allow(clippy::indexing_slicing)] // shapes are fixed at load and checked in `forward`

use super::bert::BertConfig;
use super::kernels::{self, F32Linear, Int8Linear, Scratch};
use crate::error::{Error, Result};
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How the engine multiplies: the speed/precision choice of an [`Encoder`](super::Encoder).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InferencePrecision {
    /// Weights and activations quantised to int8 per row, sums in i32: about 4× faster than
    /// f32 on CPUs with AVX-512 VNNI; on AVX2 alone, about 1.7× faster for one short utterance
    /// (a quarter of the weights to read) and as fast for batches. Embeddings within cosine
    /// 0.99 of f32.
    Int8,
    /// Plain f32 everywhere.
    F32,
}

impl InferencePrecision {
    /// The default for this CPU: int8 where AVX-512 VNNI or AVX2 runs it fast, f32 elsewhere; the environment
    /// variable `ENTENDU_PRECISION=int8|f32` overrides it (any other value is ignored, with a
    /// warning through `tracing`).
    pub fn default_for_this_cpu() -> Self {
        match std::env::var("ENTENDU_PRECISION").ok().as_deref().map(str::trim) {
            Some(name) if !name.is_empty() => Self::from_name(name).unwrap_or_else(|| {
                tracing::warn!("ENTENDU_PRECISION={name:?} is neither int8 nor f32: ignored");
                Self::fastest_for_this_cpu()
            }),
            _ => Self::fastest_for_this_cpu(),
        }
    }

    /// The precision named `int8` or `f32` (what [`as_str`](Self::as_str) writes).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "int8" => Some(InferencePrecision::Int8),
            "f32" => Some(InferencePrecision::F32),
            _ => None,
        }
    }

    fn fastest_for_this_cpu() -> Self {
        if kernels::vnni_available() || kernels::avx2_available() {
            InferencePrecision::Int8
        } else {
            InferencePrecision::F32
        }
    }

    /// `int8` or `f32`.
    pub fn as_str(self) -> &'static str {
        match self {
            InferencePrecision::Int8 => "int8",
            InferencePrecision::F32 => "f32",
        }
    }
}

enum Linear {
    Int8(Int8Linear),
    F32(F32Linear),
}

impl Linear {
    fn new(weight: &[f32], bias: &[f32], n: usize, k: usize, precision: InferencePrecision) -> Self {
        match precision {
            InferencePrecision::Int8 => Linear::Int8(Int8Linear::quantize(weight, bias, n, k)),
            InferencePrecision::F32 => Linear::F32(F32Linear::new(weight, bias, n, k)),
        }
    }

    fn outputs(&self) -> usize {
        match self {
            Linear::Int8(l) => l.outputs(),
            Linear::F32(l) => l.outputs(),
        }
    }

    #[inline(always)]
    fn forward(&self, x: &[f32], m: usize, out: &mut Vec<f32>, scratch: &mut Scratch) {
        match self {
            Linear::Int8(l) => l.forward(x, m, out, scratch),
            Linear::F32(l) => l.forward(x, m, out, scratch.single_thread),
        }
    }
}

/// f32 lanes of an AVX-512 register: the block width of the attention loops.
const LANES: usize = 16;

struct Norm {
    weight: Vec<f32>,
    bias: Vec<f32>,
    eps: f32,
}

impl Norm {
    /// LayerNorm of every row of `x`, in place.
    #[inline(always)]
    fn apply(&self, x: &mut [f32]) {
        let h = self.weight.len();
        for row in x.chunks_exact_mut(h) {
            let mean = sum(row) / h as f32;
            let variance = sum_of_squares(row, mean) / h as f32;
            let inverse = 1.0 / (variance + self.eps).sqrt();
            for ((v, w), b) in row.iter_mut().zip(&self.weight).zip(&self.bias) {
                *v = (*v - mean) * inverse * w + b;
            }
        }
    }
}

/// Adapted top layers ([`super::adapt`]) in the engine's form: layers `from..` run by
/// [`Engine::forward_upper`] in place of candle, at the engine's speed and precision.
pub(crate) struct EngineLayers {
    from: usize,
    layers: Vec<Layer>,
}

impl EngineLayers {
    /// The first layer replaced.
    pub(crate) fn first_layer(&self) -> usize {
        self.from
    }
}

/// Reads a named tensor as `len` f32 values.
type ReadFn<'a> = dyn Fn(&str, usize) -> Result<Vec<f32>> + 'a;

/// Builds layer `p` (`encoder.layer.{i}`) from tensors named as in the base model.
fn read_layer(
    p: &str,
    read: &ReadFn,
    has: &dyn Fn(&str) -> bool,
    config: &BertConfig,
    precision: InferencePrecision,
) -> Result<Layer> {
    let (h, ff) = (config.hidden_size, config.intermediate_size);
    let norm = |name: &str| read_norm(name, read, has, config);
    let mut qkv_w = read(&format!("{p}.attention.self.query.weight"), h * h)?;
    qkv_w.extend(read(&format!("{p}.attention.self.key.weight"), h * h)?);
    qkv_w.extend(read(&format!("{p}.attention.self.value.weight"), h * h)?);
    let mut qkv_b = read(&format!("{p}.attention.self.query.bias"), h)?;
    qkv_b.extend(read(&format!("{p}.attention.self.key.bias"), h)?);
    qkv_b.extend(read(&format!("{p}.attention.self.value.bias"), h)?);
    let linear = |name: &str, n: usize, k: usize| -> Result<Linear> {
        Ok(Linear::new(
            &read(&format!("{p}.{name}.weight"), n * k)?,
            &read(&format!("{p}.{name}.bias"), n)?,
            n,
            k,
            precision,
        ))
    };
    Ok(Layer {
        qkv: Linear::new(&qkv_w, &qkv_b, 3 * h, h, precision),
        attention_output: linear("attention.output.dense", h, h)?,
        attention_norm: norm(&format!("{p}.attention.output.LayerNorm"))?,
        inner: linear("intermediate.dense", ff, h)?,
        outer: linear("output.dense", h, ff)?,
        output_norm: norm(&format!("{p}.output.LayerNorm"))?,
    })
}

/// Reads LayerNorm `name`.
fn read_norm(name: &str, read: &ReadFn, has: &dyn Fn(&str) -> bool, config: &BertConfig) -> Result<Norm> {
    let h = config.hidden_size;
    // Older checkpoints name the parameters gamma/beta.
    let (weight, bias) = if has(&format!("{name}.weight")) {
        (read(&format!("{name}.weight"), h)?, read(&format!("{name}.bias"), h)?)
    } else {
        (read(&format!("{name}.gamma"), h)?, read(&format!("{name}.beta"), h)?)
    };
    Ok(Norm { weight, bias, eps: config.layer_norm_eps as f32 })
}

struct Layer {
    /// Query, key and value projections stacked: one product instead of three.
    qkv: Linear,
    attention_output: Linear,
    attention_norm: Norm,
    inner: Linear,
    outer: Linear,
    output_norm: Norm,
}

/// The word-embedding table, read row by row from the weight file when a token is seen.
///
/// Not memory-mapped: the page cache maps large folios, so each row read through a map
/// (1.5 KB) made up to hundreds of KB resident, and 1,000 utterances grew the process by 280 MB.
/// A positioned read costs about a microsecond and leaves the rows in the page cache, which
/// the system shares and reclaims, not in the process.
struct WordTable {
    file: std::fs::File,
    offset: u64,
    rows: usize,
    dtype: Dtype,
}

impl WordTable {
    #[inline(always)]
    fn add_row(&self, id: u32, h: usize, out: &mut [f32], bytes: &mut Vec<u8>) {
        let id = id as usize;
        if id >= self.rows {
            return; // the tokenizer never yields such ids; a zero row is a safe answer
        }
        let width = match self.dtype {
            Dtype::F32 => 4,
            _ => 2,
        };
        bytes.resize(h * width, 0);
        if read_at(&self.file, bytes, self.offset + (id * h * width) as u64).is_err() {
            return; // the file was readable at load; a failing disk gives a zero row, not a panic
        }
        for (o, b) in out.iter_mut().zip(bytes.chunks_exact(width)) {
            *o += match self.dtype {
                Dtype::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                Dtype::F16 => half::f16::from_le_bytes([b[0], b[1]]).to_f32(),
                _ => half::bf16::from_le_bytes([b[0], b[1]]).to_f32(),
            };
        }
    }
}

#[cfg(unix)]
fn read_at(file: &std::fs::File, buffer: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buffer, offset)
}

#[cfg(windows)]
fn read_at(file: &std::fs::File, mut buffer: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    while !buffer.is_empty() {
        let n = std::os::windows::fs::FileExt::seek_read(file, buffer, offset)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer = &mut buffer[n..];
        offset += n as u64;
    }
    Ok(())
}

/// Elsewhere: seek and read under a lock, since the file's cursor is shared.
#[cfg(not(any(unix, windows)))]
fn read_at(file: &std::fs::File, buffer: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    static CURSOR: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = CURSOR.lock().map_err(|_| std::io::Error::other("poisoned lock"))?;
    let mut file = file;
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buffer)
}

/// BERT inference on packed utterances: see the module documentation.
pub(crate) struct Engine {
    config: BertConfig,
    precision: InferencePrecision,
    words: WordTable,
    positions: Vec<f32>,
    token_type: Vec<f32>,
    embedding_norm: Norm,
    layers: Vec<Layer>,
}

/// Hidden states of a batch, utterances end to end: rows `starts[i]..starts[i+1]` are utterance `i`.
pub(crate) struct Hidden {
    pub states: Vec<f32>,
    pub starts: Vec<usize>,
    pub width: usize,
}

impl Hidden {
    /// Tokens of each utterance, in order.
    pub fn lengths(&self) -> impl Iterator<Item = usize> + '_ {
        self.starts.windows(2).map(|w| w[1] - w[0])
    }

    /// The `[tokens × width]` states of utterance `i`.
    pub fn utterance(&self, i: usize) -> &[f32] {
        match (self.starts.get(i), self.starts.get(i + 1)) {
            (Some(&a), Some(&b)) => &self.states[a * self.width..b * self.width],
            _ => &[],
        }
    }
}

impl Engine {
    /// Reads the weights of `path` (safetensors, f32/f16/bf16, with or without a `bert.` prefix).
    pub(crate) fn load(path: &Path, config: &BertConfig, precision: InferencePrecision) -> Result<Self> {
        let damaged = |message: String| Error::InvalidEncoder { path: path.to_path_buf(), message };
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: the weight file is mapped read-only and entendu never writes to it while mapped;
        // changing the file under a running process is undefined behaviour, as for candle's
        // own mmap loader.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let tensors = SafeTensors::deserialize(&map[..])
            .map_err(|e| damaged(format!("not safetensors ({e}); fetch the encoder again")))?;
        let prefix = if tensors.names().iter().any(|n| n.starts_with("bert.embeddings.")) { "bert." } else { "" };
        let h = config.hidden_size;
        let read = |name: &str, len: usize| -> Result<Vec<f32>> {
            let full = format!("{prefix}{name}");
            let view =
                tensors.tensor(&full).map_err(|_| damaged(format!("{full} is missing: fetch the encoder again")))?;
            let values = to_f32(view.dtype(), view.data())
                .ok_or_else(|| damaged(format!("{full}: unsupported dtype {:?} (f32, f16, bf16)", view.dtype())))?;
            if values.len() != len {
                return Err(damaged(format!("{full} has {} values, config.json implies {len}", values.len())));
            }
            Ok(values)
        };
        let has = |name: &str| tensors.tensor(&format!("{prefix}{name}")).is_ok();

        let word_name = format!("{prefix}embeddings.word_embeddings.weight");
        let word = tensors.tensor(&word_name).map_err(|_| damaged(format!("{word_name} is missing")))?;
        if !matches!(word.dtype(), Dtype::F32 | Dtype::F16 | Dtype::BF16) || word.shape() != [config.vocab_size, h] {
            return Err(damaged(format!("{word_name}: expected f32/f16/bf16 [{}, {h}]", config.vocab_size)));
        }
        let offset = word.data().as_ptr() as usize - map.as_ptr() as usize;
        let word_dtype = word.dtype();

        let positions = read("embeddings.position_embeddings.weight", config.max_position_embeddings * h)?;
        let types = read("embeddings.token_type_embeddings.weight", config.type_vocab_size * h)?;
        let token_type = types.get(..h).map(<[f32]>::to_vec).unwrap_or_else(|| vec![0.0; h]);
        let embedding_norm = read_norm("embeddings.LayerNorm", &read, &has, config)?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| read_layer(&format!("encoder.layer.{i}"), &read, &has, config, precision))
            .collect::<Result<Vec<_>>>()?;
        drop(tensors);
        // The layers are copied (quantised) by now: unmapping drops the pages their reading
        // made resident.
        drop(map);
        let words = WordTable { file, offset: offset as u64, rows: config.vocab_size, dtype: word_dtype };
        Ok(Self { config: config.clone(), precision, words, positions, token_type, embedding_norm, layers })
    }

    /// Layers `from..` of the model, from tensors named as in the base model
    /// (`encoder.layer.{i}.…`) that `read` gives and `has` tells apart (LayerNorm `weight` or
    /// `gamma`): adapted top layers, compiled once at load.
    pub(crate) fn compile_layers(
        &self,
        from: usize,
        read: &ReadFn,
        has: &dyn Fn(&str) -> bool,
    ) -> Result<EngineLayers> {
        let layers = (from..self.config.num_hidden_layers)
            .map(|i| read_layer(&format!("encoder.layer.{i}"), read, has, &self.config, self.precision))
            .collect::<Result<Vec<_>>>()?;
        Ok(EngineLayers { from, layers })
    }

    /// Runs `upper` on the states its first layer reads (`lower`, the second half of
    /// [`forward_split`](Self::forward_split)'s result at `upper.first_layer()`), in place.
    pub(crate) fn forward_upper(&self, lower: Hidden, upper: &EngineLayers, single_thread: bool) -> Hidden {
        #[cfg(target_arch = "x86_64")]
        {
            if kernels::avx512_available() {
                // SAFETY: the CPU has the features (just checked).
                return unsafe { self.upper_avx512(lower, upper, single_thread) };
            }
            if kernels::avx2_fma_available() {
                // SAFETY: the CPU has the features (just checked).
                return unsafe { self.upper_avx2(lower, upper, single_thread) };
            }
        }
        self.upper_portable(lower, upper, single_thread)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
    unsafe fn upper_avx512(&self, lower: Hidden, upper: &EngineLayers, single_thread: bool) -> Hidden {
        self.upper_portable(lower, upper, single_thread)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn upper_avx2(&self, lower: Hidden, upper: &EngineLayers, single_thread: bool) -> Hidden {
        self.upper_portable(lower, upper, single_thread)
    }

    #[inline(always)]
    fn upper_portable(&self, mut hidden: Hidden, upper: &EngineLayers, single_thread: bool) -> Hidden {
        let mut buffers = Buffers::default();
        buffers.scratch.single_thread = single_thread;
        for layer in &upper.layers {
            self.layer(layer, &mut hidden.states, &hidden.starts, &mut buffers);
        }
        hidden
    }

    /// The precision the engine was loaded with.
    pub(crate) fn precision(&self) -> InferencePrecision {
        self.precision
    }

    /// Last hidden states after `layers` layers (all of them with `usize::MAX`) of each
    /// utterance's token ids. Large products are shared with rayon's threads.
    pub(crate) fn forward(&self, utterances: &[&[u32]], layers: usize) -> Hidden {
        self.forward_with(utterances, layers, false, None).0
    }

    /// [`forward`](Self::forward) entirely on the calling thread: for passes that already run
    /// in parallel with each other.
    pub(crate) fn forward_on_this_thread(&self, utterances: &[&[u32]], layers: usize) -> Hidden {
        self.forward_with(utterances, layers, true, None).0
    }

    /// The last hidden states of every layer, and a copy of the states after the first `split`
    /// layers: the input of adapted top layers, computed on the way for no extra work.
    pub(crate) fn forward_split(&self, utterances: &[&[u32]], split: usize) -> (Hidden, Hidden) {
        let (last, at_split) = self.forward_with(utterances, usize::MAX, false, Some(split));
        let at_split = at_split.unwrap_or_else(|| Hidden {
            states: last.states.clone(),
            starts: last.starts.clone(),
            width: last.width,
        });
        (last, at_split)
    }

    fn forward_with(
        &self,
        utterances: &[&[u32]],
        layers: usize,
        single_thread: bool,
        split: Option<usize>,
    ) -> (Hidden, Option<Hidden>) {
        // The element-wise work (LayerNorm, GELU, attention, (de)quantisation) is compiled
        // three times, for AVX-512, AVX2 and baseline x86-64, and chosen at run time: the
        // baseline's 4-lane SSE2 would double the time of a short utterance.
        #[cfg(target_arch = "x86_64")]
        {
            if kernels::avx512_available() {
                // SAFETY: the CPU has the features (just checked).
                return unsafe { self.forward_avx512(utterances, layers, single_thread, split) };
            }
            if kernels::avx2_fma_available() {
                // SAFETY: the CPU has the features (just checked).
                return unsafe { self.forward_avx2(utterances, layers, single_thread, split) };
            }
        }
        self.forward_portable(utterances, layers, single_thread, split)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
    unsafe fn forward_avx512(
        &self,
        utterances: &[&[u32]],
        layers: usize,
        single_thread: bool,
        split: Option<usize>,
    ) -> (Hidden, Option<Hidden>) {
        self.forward_portable(utterances, layers, single_thread, split)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn forward_avx2(
        &self,
        utterances: &[&[u32]],
        layers: usize,
        single_thread: bool,
        split: Option<usize>,
    ) -> (Hidden, Option<Hidden>) {
        self.forward_portable(utterances, layers, single_thread, split)
    }

    #[inline(always)]
    fn forward_portable(
        &self,
        utterances: &[&[u32]],
        layers: usize,
        single_thread: bool,
        split: Option<usize>,
    ) -> (Hidden, Option<Hidden>) {
        let h = self.config.hidden_size;
        let mut starts = Vec::with_capacity(utterances.len() + 1);
        starts.push(0);
        for ids in utterances {
            let len = ids.len().min(self.config.max_position_embeddings);
            starts.push(starts.last().copied().unwrap_or(0) + len);
        }
        let tokens = starts.last().copied().unwrap_or(0);
        let mut x = vec![0.0f32; tokens * h];
        let mut row_bytes = Vec::new();
        for (ids, w) in utterances.iter().zip(starts.windows(2)) {
            let (start, len) = (w[0], w[1] - w[0]);
            for (position, &id) in ids.iter().take(len).enumerate() {
                let row = &mut x[(start + position) * h..(start + position + 1) * h];
                self.words.add_row(id, h, row, &mut row_bytes);
                for ((v, p), t) in
                    row.iter_mut().zip(&self.positions[position * h..(position + 1) * h]).zip(&self.token_type)
                {
                    *v += p + t;
                }
            }
        }
        self.embedding_norm.apply(&mut x);
        let mut buffers = Buffers::default();
        buffers.scratch.single_thread = single_thread;
        let mut at_split = None;
        for (index, layer) in self.layers.iter().take(layers).enumerate() {
            if split == Some(index) {
                at_split = Some(Hidden { states: x.clone(), starts: starts.clone(), width: h });
            }
            self.layer(layer, &mut x, &starts, &mut buffers);
        }
        (Hidden { states: x, starts, width: h }, at_split)
    }

    #[inline(always)]
    fn layer(&self, layer: &Layer, x: &mut [f32], starts: &[usize], b: &mut Buffers) {
        let h = self.config.hidden_size;
        let tokens = x.len() / h;
        layer.qkv.forward(x, tokens, &mut b.qkv, &mut b.scratch);
        attention(&b.qkv, starts, h, self.config.num_attention_heads, &mut b.context);
        layer.attention_output.forward(&b.context, tokens, &mut b.projected, &mut b.scratch);
        for (v, p) in x.iter_mut().zip(&b.projected) {
            *v += p;
        }
        layer.attention_norm.apply(x);
        layer.inner.forward(x, tokens, &mut b.inner, &mut b.scratch);
        gelu_in_place(&mut b.inner);
        layer.outer.forward(&b.inner, tokens, &mut b.projected, &mut b.scratch);
        debug_assert_eq!(layer.outer.outputs(), h);
        for (v, p) in x.iter_mut().zip(&b.projected) {
            *v += p;
        }
        layer.output_norm.apply(x);
    }
}

#[derive(Default)]
struct Buffers {
    qkv: Vec<f32>,
    context: Vec<f32>,
    projected: Vec<f32>,
    inner: Vec<f32>,
    scratch: Scratch,
}

/// Multi-head self-attention of every utterance on its own tokens: `qkv` rows are
/// `[query | key | value]`, `context` gets `tokens × h`.
#[inline(always)]
fn attention(qkv: &[f32], starts: &[usize], h: usize, heads: usize, context: &mut Vec<f32>) {
    let tokens = qkv.len() / (3 * h);
    context.clear();
    context.resize(tokens * h, 0.0);
    let head_dim = h / heads.max(1);
    let scale = 1.0 / (head_dim as f32).sqrt();
    // Serial on purpose: splitting utterances over rayon's threads measured no faster here,
    // and a closure would not inherit the caller's AVX-512 code generation.
    for w in starts.windows(2) {
        attend(qkv, w[0], w[1], h, heads, head_dim, scale, &mut context[w[0] * h..w[1] * h]);
    }
}

/// Attention of one utterance (rows `start..end` of `qkv`) into its `context` rows.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn attend(qkv: &[f32], start: usize, end: usize, h: usize, heads: usize, head_dim: usize, scale: f32, out: &mut [f32]) {
    let len = end - start;
    // Per head: the keys transposed (`head_dim × padded`, zero past `len`), so that the scores
    // of one query are blocks of 16 keys, each summed over `head_dim` in one register. (Adding
    // into a `len`-long row in memory instead, as before, left short utterances with 8-lane
    // and scalar read-modify-write loops: half of the engine's element-wise time.)
    let padded = len.div_ceil(LANES) * LANES;
    let mut keys = vec![0.0f32; head_dim * padded];
    let mut scores = vec![0.0f32; padded];
    for head in 0..heads {
        let offset = head * head_dim;
        for j in 0..len {
            let kj = &qkv[(start + j) * 3 * h + h + offset..][..head_dim];
            for (d, &k) in kj.iter().enumerate() {
                keys[d * padded + j] = k;
            }
        }
        for i in 0..len {
            let qi = &qkv[(start + i) * 3 * h + offset..][..head_dim];
            for (block, chunk) in scores.chunks_exact_mut(LANES).enumerate() {
                let mut acc = [0.0f32; LANES];
                for (d, &q) in qi.iter().enumerate() {
                    let row = &keys[d * padded + block * LANES..][..LANES];
                    for (a, &k) in acc.iter_mut().zip(row) {
                        *a += q * k;
                    }
                }
                for (s, a) in chunk.iter_mut().zip(acc) {
                    *s = a * scale;
                }
            }
            let scores = &mut scores[..len];
            let max = scores.iter().fold(f32::NEG_INFINITY, |m, &s| if s > m { s } else { m });
            for s in scores.iter_mut() {
                *s = exp_non_positive(*s - max);
            }
            let inverse = 1.0 / sum(scores);
            let ci = &mut out[i * h + offset..][..head_dim];
            // The weighted values, 16 dimensions at a time in one register.
            let mut blocks = ci.chunks_exact_mut(LANES);
            for (block, c) in blocks.by_ref().enumerate() {
                let mut acc = [0.0f32; LANES];
                for (j, &s) in scores.iter().enumerate() {
                    let vj = &qkv[(start + j) * 3 * h + 2 * h + offset + block * LANES..][..LANES];
                    let weight = s * inverse;
                    for (a, &v) in acc.iter_mut().zip(vj) {
                        *a += weight * v;
                    }
                }
                for (c, a) in c.iter_mut().zip(acc) {
                    *c += a;
                }
            }
            let done = head_dim - blocks.into_remainder().len();
            if done < head_dim {
                // Head widths that are no multiple of 16: the last dimensions one by one.
                for (j, &s) in scores.iter().enumerate() {
                    let vj = &qkv[(start + j) * 3 * h + 2 * h + offset..][..head_dim];
                    let weight = s * inverse;
                    for (c, v) in ci[done..].iter_mut().zip(&vj[done..]) {
                        *c += weight * v;
                    }
                }
            }
        }
    }
}

/// `eˣ` for `x ≤ 0` to about 2e-7 relative, vectorisable (hand-written: `f32::exp` is a libm
/// call per element, which made attention over 120 tokens cost more than the matrix products).
/// Cody-Waite reduction `x = n·ln2 + r`, degree-6 Taylor polynomial for `eʳ`, `2ⁿ` from bits.
#[inline(always)]
fn exp_non_positive(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 · 2²³: adding it rounds to an integer
    let x = x.max(-87.0);
    let t = x * std::f32::consts::LOG2_E + MAGIC;
    let n = t - MAGIC;
    let n_bits = t.to_bits() as i32 - MAGIC.to_bits() as i32;
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    f32::from_bits(((n_bits + 127) << 23) as u32) * p
}

/// Sum with 8 independent accumulators, so the compiler can vectorise it.
#[inline(always)]
fn sum(values: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let chunks = values.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().sum();
    for chunk in chunks {
        for (l, v) in lanes.iter_mut().zip(chunk) {
            *l += v;
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Σ (v - mean)², vectorisable like [`sum`].
#[inline(always)]
fn sum_of_squares(values: &[f32], mean: f32) -> f32 {
    let mut lanes = [0.0f32; 8];
    let chunks = values.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().map(|v| (v - mean) * (v - mean)).sum();
    for chunk in chunks {
        for (l, v) in lanes.iter_mut().zip(chunk) {
            *l += (v - mean) * (v - mean);
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Exact (erf) GELU, `x · (1 + erf(x/√2)) / 2`, with a vectorisable rational erf.
#[inline(always)]
fn gelu_in_place(values: &mut [f32]) {
    for v in values.iter_mut() {
        *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// erf to within about 1e-7 on f32: the rational approximation of Eigen's `generic_fast_erf_float`
/// (hand-written because std has no erf and candle's is scalar).
#[inline(always)]
fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10f32;
    p = p * x2 + 2.770_681_4e-8;
    p = p * x2 - 2.101_024e-6;
    p = p * x2 - 5.692_506_6e-5;
    p = p * x2 - 7.349_906_3e-4;
    p = p * x2 - 2.954_600_6e-3;
    p = p * x2 - 1.609_603_3e-2;
    p *= x;
    let mut q = -1.456_607_2e-5f32;
    q = q * x2 - 2.133_740_6e-4;
    q = q * x2 - 1.682_827e-3;
    q = q * x2 - 7.373_329_4e-3;
    q = q * x2 - 1.426_474e-2;
    p / q
}

/// Tensor bytes (little-endian) to f32.
fn to_f32(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    Some(match dtype {
        Dtype::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        Dtype::F16 => bytes.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        Dtype::BF16 => bytes.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_known_values() {
        for (x, expected) in [
            (0.0f32, 0.0f32),
            (0.5, 0.520_499_9),
            (1.0, 0.842_700_8),
            (2.0, 0.995_322_3),
            (-1.5, -0.966_105_1),
            (6.0, 1.0),
        ] {
            assert!((erf(x) - expected).abs() < 2e-6, "erf({x}) = {} not {expected}", erf(x));
        }
    }

    #[test]
    fn fast_exp_matches_std() {
        for i in 0..=10_000 {
            let x = -(i as f32) * 0.0087; // 0 down to -87
            let (fast, exact) = (exp_non_positive(x), x.exp());
            assert!((fast - exact).abs() <= 1e-6 * exact + 1e-38, "exp({x}): {fast} vs {exact}");
        }
        assert_eq!(exp_non_positive(f32::NEG_INFINITY), exp_non_positive(-87.0));
    }

    #[test]
    fn sums_match_naive() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.25 - 3.0).collect();
        assert!((sum(&a) - a.iter().sum::<f32>()).abs() < 1e-4);
    }
}
