//! The inference engine's matrix products: int8 weights × int8 activations with f32 rescaling
//! (AVX-512 VNNI, AVX2 or portable kernels), and f32 by AVX-512 or AVX2 kernels over the same
//! panels (through the `gemm` crate on other CPUs).
//!
//! Written by hand on purpose: candle has no int8 × int8 CPU matmul (its `QMatMul` quantises
//! activations into 32-value blocks and runs AVX2 dot products one output at a time), while one
//! AVX-512 VNNI instruction (`vpdpbusd`) does 64 multiply-adds on bytes. The AVX2 and portable
//! kernels compute the very same integer sums, so all three give bit-identical results.
//!
//! Quantisation: each weight row (output feature) is scaled symmetrically to -127..=127; each
//! activation row (token) likewise, then shifted by +128 to the unsigned bytes VNNI wants. The
//! shift is undone with the column sums of the weights: Σ (a+128)·w = Σ a·w + 128·Σ w. A
//! token's outlier channel is kept out of its quantisation (see `quantize_rows`).

// Hot loops over buffers whose shapes are checked once at the entry of `Int8Linear::forward`.
#![allow(clippy::indexing_slicing)]

use rayon::prelude::*;

/// Output features per panel: one 512-bit register of i32 sums.
const PANEL: usize = 16;
/// Rows (tokens) processed together by the VNNI kernel: 6 rows × 4 panels = 24 accumulators.
const TILE_ROWS: usize = 6;
const TILE_PANELS: usize = 4;
/// Rows per cache block: the activations of one block stay in L1/L2 while every panel passes.
const ROW_BLOCK: usize = 96;

/// The tiles of one block of rows, in the order both kernels walk them: by groups of
/// [`TILE_PANELS`] panels, and within a group every tile of at most [`TILE_ROWS`] rows, so that
/// a group's weights stay in cache while the rows pass. Calls `tile(row, rows, panel, panels)`.
#[inline(always)]
fn for_each_tile(block: std::ops::Range<usize>, panels: usize, mut tile: impl FnMut(usize, usize, usize, usize)) {
    for panel in (0..panels).step_by(TILE_PANELS) {
        let np = (panels - panel).min(TILE_PANELS);
        for row in block.clone().step_by(TILE_ROWS) {
            tile(row, (block.end - row).min(TILE_ROWS), panel, np);
        }
    }
}

/// The blocks of [`ROW_BLOCK`] rows of `m` rows.
#[inline(always)]
fn row_blocks(m: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    (0..m).step_by(ROW_BLOCK).map(move |start| start..(start + ROW_BLOCK).min(m))
}

/// Inputs per slice of the f32 kernels: the weights of one slice of 4 panels (32 KB) stay in
/// L1 while every row tile of a block passes over them.
#[cfg(target_arch = "x86_64")]
const F32_K_BLOCK: usize = 128;

/// What one tile of an f32 kernel adds up: the inputs `k0..k1` of `out[m × n] += x[m × k] · Wᵀ`,
/// `W` packed in panels (see `F32Weights::Panels`).
#[cfg(target_arch = "x86_64")]
struct F32Slice {
    x: *const f32,
    w: *const f32,
    out: *mut f32,
    k: usize,
    n: usize,
    k0: usize,
    k1: usize,
}

/// The walk both f32 kernels share: blocks of rows, slices of [`F32_K_BLOCK`] inputs, then
/// the tiles of [`for_each_tile`], each called as `tile(slice, row, rows, panel, panels)`.
/// Asserts the bounds the kernels' pointer arithmetic relies on.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn for_each_f32_tile(
    x: &[f32],
    m: usize,
    k: usize,
    packed: &[f32],
    n: usize,
    out: &mut [f32],
    mut tile: impl FnMut(&F32Slice, usize, usize, usize, usize),
) {
    let panels = n.div_ceil(PANEL);
    assert!(x.len() >= m * k && out.len() >= m * n && packed.len() >= panels * k * PANEL);
    for block in row_blocks(m) {
        for k0 in (0..k).step_by(F32_K_BLOCK) {
            let slice = F32Slice {
                x: x.as_ptr(),
                w: packed.as_ptr(),
                out: out.as_mut_ptr(),
                k,
                n,
                k0,
                k1: (k0 + F32_K_BLOCK).min(k),
            };
            for_each_tile(block.clone(), panels, |row, nr, panel, np| tile(&slice, row, nr, panel, np));
        }
    }
}

/// Below this many multiply-adds, one thread beats splitting the work: waking rayon's sleeping
/// workers costs tens of microseconds, about what a 1536×384 product on 12 tokens takes
/// (measured: a short utterance took 5.9 ms on 2 threads, 4.6 ms on one, at 2²¹).
const PARALLEL_MIN_MACS: usize = 1 << 25;

/// A linear layer `y = x·Wᵀ + b` with `W` quantised to int8, one scale per output feature,
/// packed for the kernels: panels of 16 outputs, 4 consecutive inputs interleaved per output.
#[derive(Debug, Clone)]
pub(crate) struct Int8Linear {
    /// Output features.
    n: usize,
    /// Input features.
    k: usize,
    /// `k` rounded up to a multiple of 4 (one `vpdpbusd` lane reads 4 bytes).
    k_padded: usize,
    panels: usize,
    packed: Vec<i8>,
    scales: Vec<f32>,
    /// `128 · Σ_k q[n][k]` per output, the correction for the activations' +128 shift; zero
    /// past `n`, to the end of the last panel.
    shift_correction: Vec<i32>,
    bias: Vec<f32>,
}

/// Reused buffers of one forward pass, so a layer allocates nothing in steady state.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// Keep every product on the calling thread: set when passes already run in parallel.
    pub(crate) single_thread: bool,
    activations: Vec<u8>,
    row_scales: Vec<f32>,
    sums: Vec<i32>,
    /// Channels taken out of the quantisation, `(row, channel, value)` (see [`quantize_rows`]).
    outliers: Vec<(usize, usize, f32)>,
}

