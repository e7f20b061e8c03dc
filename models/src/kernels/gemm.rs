//! Matrix multiply in bfloat16 with f32 accumulation, for CPUs with AVX-512 BF16.
//!
//! `out = a · Wᵀ + bias` where `W` is a linear layer's `[n, k]` weight. The weight is
//! converted and packed once, at load: panels of [`NR`] output columns, each holding for
//! every pair of inputs `(k, k+1)` the two bfloat16 values side by side in one 32-bit
//! word, which is the operand layout of `vdpbf16ps`. Activations are rounded to bfloat16
//! per call. A micro-kernel keeps an [`MR`] x [`NR`] tile of sums in 16 registers.
//!
//! Rounding is to nearest even (the instruction's own conversion does the same), so the
//! scalar packing of the weights and the vector packing of activations agree.

use rayon::prelude::*;

use super::SharedOut;
use super::math::gelu_in_place;

/// Output columns per panel (two 16-lane registers).
pub(crate) const NR: usize = 32;
/// Rows per micro-kernel tile.
pub(crate) const MR: usize = 8;

/// A linear layer's weight and bias, packed for [`PackedBf16::matmul`].
pub(crate) struct PackedBf16 {
    n: usize,
    k: usize,
    /// `[n / NR][k / 2][NR]` pairs of bfloat16.
    panels: Vec<u32>,
    bias: Vec<f32>,
}

/// bfloat16 bits of `x`, rounded to nearest even (NaN stays NaN).
pub(crate) fn bf16_bits(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) | 0x40) as u16;
    }
    ((bits + 0x7fff + ((bits >> 16) & 1)) >> 16) as u16
}