impl Int8Linear {
    /// Quantises `weight` (`n × k`, row-major: PyTorch's `[out, in]` layout) and keeps `bias` (`n`).
    pub(crate) fn quantize(weight: &[f32], bias: &[f32], n: usize, k: usize) -> Self {
        let k_padded = k.div_ceil(4) * 4;
        let panels = n.div_ceil(PANEL);
        let groups = k_padded / 4;
        let mut packed = vec![0i8; panels * groups * PANEL * 4];
        let mut scales = vec![1.0f32; n];
        let mut shift_correction = vec![0i32; panels * PANEL];
        for (row, values) in weight.chunks_exact(k).take(n).enumerate() {
            let (scale, codes) = quantize_row(values);
            scales[row] = scale;
            let (panel, lane) = (row / PANEL, row % PANEL);
            let mut sum = 0i32;
            for (col, q) in codes.enumerate() {
                sum += i32::from(q);
                let (group, within) = (col / 4, col % 4);
                packed[((panel * groups + group) * PANEL + lane) * 4 + within] = q;
            }
            shift_correction[row] = 128 * sum;
        }
        Self { n, k, k_padded, panels, packed, scales, shift_correction, bias: bias_of_length(bias, n) }
    }

    /// Output features.
    pub(crate) fn outputs(&self) -> usize {
        self.n
    }

    /// `out[m × n] = x[m × k] · Wᵀ + b`.
    #[inline(always)]
    pub(crate) fn forward(&self, x: &[f32], m: usize, out: &mut Vec<f32>, scratch: &mut Scratch) {
        assert_eq!(x.len(), m * self.k, "int8 linear: input shape");
        out.clear();
        out.resize(m * self.n, 0.0);
        if m == 0 {
            return;
        }
        quantize_rows(x, m, self.k, self.k_padded, scratch);
        let Scratch { activations, row_scales, sums, single_thread, outliers } = scratch;
        sums.clear();
        sums.resize(self.panels * m * PANEL, 0);
        let groups = self.k_padded / 4;
        let panel_weights = groups * PANEL * 4;
        let run = |first_panel: usize, chunk: &mut [i32]| {
            let count = chunk.len() / (m * PANEL);
            let weights = &self.packed[first_panel * panel_weights..(first_panel + count) * panel_weights];
            let shift = &self.shift_correction[first_panel * PANEL..(first_panel + count) * PANEL];
            panel_sums(activations, m, self.k_padded, weights, shift, count, chunk);
        };
        let macs = m * self.n * self.k;
        let threads = rayon::current_num_threads();
        if !*single_thread && macs >= PARALLEL_MIN_MACS && threads > 1 && self.panels > 1 {
            let per_task = self.panels.div_ceil(threads * 2).max(1);
            sums.par_chunks_mut(per_task * m * PANEL).enumerate().for_each(|(task, chunk)| run(task * per_task, chunk));
        } else {
            run(0, sums);
        }
        // i32 sums → f32: undo the shift, rescale, add the bias (zipped slices: vectorised).
        for (row, (out_row, &row_scale)) in out.chunks_exact_mut(self.n).zip(row_scales.iter()).enumerate() {
            let columns = out_row
                .chunks_mut(PANEL)
                .zip(self.shift_correction.chunks(PANEL))
                .zip(self.scales.chunks(PANEL))
                .zip(self.bias.chunks(PANEL));
            for (panel, (((outputs, shift), scale), bias)) in columns.enumerate() {
                let base = (panel * m + row) * PANEL;
                let lanes = &sums[base..base + outputs.len()];
                for ((((o, &s), &c), &w), &b) in outputs.iter_mut().zip(lanes).zip(shift).zip(scale).zip(bias) {
                    *o = (s - c) as f32 * (row_scale * w) + b;
                }
            }
        }
        // The peeled channels, times their weight column (dequantised).
        for &(row, channel, value) in outliers.iter() {
            let (group, within) = (channel / 4, channel % 4);
            let out_row = &mut out[row * self.n..(row + 1) * self.n];
            let columns = out_row.chunks_mut(PANEL).zip(self.scales.chunks(PANEL));
            for (panel, (outputs, scales)) in columns.enumerate() {
                // This panel's 16 weights of the channel: every 4th byte of 64.
                let at = (panel * groups + group) * PANEL * 4;
                let weights = &self.packed[at..at + PANEL * 4];
                for ((o, &w), q) in outputs.iter_mut().zip(scales).zip(weights.chunks_exact(4)) {
                    *o += value * f32::from(q[within]) * w;
                }
            }
        }
    }
}

/// A weight row in int8, symmetrically: `scale = max |v| / 127` (1 for an all-zero row, which
/// stays zero) and the codes `round(v / scale)` in -127..=127. The adapter stores its matrices
/// this way too (`adapt::store`), so storage loses what inference loses already.
pub(crate) fn quantize_row(values: &[f32]) -> (f32, impl Iterator<Item = i8> + '_) {
    let max = max_abs(values);
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    (scale, values.iter().map(move |&v| (v / scale).round().clamp(-127.0, 127.0) as i8))
}

/// `bias` cut or zero-padded to `n` values, so that the products never index past it.
fn bias_of_length(bias: &[f32], n: usize) -> Vec<f32> {
    let mut full = vec![0.0f32; n];
    full.iter_mut().zip(bias).for_each(|(b, &v)| *b = v);
    full
}

/// Peel a row's largest channel out of its int8 quantisation when it is more than this many
/// times the next largest (see [`quantize_rows`]).
const OUTLIER_RATIO: f32 = 3.0;
/// At most this many channels peeled per row.
const MAX_OUTLIERS_PER_ROW: usize = 2;

#[inline(always)]
/// Each row of `x` to bytes `q + 128` with `q = round(x / scale)`, `scale = max|x| / 127`.
///
/// A few tokens (the `[CLS]` token above all) carry one channel 20 to 40 times larger than
/// the rest; quantised with it, the row's other channels keep 3 to 6 levels and the
/// embedding of a short utterance drifts (cosine to f32 down to 0.98 on all-MiniLM-L6-v2).
/// Such a channel is taken out ("peeled"), recorded in `scratch.outliers` as
/// `(row, channel, value)` and added back exactly by [`Int8Linear::forward`]; the row is
/// quantised on the scale of what remains.
fn quantize_rows(x: &[f32], m: usize, k: usize, k_padded: usize, scratch: &mut Scratch) {
    scratch.activations.clear();
    scratch.activations.resize(m * k_padded, 128);
    scratch.row_scales.clear();
    scratch.outliers.clear();
    for (row, values) in x.chunks_exact(k).enumerate() {
        // Channel i is in lane i % 16: the usual row, with no outlier, costs one vectorised pass.
        let mut lanes = lane_maxima(values);
        let mut max = lanes.iter().fold(0.0f32, |m, &l| m.max(l));
        let first_outlier = scratch.outliers.len();
        for _ in 0..MAX_OUTLIERS_PER_ROW {
            let peeled = &scratch.outliers[first_outlier..];
            let top_lane = lanes.iter().position(|&l| l == max).unwrap_or(0);
            let other_lanes =
                lanes.iter().enumerate().filter(|(j, _)| *j != top_lane).fold(0.0f32, |m, (_, &l)| m.max(l));
            if max <= OUTLIER_RATIO * other_lanes {
                break;
            }
            let (mut channel, mut second) = (usize::MAX, 0.0f32);
            for i in (top_lane..k).step_by(LANES).filter(|i| !peeled.iter().any(|o| o.1 == *i)) {
                let a = values[i].abs();
                if a == max && channel == usize::MAX {
                    channel = i;
                } else if a > second {
                    second = a;
                }
            }
            let rest = other_lanes.max(second);
            if channel == usize::MAX || max <= OUTLIER_RATIO * rest {
                break;
            }
            scratch.outliers.push((row, channel, values[channel]));
            lanes[top_lane] = second;
            max = rest;
        }
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        let inverse = 1.0 / scale;
        scratch.row_scales.push(scale);
        let target = &mut scratch.activations[row * k_padded..row * k_padded + k];
        for (t, &v) in target.iter_mut().zip(values) {
            *t = (round_to_i32(v * inverse) + 128) as u8;
        }
        for &(_, channel, _) in &scratch.outliers[first_outlier..] {
            target[channel] = 128; // zero: its product is added back in f32
        }
    }
}

/// Lanes of [`lane_maxima`].
const LANES: usize = 16;

/// Largest |v| (NaN-free input assumed: a NaN is ignored rather than propagated).
#[inline(always)]
fn max_abs(values: &[f32]) -> f32 {
    lane_maxima(values).iter().fold(0.0f32, |m, &l| if l > m { l } else { m })
}

/// Largest |v| of the values in each lane, value `i` being in lane `i % 16`: 16 independent
/// lanes, so that it vectorises.
#[inline(always)]
fn lane_maxima(values: &[f32]) -> [f32; LANES] {
    let mut lanes = [0.0f32; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (l, &v) in lanes.iter_mut().zip(chunk) {
            let a = v.abs();
            if a > *l {
                *l = a;
            }
        }
    }
    for (l, &v) in lanes.iter_mut().zip(tail) {
        let a = v.abs();
        if a > *l {
            *l = a;
        }
    }
    lanes
}

/// Round to nearest (ties to even) for |v| < 2²², by the float-addition trick: `as i32` would
/// add NaN and saturation checks that keep the loop scalar, `f32::round` is a libm call.
#[inline(always)]
fn round_to_i32(v: f32) -> i32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 · 2²³: the sum's low mantissa bits are round(v)
    (v + MAGIC).to_bits() as i32 - MAGIC.to_bits() as i32
}

/// The i32 sums `Σ (q + 128)·w` of `panels` consecutive panels, laid out `[panel][row][lane]`.
/// `shift` holds the panels' `128 · Σ w` per output (what the AVX2 kernel, which sums `q·w`,
/// adds back).
#[allow(clippy::too_many_arguments)]
fn panel_sums(
    activations: &[u8],
    m: usize,
    k_padded: usize,
    weights: &[i8],
    shift: &[i32],
    panels: usize,
    sums: &mut [i32],
) {
    assert!(activations.len() >= m * k_padded && sums.len() >= panels * m * PANEL);
    assert!(weights.len() >= panels * k_padded * PANEL && shift.len() >= panels * PANEL);
    #[cfg(target_arch = "x86_64")]
    {
        if vnni_available() {
            // SAFETY: the CPU has the features `vnni::panel_sums` is compiled for (checked just
            // above), and the asserts bound every pointer it reads and writes.
            unsafe { vnni::panel_sums(activations, m, k_padded, weights, panels, sums) };
            return;
        }
        if avx2_available() {
            // SAFETY: as above, for AVX2.
            unsafe { int8_avx2::panel_sums(activations, m, k_padded, weights, shift, panels, sums) };
            return;
        }
    }
    panel_sums_portable(activations, m, k_padded, weights, panels, sums);
}