/// The value a bfloat16 stands for.
#[cfg(test)]
fn bf16_value(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

fn pair(lo: f32, hi: f32) -> u32 {
    u32::from(bf16_bits(lo)) | (u32::from(bf16_bits(hi)) << 16)
}

/// Whether this CPU runs [`PackedBf16`].
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        super::has_avx512() && std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

impl PackedBf16 {
    /// Packs `weight` (`[n, k]`, row-major) and `bias` (`n`). `k` must be even.
    pub(crate) fn pack(weight: &[f32], bias: &[f32], n: usize, k: usize) -> Self {
        assert!(
            k.is_multiple_of(2) && weight.len() == n * k && bias.len() == n,
            "weight must be [n, k] with k even"
        );
        let pairs = k / 2;
        let blocks = n.div_ceil(NR);
        let mut panels = vec![0u32; blocks * pairs * NR];
        for (block, panel) in panels.chunks_exact_mut(pairs * NR).enumerate() {
            for (p, lane) in panel.chunks_exact_mut(NR).enumerate() {
                for (c, slot) in lane.iter_mut().enumerate() {
                    let col = block * NR + c;
                    if col < n {
                        *slot = pair(weight[col * k + 2 * p], weight[col * k + 2 * p + 1]);
                    }
                }
            }
        }
        Self { n, k, panels, bias: bias.to_vec() }
    }

    pub(crate) fn out_features(&self) -> usize {
        self.n
    }

    pub(crate) fn in_features(&self) -> usize {
        self.k
    }

    /// `a · Wᵀ + bias` for `a` of `m` rows, GELU applied after when `gelu`; `m x n` out.
    pub(crate) fn matmul(&self, a: &[f32], m: usize, gelu: bool) -> Vec<f32> {
        assert!(available(), "the CPU lacks AVX-512 BF16");
        assert_eq!(a.len(), m * self.k, "a must be [m, k]");
        let pairs = self.k / 2;
        let tiles = m.div_ceil(MR);
        let packed = pack_rows(a, m, self.k);
        let mut out = vec![0f32; m * self.n];
        let out_ptr = SharedOut::new(&mut out);
        let blocks = self.n.div_ceil(NR);
        // Consecutive work items share a weight panel, so it stays in cache.
        (0..blocks * tiles).into_par_iter().with_min_len(4).for_each(|item| {
            let (block, tile) = (item / tiles, item % tiles);
            let rows = MR.min(m - tile * MR);
            let col0 = block * NR;
            let cols = NR.min(self.n - col0);
            let a_tile = &packed[tile * MR * pairs..(tile + 1) * MR * pairs];
            let panel = &self.panels[block * pairs * NR..(block + 1) * pairs * NR];
            let tile_out = TileOut { ptr: out_ptr, stride: self.n, row0: tile * MR, col0, rows, cols };
            // SAFETY: `available()` was checked; each item writes only its own tile.
            unsafe { kernel(a_tile, panel, pairs, &self.bias[col0..col0 + cols], tile_out, gelu) };
        });
        out
    }
}

/// `a` (`[m, k]`) as rows of bfloat16 pairs, padded with zero rows to a multiple of [`MR`].
fn pack_rows(a: &[f32], m: usize, k: usize) -> Vec<u32> {
    let pairs = k / 2;
    let mut packed = vec![0u32; m.div_ceil(MR) * MR * pairs];
    packed.par_chunks_mut(pairs).zip(a.par_chunks(k)).with_min_len(16).for_each(|(out, row)| {
        // SAFETY: only called from `matmul`, after `available()`.
        unsafe { pack_row(row, out) }
    });
    packed
}

/// Where one tile's results go.
struct TileOut {
    ptr: SharedOut,
    stride: usize,
    row0: usize,
    col0: usize,
    rows: usize,
    cols: usize,
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn pack_row(row: &[f32], out: &mut [u32]) {
    use std::arch::x86_64::*;
    let mut chunks = row.chunks_exact(32);
    let mut pairs = out.chunks_exact_mut(16);
    for (chunk, dst) in (&mut chunks).zip(&mut pairs) {
        // SAFETY: 32 floats in, 16 words out, bounds given by the chunks.
        unsafe {
            let lo = _mm512_loadu_ps(chunk.as_ptr());
            let hi = _mm512_loadu_ps(chunk.as_ptr().add(16));
            let packed: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(hi, lo));
            _mm512_storeu_si512(dst.as_mut_ptr().cast(), packed);
        }
    }
    let rest = chunks.remainder();
    for (dst, two) in pairs.into_remainder().iter_mut().zip(rest.chunks_exact(2)) {
        *dst = pair(two[0], two[1]);
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn pack_row(_row: &[f32], _out: &mut [u32]) {
    unreachable!("PackedBf16 needs x86-64 AVX-512 BF16")
}

/// One `MR x NR` tile: `a_tile` is `MR` packed rows, `panel` one weight panel.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn kernel(a_tile: &[u32], panel: &[u32], pairs: usize, bias: &[f32], out: TileOut, gelu: bool) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    for p in 0..pairs {
        // SAFETY: `panel` holds `pairs * NR` words and `a_tile` `MR * pairs`.
        unsafe {
            let w0: __m512bh = std::mem::transmute(_mm512_loadu_si512(panel.as_ptr().add(p * NR).cast()));
            let w1: __m512bh =
                std::mem::transmute(_mm512_loadu_si512(panel.as_ptr().add(p * NR + 16).cast()));
            for (r, sums) in acc.iter_mut().enumerate() {
                let x: __m512bh =
                    std::mem::transmute(_mm512_set1_epi32(*a_tile.get_unchecked(r * pairs + p) as i32));
                sums[0] = _mm512_dpbf16_ps(sums[0], x, w0);
                sums[1] = _mm512_dpbf16_ps(sums[1], x, w1);
            }
        }
    }
    let mut padded_bias = [0f32; NR];
    padded_bias[..out.cols].copy_from_slice(bias);
    let mut row_buf = [0f32; NR];
    for (r, sums) in acc.iter().enumerate().take(out.rows) {
        // SAFETY: `row_buf` and `padded_bias` hold NR floats.
        unsafe {
            let b0 = _mm512_loadu_ps(padded_bias.as_ptr());
            let b1 = _mm512_loadu_ps(padded_bias.as_ptr().add(16));
            _mm512_storeu_ps(row_buf.as_mut_ptr(), _mm512_add_ps(sums[0], b0));
            _mm512_storeu_ps(row_buf.as_mut_ptr().add(16), _mm512_add_ps(sums[1], b1));
        }
        let values = &mut row_buf[..out.cols];
        if gelu {
            gelu_in_place(values);
        }
        // SAFETY: the tile's row is inside the output and no other tile writes it.
        unsafe {
            let dst = out.ptr.get().add((out.row0 + r) * out.stride + out.col0);
            std::ptr::copy_nonoverlapping(values.as_ptr(), dst, out.cols);
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn kernel(_: &[u32], _: &[u32], _: usize, _: &[f32], _: TileOut, _: bool) {
    unreachable!("PackedBf16 needs x86-64 AVX-512 BF16")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::math::gelu;

    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut rng = crate::training::rng::SplitMix64::new(seed);
        (0..len).map(|_| rng.next_f32() * 2.0 - 1.0).collect()
    }

    /// The product of the bfloat16-rounded inputs, in f64: what the kernel should compute.
    fn reference(a: &[f32], w: &[f32], bias: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
        let round = |x: f32| bf16_value(bf16_bits(x)) as f64;
        let mut out = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let dot: f64 = (0..k).map(|p| round(a[i * k + p]) * round(w[j * k + p])).sum();
                out[i * n + j] = (dot + bias[j] as f64) as f32;
            }
        }
        out
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        assert_eq!(bf16_value(bf16_bits(1.0)), 1.0);
        // 1 + 2^-8 is halfway between two bfloat16 values: ties go to the even one (1.0).
        assert_eq!(bf16_value(bf16_bits(1.0 + 1.0 / 256.0)), 1.0);
        assert_eq!(bf16_value(bf16_bits(1.0 + 3.0 / 256.0)), 1.0 + 4.0 / 256.0);
        assert!(bf16_value(bf16_bits(f32::NAN)).is_nan());
    }

    #[test]
    fn matches_the_rounded_reference_on_ragged_shapes() {
        if !available() {
            eprintln!("skipped: this CPU has no AVX-512 BF16");
            return;
        }
        for (m, n, k) in [(1, 32, 2), (13, 70, 38), (37, 384, 384), (9, 64, 1536)] {
            let (a, w, bias) = (values(m * k, 1), values(n * k, 2), values(n, 3));
            let packed = PackedBf16::pack(&w, &bias, n, k);
            let want = reference(&a, &w, &bias, m, n, k);
            let got = packed.matmul(&a, m, false);
            for (g, e) in got.iter().zip(&want) {
                assert!((g - e).abs() < 1e-4 * (k as f32).sqrt(), "{m}x{n}x{k}: {g} vs {e}");
            }
            let with_gelu = packed.matmul(&a, m, true);
            for (g, e) in with_gelu.iter().zip(&want) {
                assert!((g - gelu(*e)).abs() < 1e-4 * (k as f32).sqrt(), "gelu epilogue");
            }
        }
    }
}