/// Whether this CPU has AVX2 (the int8 kernel below VNNI).
pub(crate) fn avx2_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether this CPU has AVX-512 F, BW, VL and DQ (the engine's element-wise code uses them).
pub(crate) fn avx512_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512dq")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether this CPU has AVX2 and FMA (the f32 panel kernel's fallback below AVX-512).
pub(crate) fn avx2_fma_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether this CPU runs the VNNI kernel (AVX-512 F, BW and VNNI).
pub(crate) fn vnni_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The same sums with plain integer arithmetic, for CPUs without VNNI (and to test it against).
fn panel_sums_portable(activations: &[u8], m: usize, k_padded: usize, weights: &[i8], panels: usize, sums: &mut [i32]) {
    let groups = k_padded / 4;
    for panel in 0..panels {
        let w = &weights[panel * groups * PANEL * 4..(panel + 1) * groups * PANEL * 4];
        for row in 0..m {
            let a = &activations[row * k_padded..(row + 1) * k_padded];
            let mut lanes = [0i32; PANEL];
            for (group, a4) in a.chunks_exact(4).enumerate() {
                let w_group = &w[group * PANEL * 4..(group + 1) * PANEL * 4];
                for (lane, w4) in lanes.iter_mut().zip(w_group.chunks_exact(4)) {
                    *lane += a4.iter().zip(w4).map(|(&x, &y)| i32::from(x) * i32::from(y)).sum::<i32>();
                }
            }
            sums[(panel * m + row) * PANEL..(panel * m + row + 1) * PANEL].copy_from_slice(&lanes);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod vnni {
    use super::{for_each_tile, row_blocks, PANEL};
    use std::arch::x86_64::*;

    /// See [`super::panel_sums`]. Safety: the CPU has AVX-512 F/BW/VNNI and the slices hold
    /// `m × k_padded` activations, `panels` packed panels and `panels × m × 16` sums.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn panel_sums(
        activations: &[u8],
        m: usize,
        k_padded: usize,
        weights: &[i8],
        panels: usize,
        sums: &mut [i32],
    ) {
        let a = activations.as_ptr();
        let w = weights.as_ptr();
        let s = sums.as_mut_ptr();
        for block in row_blocks(m) {
            for_each_tile(block, panels, |row, nr, panel, np| {
                let t = Tile { a, w, s, m, k_padded, row, panel };
                // SAFETY: row + nr <= m and panel + np <= panels: inside the slices.
                unsafe {
                    match (nr, np) {
                        (6, 4) => t.run::<6, 4>(),
                        (5, 4) => t.run::<5, 4>(),
                        (4, 4) => t.run::<4, 4>(),
                        (3, 4) => t.run::<3, 4>(),
                        (2, 4) => t.run::<2, 4>(),
                        (1, 4) => t.run::<1, 4>(),
                        (6, 3) => t.run::<6, 3>(),
                        (5, 3) => t.run::<5, 3>(),
                        (4, 3) => t.run::<4, 3>(),
                        (3, 3) => t.run::<3, 3>(),
                        (2, 3) => t.run::<2, 3>(),
                        (1, 3) => t.run::<1, 3>(),
                        (6, 2) => t.run::<6, 2>(),
                        (5, 2) => t.run::<5, 2>(),
                        (4, 2) => t.run::<4, 2>(),
                        (3, 2) => t.run::<3, 2>(),
                        (2, 2) => t.run::<2, 2>(),
                        (1, 2) => t.run::<1, 2>(),
                        (6, _) => t.run::<6, 1>(),
                        (5, _) => t.run::<5, 1>(),
                        (4, _) => t.run::<4, 1>(),
                        (3, _) => t.run::<3, 1>(),
                        (2, _) => t.run::<2, 1>(),
                        _ => t.run::<1, 1>(),
                    }
                }
            });
        }
    }

    struct Tile {
        a: *const u8,
        w: *const i8,
        s: *mut i32,
        m: usize,
        k_padded: usize,
        row: usize,
        panel: usize,
    }

    impl Tile {
        /// `R` rows × `P` panels of sums, all accumulators in registers.
        #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
        #[inline]
        unsafe fn run<const R: usize, const P: usize>(&self) {
            let groups = self.k_padded / 4;
            let panel_len = groups * PANEL * 4;
            let mut acc = [[_mm512_setzero_si512(); P]; R];
            // SAFETY (whole body): the caller keeps row + R <= m and panel + P <= panels.
            unsafe {
                let w0 = self.w.add(self.panel * panel_len);
                let a0 = self.a.add(self.row * self.k_padded);
                for group in 0..groups {
                    let mut b = [_mm512_setzero_si512(); P];
                    for (j, bj) in b.iter_mut().enumerate() {
                        *bj = _mm512_loadu_si512(w0.add(j * panel_len + group * PANEL * 4).cast());
                    }
                    for (i, acc_row) in acc.iter_mut().enumerate() {
                        let four = a0.add(i * self.k_padded + group * 4).cast::<i32>().read_unaligned();
                        let broadcast = _mm512_set1_epi32(four);
                        for (c, bj) in acc_row.iter_mut().zip(&b) {
                            *c = _mm512_dpbusd_epi32(*c, broadcast, *bj);
                        }
                    }
                }
                for (i, acc_row) in acc.iter().enumerate() {
                    for (j, c) in acc_row.iter().enumerate() {
                        let at = ((self.panel + j) * self.m + self.row + i) * PANEL;
                        _mm512_storeu_si512(self.s.add(at).cast(), *c);
                    }
                }
            }
        }
    }
}

/// The int8 sums on AVX2, for CPUs without VNNI: tiles of at most 4 rows × 1 panel (two
/// 8-lane registers of i32 per row).
///
/// `vpmaddubsw` multiplies unsigned bytes by signed ones into i16 pairs, and the pairs of
/// `(q + 128)·w` would saturate (2 · 255 · 127 > 32767). So each activation's sign moves onto
/// the weight (`vpsignb`) and its magnitude, at most 128, stays unsigned: 2 · 128 · 127 = 32512
/// fits, and the sums `Σ q·w` are exact. `vpmaddwd` by ones widens the pairs to i32, and the
/// panel's `128 · Σ w` is added at the end: the same sums as the VNNI and portable kernels.
#[cfg(target_arch = "x86_64")]
mod int8_avx2 {
    use super::{for_each_tile, row_blocks, PANEL};
    use std::arch::x86_64::*;

    /// See [`super::panel_sums`]. Safety: the CPU has AVX2 and the slices hold `m × k_padded`
    /// activations, `panels` packed panels, `panels × 16` shifts and `panels × m × 16` sums.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn panel_sums(
        activations: &[u8],
        m: usize,
        k_padded: usize,
        weights: &[i8],
        shift: &[i32],
        panels: usize,
        sums: &mut [i32],
    ) {
        let t = Sums {
            a: activations.as_ptr(),
            w: weights.as_ptr(),
            shift: shift.as_ptr(),
            s: sums.as_mut_ptr(),
            m,
            k_padded,
        };
        for block in row_blocks(m) {
            for_each_tile(block, panels, |row, nr, panel, np| {
                for p in panel..panel + np {
                    // SAFETY: row + nr <= m and p < panels: inside the slices. Six rows
                    // would need 12 accumulators beside the weights, the broadcast and its
                    // temporaries: more than AVX2's 16 registers, so they go as 3 + 3.
                    unsafe {
                        match nr {
                            6 => {
                                t.run::<3>(row, p);
                                t.run::<3>(row + 3, p);
                            }
                            5 => {
                                t.run::<3>(row, p);
                                t.run::<2>(row + 3, p);
                            }
                            4 => t.run::<4>(row, p),
                            3 => t.run::<3>(row, p),
                            2 => t.run::<2>(row, p),
                            _ => {
                                for r in row..row + nr {
                                    t.run::<1>(r, p);
                                }
                            }
                        }
                    }
                }
            });
        }
    }

    struct Sums {
        a: *const u8,
        w: *const i8,
        shift: *const i32,
        s: *mut i32,
        m: usize,
        k_padded: usize,
    }

    impl Sums {
        /// `R` rows × one panel of sums, all accumulators in registers.
        #[target_feature(enable = "avx2")]
        #[inline]
        unsafe fn run<const R: usize>(&self, row: usize, panel: usize) {
            let groups = self.k_padded / 4;
            let ones = _mm256_set1_epi16(1);
            let flip = _mm256_set1_epi8(i8::MIN);
            let mut acc = [[_mm256_setzero_si256(); 2]; R];
            // SAFETY (whole body): the caller keeps row + R <= m and panel < panels.
            unsafe {
                let w0 = self.w.add(panel * groups * PANEL * 4);
                let a0 = self.a.add(row * self.k_padded);
                for group in 0..groups {
                    let low = _mm256_loadu_si256(w0.add(group * PANEL * 4).cast());
                    let high = _mm256_loadu_si256(w0.add(group * PANEL * 4 + 32).cast());
                    for (i, acc_row) in acc.iter_mut().enumerate() {
                        let four = a0.add(i * self.k_padded + group * 4).cast::<i32>().read_unaligned();
                        // The bytes hold q + 128: flipping the top bit gives q as i8.
                        let q = _mm256_xor_si256(_mm256_set1_epi32(four), flip);
                        let magnitude = _mm256_abs_epi8(q);
                        let pairs_low = _mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(low, q));
                        let pairs_high = _mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(high, q));
                        acc_row[0] = _mm256_add_epi32(acc_row[0], _mm256_madd_epi16(pairs_low, ones));
                        acc_row[1] = _mm256_add_epi32(acc_row[1], _mm256_madd_epi16(pairs_high, ones));
                    }
                }
                let shift_low = _mm256_loadu_si256(self.shift.add(panel * PANEL).cast());
                let shift_high = _mm256_loadu_si256(self.shift.add(panel * PANEL + 8).cast());
                for (i, acc_row) in acc.iter().enumerate() {
                    let at = self.s.add((panel * self.m + row + i) * PANEL);
                    _mm256_storeu_si256(at.cast(), _mm256_add_epi32(acc_row[0], shift_low));
                    _mm256_storeu_si256(at.add(8).cast(), _mm256_add_epi32(acc_row[1], shift_high));
                }
            }
        }
    }
}

/// A linear layer kept in f32.
///
/// On AVX-512 CPUs the weights are packed once into panels of 16 outputs and multiplied by
/// our own kernel ([`f32_avx512`]); elsewhere by the `gemm` crate (candle's CPU backend). Why
/// not `gemm` everywhere: on stable Rust it runs its AVX2 kernel only, and it packs the weights
/// again on every call; this took 20% of the f32 engine's time, and the kernel's 8 lanes
/// half of the speed the CPU has.
#[derive(Debug, Clone)]
pub(crate) struct F32Linear {
    n: usize,
    k: usize,
    weights: F32Weights,
    bias: Vec<f32>,
}

#[derive(Debug, Clone)]
enum F32Weights {
    /// `Wᵀ`, `k × n` row-major, for `gemm`: the product writes rows of the output contiguously.
    Transposed(Vec<f32>),
    /// Panels of 16 outputs: `packed[(panel · k + i) · 16 + lane] = W[panel · 16 + lane][i]`
    /// (zero past `n`), for the AVX-512 and AVX2 kernels.
    Panels(Vec<f32>),
}

impl F32Linear {
    /// From `weight` `n × k` (PyTorch's `[out, in]`) and `bias` `n`.
    pub(crate) fn new(weight: &[f32], bias: &[f32], n: usize, k: usize) -> Self {
        let weights = if avx512_available() || avx2_fma_available() {
            let panels = n.div_ceil(PANEL);
            let mut packed = vec![0.0f32; panels * k * PANEL];
            for (row, values) in weight.chunks_exact(k).take(n).enumerate() {
                let (panel, lane) = (row / PANEL, row % PANEL);
                for (i, &v) in values.iter().enumerate() {
                    packed[(panel * k + i) * PANEL + lane] = v;
                }
            }
            F32Weights::Panels(packed)
        } else {
            let mut weight_t = vec![0.0f32; k * n];
            for (row, values) in weight.chunks_exact(k).take(n).enumerate() {
                for (col, &v) in values.iter().enumerate() {
                    weight_t[col * n + row] = v;
                }
            }
            F32Weights::Transposed(weight_t)
        };
        Self { n, k, weights, bias: bias_of_length(bias, n) }
    }

    /// Output features.
    pub(crate) fn outputs(&self) -> usize {
        self.n
    }

    /// `out[m × n] = x[m × k] · Wᵀ + b`.
    /// `single_thread` keeps the product on the calling thread (see [`Scratch::single_thread`]).
    #[inline(always)]
    pub(crate) fn forward(&self, x: &[f32], m: usize, out: &mut Vec<f32>, single_thread: bool) {
        assert_eq!(x.len(), m * self.k, "f32 linear: input shape");
        out.clear();
        for _ in 0..m {
            out.extend_from_slice(&self.bias);
        }
        if m == 0 {
            return;
        }
        let threads = rayon::current_num_threads();
        let parallel = !single_thread && m * self.n * self.k >= PARALLEL_MIN_MACS && threads > 1;
        match &self.weights {
            #[cfg(target_arch = "x86_64")]
            F32Weights::Panels(packed) => {
                let (n, k) = (self.n, self.k);
                // SAFETY: `Panels` exists only where AVX-512 F, or else AVX2 and FMA, were
                // available at load; the kernel's bounds are those of the slices it is given
                // (asserted inside).
                let wide = avx512_available();
                let run = |rows: &[f32], out_rows: &mut [f32]| unsafe {
                    if wide {
                        f32_avx512::accumulate(rows, rows.len() / k, k, packed, n, out_rows)
                    } else {
                        f32_avx2::accumulate(rows, rows.len() / k, k, packed, n, out_rows)
                    }
                };
                if parallel && m >= 2 * TILE_ROWS {
                    let per_task = m.div_ceil(threads).div_ceil(TILE_ROWS) * TILE_ROWS;
                    out.par_chunks_mut(per_task * n)
                        .zip(x.par_chunks(per_task * k))
                        .for_each(|(out_rows, rows)| run(rows, out_rows));
                } else {
                    run(x, out);
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            F32Weights::Panels(_) => unreachable!("panels are packed only for AVX-512 and AVX2"),
            F32Weights::Transposed(weight_t) => {
                let parallelism = if parallel { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
                // SAFETY: all three matrices are dense row-major buffers of exactly the sizes
                // given (x: m×k, weight_t: k×n, out: m×n), checked above; gemm reads and
                // writes only those.
                unsafe {
                    gemm::gemm(
                        m,
                        self.n,
                        self.k,
                        out.as_mut_ptr(),
                        1,
                        self.n as isize,
                        true,
                        x.as_ptr(),
                        1,
                        self.k as isize,
                        weight_t.as_ptr(),
                        1,
                        self.n as isize,
                        1.0,
                        1.0,
                        false,
                        false,
                        false,
                        parallelism,
                    );
                }
            }
        }
    }
}

/// The f32 product on AVX-512: tiles of 6 rows × 4 panels (64 outputs), 24 accumulators in
/// registers, the same shape as the int8 kernel's.
#[cfg(target_arch = "x86_64")]
mod f32_avx512 {
    use super::{for_each_f32_tile, F32Slice, PANEL};
    use std::arch::x86_64::*;

    /// `out[m × n] += x[m × k] · Wᵀ` with `W` packed in panels (see `F32Weights::Panels`).
    /// Safety: the CPU has AVX-512 F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn accumulate(x: &[f32], m: usize, k: usize, packed: &[f32], n: usize, out: &mut [f32]) {
        for_each_f32_tile(x, m, k, packed, n, out, |t, row, nr, panel, np| {
            // SAFETY: row + nr <= m, panel + np <= panels, k1 <= k: inside the slices (the
            // walk asserts their sizes).
            unsafe {
                match (nr, np) {
                    (6, 4) => t.run512::<6, 4>(row, panel),
                    (5, 4) => t.run512::<5, 4>(row, panel),
                    (4, 4) => t.run512::<4, 4>(row, panel),
                    (3, 4) => t.run512::<3, 4>(row, panel),
                    (2, 4) => t.run512::<2, 4>(row, panel),
                    (1, 4) => t.run512::<1, 4>(row, panel),
                    (r, p) => t.run512_edge(r, p, row, panel),
                }
            }
        });
    }

    impl F32Slice {
        /// `R` rows × `P` panels, all accumulators in registers.
        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn run512<const R: usize, const P: usize>(&self, row: usize, panel: usize) {
            let panel_len = self.k * PANEL;
            let mut acc = [[_mm512_setzero_ps(); P]; R];
            // SAFETY (whole body): the caller keeps row + R <= m and panel + P <= panels.
            unsafe {
                let w0 = self.w.add(panel * panel_len);
                let x0 = self.x.add(row * self.k);
                for i in self.k0..self.k1 {
                    let mut b = [_mm512_setzero_ps(); P];
                    for (j, bj) in b.iter_mut().enumerate() {
                        *bj = _mm512_loadu_ps(w0.add(j * panel_len + i * PANEL));
                    }
                    for (r, acc_row) in acc.iter_mut().enumerate() {
                        let broadcast = _mm512_set1_ps(*x0.add(r * self.k + i));
                        for (c, bj) in acc_row.iter_mut().zip(&b) {
                            *c = _mm512_fmadd_ps(broadcast, *bj, *c);
                        }
                    }
                }
                for (r, acc_row) in acc.iter().enumerate() {
                    for (j, c) in acc_row.iter().enumerate() {
                        let column = (panel + j) * PANEL;
                        let lanes = self.n.saturating_sub(column).min(PANEL);
                        let mask: __mmask16 = if lanes == PANEL { 0xffff } else { (1u16 << lanes) - 1 };
                        let at = self.out.add((row + r) * self.n + column);
                        let sum = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, at), *c);
                        _mm512_mask_storeu_ps(at, mask, sum);
                    }
                }
            }
        }

        /// Partial tiles at the edges (fewer than 4 panels left), one panel at a time.
        #[target_feature(enable = "avx512f")]
        unsafe fn run512_edge(&self, rows: usize, panels: usize, row: usize, panel: usize) {
            for p in panel..panel + panels {
                // SAFETY: the caller's bounds, one panel at a time.
                unsafe {
                    match rows {
                        6 => self.run512::<6, 1>(row, p),
                        5 => self.run512::<5, 1>(row, p),
                        4 => self.run512::<4, 1>(row, p),
                        3 => self.run512::<3, 1>(row, p),
                        2 => self.run512::<2, 1>(row, p),
                        _ => {
                            for r in row..row + rows {
                                self.run512::<1, 1>(r, p);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The f32 product on AVX2 and FMA, over the same panels as the AVX-512 kernel: each panel of 16
/// outputs is two 8-lane registers, and a tile is 6 rows × 1 panel (12 accumulators, two weight
/// registers and a broadcast: 15 of the 16 registers). Written by hand because `gemm`, which
/// served CPUs without AVX-512 before, packs the weight matrix again on every call: for one
/// short utterance (a dozen rows) that packing, not the arithmetic, was the cost.
#[cfg(target_arch = "x86_64")]
mod f32_avx2 {
    use super::{for_each_f32_tile, F32Slice, PANEL};
    use std::arch::x86_64::*;

    /// `out[m × n] += x[m × k] · Wᵀ` with `W` packed in panels (see `F32Weights::Panels`).
    /// Safety: the CPU has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn accumulate(x: &[f32], m: usize, k: usize, packed: &[f32], n: usize, out: &mut [f32]) {
        for_each_f32_tile(x, m, k, packed, n, out, |t, row, nr, panel, np| {
            for p in panel..panel + np {
                // SAFETY: row + nr <= m, p < panels, k1 <= k: inside the slices (the walk
                // asserts their sizes).
                unsafe {
                    match nr {
                        6 => t.run256::<6>(row, p),
                        5 => t.run256::<5>(row, p),
                        4 => t.run256::<4>(row, p),
                        3 => t.run256::<3>(row, p),
                        2 => t.run256::<2>(row, p),
                        _ => {
                            for r in row..row + nr {
                                t.run256::<1>(r, p);
                            }
                        }
                    }
                }
            }
        });
    }

    impl F32Slice {
        /// `R` rows × one panel, all accumulators in registers.
        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn run256<const R: usize>(&self, row: usize, panel: usize) {
            let mut acc = [[_mm256_setzero_ps(); 2]; R];
            // SAFETY (whole body): the caller keeps row + R <= m and panel < panels.
            unsafe {
                let w0 = self.w.add(panel * self.k * PANEL);
                let x0 = self.x.add(row * self.k);
                for i in self.k0..self.k1 {
                    let low = _mm256_loadu_ps(w0.add(i * PANEL));
                    let high = _mm256_loadu_ps(w0.add(i * PANEL + 8));
                    for (r, acc_row) in acc.iter_mut().enumerate() {
                        let broadcast = _mm256_set1_ps(*x0.add(r * self.k + i));
                        acc_row[0] = _mm256_fmadd_ps(broadcast, low, acc_row[0]);
                        acc_row[1] = _mm256_fmadd_ps(broadcast, high, acc_row[1]);
                    }
                }
                let column = panel * PANEL;
                let lanes = self.n.saturating_sub(column).min(PANEL);
                for (r, acc_row) in acc.iter().enumerate() {
                    let at = self.out.add((row + r) * self.n + column);
                    if lanes == PANEL {
                        _mm256_storeu_ps(at, _mm256_add_ps(_mm256_loadu_ps(at), acc_row[0]));
                        _mm256_storeu_ps(at.add(8), _mm256_add_ps(_mm256_loadu_ps(at.add(8)), acc_row[1]));
                    } else {
                        // The last, partial panel: through memory, lane by lane.
                        let mut sums = [0.0f32; PANEL];
                        _mm256_storeu_ps(sums.as_mut_ptr(), acc_row[0]);
                        _mm256_storeu_ps(sums.as_mut_ptr().add(8), acc_row[1]);
                        for (lane, sum) in sums.iter().enumerate().take(lanes) {
                            *at.add(lane) += sum;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    fn reference(x: &[f32], w: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for r in 0..m {
            for c in 0..n {
                out[r * n + c] = b[c] + (0..k).map(|i| x[r * k + i] * w[c * k + i]).sum::<f32>();
            }
        }
        out
    }

    #[test]
    fn vnni_and_portable_kernels_give_identical_sums() {
        // Odd sizes: partial tiles, partial panels, k not a multiple of 4.
        for &(m, n, k) in &[(1, 16, 4), (7, 40, 30), (13, 100, 65), (97, 70, 12)] {
            let linear = Int8Linear::quantize(&random(n * k, 1), &random(n, 2), n, k);
            let mut scratch = Scratch::default();
            quantize_rows(&random(m * k, 3), m, k, linear.k_padded, &mut scratch);
            let groups = linear.k_padded / 4;
            let mut portable = vec![0; linear.panels * m * PANEL];
            panel_sums_portable(&scratch.activations, m, linear.k_padded, &linear.packed, linear.panels, &mut portable);
            let mut dispatched = vec![0; linear.panels * m * PANEL];
            let shift = &linear.shift_correction;
            panel_sums(&scratch.activations, m, linear.k_padded, &linear.packed, shift, linear.panels, &mut dispatched);
            assert_eq!(portable, dispatched, "m={m} n={n} k={k} groups={groups}");
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx2_int8_kernel_is_exact_even_at_the_extremes_of_the_bytes() {
        if !avx2_available() {
            return;
        }
        // Every activation byte (0 is q = -128, which `quantize_rows` never writes but the
        // sign trick must survive) against weights at ±127: the pairs closest to saturation.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(30);
        for &(m, n, k) in &[(1, 16, 4), (5, 40, 32), (6, 32, 64), (13, 100, 68), (97, 70, 12)] {
            let mut weight = vec![0.0f32; n * k];
            for (i, w) in weight.iter_mut().enumerate() {
                *w = match i % 3 {
                    0 => 1.0,
                    1 => -1.0,
                    _ => rng.random_range(-1.0f32..1.0),
                };
            }
            let linear = Int8Linear::quantize(&weight, &vec![0.0; n], n, k);
            let activations: Vec<u8> = (0..m * linear.k_padded)
                .map(|i| match i % 4 {
                    0 => 0,
                    1 => 255,
                    _ => rng.random_range(0..=255u8),
                })
                .collect();
            let mut portable = vec![0; linear.panels * m * PANEL];
            panel_sums_portable(&activations, m, linear.k_padded, &linear.packed, linear.panels, &mut portable);
            let mut avx2 = vec![0; linear.panels * m * PANEL];
            // SAFETY: AVX2 checked above; the slices have the sizes `panel_sums` asserts.
            unsafe {
                int8_avx2::panel_sums(
                    &activations,
                    m,
                    linear.k_padded,
                    &linear.packed,
                    &linear.shift_correction,
                    linear.panels,
                    &mut avx2,
                )
            };
            assert_eq!(portable, avx2, "m={m} n={n} k={k}");
        }
    }

    #[test]
    fn int8_product_is_close_to_f32() {
        let (m, n, k) = (19, 48, 384);
        let (x, w, b) = (random(m * k, 4), random(n * k, 5), random(n, 6));
        let expected = reference(&x, &w, &b, m, n, k);
        let mut out = Vec::new();
        Int8Linear::quantize(&w, &b, n, k).forward(&x, m, &mut out, &mut Scratch::default());
        let cosine = crate::encoder::cosine(&out, &expected);
        assert!(cosine > 0.999, "cosine {cosine}");
        let mut exact = Vec::new();
        F32Linear::new(&w, &b, n, k).forward(&x, m, &mut exact, false);
        for (a, e) in exact.iter().zip(&expected) {
            assert!((a - e).abs() < 1e-3, "{a} vs {e}");
        }
    }

    #[test]
    fn a_channel_far_above_the_rest_is_peeled_out_of_the_quantisation() {
        // Like BERT's [CLS] token: one channel 40 times the others. Quantised with it, the
        // others would keep steps of 40/127 instead of 1/127.
        let (m, n, k) = (3, 64, 384);
        let (mut x, w, b) = (random(m * k, 13), random(n * k, 14), random(n, 15));
        x[7] = 40.0;
        x[k + 300] = -25.0;
        x[k + 301] = 6.0;
        let expected = reference(&x, &w, &b, m, n, k);
        let mut out = Vec::new();
        let mut scratch = Scratch::default();
        let linear = Int8Linear::quantize(&w, &b, n, k);
        linear.forward(&x, m, &mut out, &mut scratch);
        assert_eq!(scratch.outliers, [(0, 7, 40.0), (1, 300, -25.0), (1, 301, 6.0)]);
        let worst: Vec<f32> = out
            .chunks(n)
            .zip(expected.chunks(n))
            .map(|(o, e)| o.iter().zip(e).map(|(a, e)| (a - e).abs()).fold(0.0f32, f32::max))
            .collect();
        // What the first row would get if quantised whole (steps of 40/127), even with exact weights.
        let step = 40.0 / 127.0;
        let whole: Vec<f32> = x[..k].iter().map(|v| (v / step).round() * step).collect();
        let unpeeled =
            reference(&whole, &w, &b, 1, n, k).iter().zip(&expected).map(|(a, e)| (a - e).abs()).fold(0.0f32, f32::max);
        assert!(worst[0] < unpeeled / 2.0, "peeled {worst:?}, whole {unpeeled}");
        // Near the int8 error of a row with no outlier (the rest: the outlier's weight column
        // is int8 too).
        assert!(worst[0] < 3.0 * worst[2] && worst[1] < 3.0 * worst[2], "worst errors per row {worst:?}");
    }

    #[test]
    fn parallel_and_serial_paths_agree() {
        // Large enough to cross PARALLEL_MIN_MACS.
        let (m, n, k) = (64, 384, 384);
        let linear = Int8Linear::quantize(&random(n * k, 7), &random(n, 8), n, k);
        let x = random(m * k, 9);
        let mut whole = Vec::new();
        linear.forward(&x, m, &mut whole, &mut Scratch::default());
        let mut first_row = Vec::new();
        linear.forward(&x[..k], 1, &mut first_row, &mut Scratch::default());
        assert_eq!(&whole[..n], &first_row[..]);
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx2_kernel_matches_the_reference_whatever_the_dispatch_picks() {
        if !avx2_fma_available() {
            return;
        }
        for &(m, n, k) in &[(1, 16, 4), (7, 40, 30), (13, 100, 200), (12, 384, 384)] {
            let (x, w, b) = (random(m * k, 20), random(n * k, 21), vec![0.0; n]);
            let expected = reference(&x, &w, &b, m, n, k);
            let panels = n.div_ceil(PANEL);
            let mut packed = vec![0.0f32; panels * k * PANEL];
            for (row, values) in w.chunks_exact(k).enumerate() {
                for (i, &v) in values.iter().enumerate() {
                    packed[((row / PANEL) * k + i) * PANEL + row % PANEL] = v;
                }
            }
            let mut out = vec![0.0f32; m * n];
            // SAFETY: AVX2 and FMA checked above; the slices have the sizes asserted inside.
            unsafe { f32_avx2::accumulate(&x, m, k, &packed, n, &mut out) };
            for (a, e) in out.iter().zip(&expected) {
                assert!((a - e).abs() < 1e-3 * (1.0 + e.abs()), "{m}×{n}×{k}: {a} vs {e}");
            }
        }
    }

    #[test]
    fn f32_product_matches_the_reference_on_partial_tiles_and_panels() {
        // Odd sizes: rows that are no multiple of 6, outputs of 16 or 64, a tiny k; and one
        // large enough to be shared among threads (the rows then split between them).
        for &(m, n, k) in &[(1, 16, 4), (7, 40, 30), (13, 100, 65), (97, 70, 12), (64, 384, 384)] {
            let (x, w, b) = (random(m * k, 10), random(n * k, 11), random(n, 12));
            let expected = reference(&x, &w, &b, m, n, k);
            let linear = F32Linear::new(&w, &b, n, k);
            for single_thread in [true, false] {
                let mut out = Vec::new();
                linear.forward(&x, m, &mut out, single_thread);
                assert_eq!(out.len(), m * n);
                for (a, e) in out.iter().zip(&expected) {
                    assert!((a - e).abs() < 1e-3 * (1.0 + e.abs()), "{m}×{n}×{k}: {a} vs {e}");
                }
            }
        }
    }
}
