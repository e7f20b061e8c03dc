//! Element-wise kernels over `f32` slices: GELU (erf form), residual add + layer norm, and
//! the exponential and lane-wise sums that attention's softmax uses. Written as plain
//! loops that the compiler vectorizes; `multiversion!` compiles each body a second time for
//! AVX-512 and picks that one at run time.
//!
//! Float sums use 16 independent lanes: a single running sum would pin the loop to one
//! scalar addition at a time (float addition is not associative, so the compiler may not
//! reorder it).

/// Lanes of the vectorized reductions (one AVX-512 register of f32).
const LANES: usize = 16;

/// Defines `pub(crate) fn $name` that runs `$body` compiled for AVX-512 when the CPU has
/// it, and the same body compiled for the baseline target otherwise.
macro_rules! multiversion {
    ($(#[$meta:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        pub(crate) fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            if $crate::kernels::has_avx512() {
                #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
                unsafe fn fast($($arg: $ty),*) $body
                // SAFETY: the CPU supports every feature `fast` is compiled for.
                return unsafe { fast($($arg),*) };
            }
            fn portable($($arg: $ty),*) $body
            portable($($arg),*)
        }
    };
}
pub(crate) use multiversion;

/// `e^x` within about 2e-7 relative error for the range that matters (results below
/// `e^-87` flush towards the smallest normal). Cody–Waite reduction `x = n ln2 + r`, a
/// degree-6 polynomial for `e^r`, and `2^n` built from exponent bits: no branches, no libm
/// call, so loops over it vectorize.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // Wrapping: an overflow check here would stop the loop from vectorizing (n is in range).
    let scale = f32::from_bits(((n as i32).wrapping_add(127) as u32) << 23);
    p * scale
}

/// `erf(x)` by the rational approximation Eigen and XLA use for f32: `x P(x²) / Q(x²)`
/// on `[-4, 4]` (where erf reaches ±1 in f32), absolute error below 5e-7. No exponential,
/// one division: the cheapest form that keeps GELU exact to f32 noise.
#[inline(always)]
pub(crate) fn erf(x: f32) -> f32 {
    const P: [f32; 7] = [
        -2.726_142_3e-10,
        2.770_681_4e-8,
        -2.101_024e-6,
        -5.692_506_4e-5,
        -7.349_906_3e-4,
        -2.9546e-3,
        -1.609_603_3e-2,
    ];
    const Q: [f32; 5] = [-1.456_607_2e-5, -2.133_740_6e-4, -1.682_827e-3, -7.373_329e-3, -1.426_473_9e-2];
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let p = P[1..].iter().fold(P[0], |acc, c| acc * x2 + c);
    let q = Q[1..].iter().fold(Q[0], |acc, c| acc * x2 + c);
    x * p / q
}

/// GELU in its exact (erf) form, as BERT uses it.
#[inline(always)]
pub(crate) fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

#[inline(always)]
pub(crate) fn lane_sum(xs: &[f32]) -> f32 {
    let mut lanes = [0f32; LANES];
    let mut chunks = xs.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (lane, x) in lanes.iter_mut().zip(chunk) {
            *lane += x;
        }
    }
    lanes.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

#[inline(always)]
pub(crate) fn lane_max(xs: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let mut chunks = xs.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane = lane.max(x);
        }
    }
    lanes.iter().chain(chunks.remainder()).fold(f32::NEG_INFINITY, |m, &x| m.max(x))
}

multiversion! {
    /// GELU applied to every element.
    fn gelu_in_place(xs: &mut [f32]) {
        for x in xs.iter_mut() {
            *x = gelu(*x);
        }
    }
}

multiversion! {
    /// `rows = layer_norm(rows + residual)` row by row, rows `gamma.len()` wide.
    fn add_layer_norm(rows: &mut [f32], residual: &[f32], gamma: &[f32], beta: &[f32], eps: f32) {
        let width = gamma.len();
        for (row, res) in rows.chunks_exact_mut(width).zip(residual.chunks_exact(width)) {
            for (x, r) in row.iter_mut().zip(res) {
                *x += r;
            }
            let mean = lane_sum(row) / width as f32;
            for x in row.iter_mut() {
                *x -= mean;
            }
            let mut squares = [0f32; LANES];
            let mut chunks = row.chunks_exact(LANES);
            for chunk in &mut chunks {
                for (lane, x) in squares.iter_mut().zip(chunk) {
                    *lane += x * x;
                }
            }
            let tail: f32 = chunks.remainder().iter().map(|x| x * x).sum();
            let variance = (squares.iter().sum::<f32>() + tail) / width as f32;
            let inv = 1.0 / (variance + eps).sqrt();
            for ((x, g), b) in row.iter_mut().zip(gamma).zip(beta) {
                *x = *x * inv * g + b;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use candle_core::cpu::erf::erf_f64;

    use super::*;

    fn grid() -> impl Iterator<Item = f32> {
        (-2000..=2000).map(|i| i as f32 * 0.005)
    }

    #[test]
    fn exp_matches_std_within_float_precision() {
        for x in (-8700..=8800).map(|i| i as f32 * 0.01) {
            let (got, want) = (exp(x), (x as f64).exp());
            let rel = ((got as f64 - want) / want).abs();
            assert!(rel < 5e-7, "exp({x}) = {got}, want {want}");
        }
    }

    #[test]
    fn erf_and_gelu_match_the_reference() {
        for x in grid() {
            let want = erf_f64(x as f64);
            let err = (erf(x) as f64 - want).abs();
            assert!(err < 5e-7, "erf({x}) off by {err}");
            let want_gelu = 0.5 * x as f64 * (1.0 + erf_f64(x as f64 / std::f64::consts::SQRT_2));
            assert!((gelu(x) as f64 - want_gelu).abs() < 3e-6, "gelu({x})");
        }
        let mut xs: Vec<f32> = grid().collect();
        gelu_in_place(&mut xs);
        for (got, x) in xs.iter().zip(grid()) {
            assert_eq!(*got, gelu(x), "the slice kernel computes the same function");
        }
    }

    #[test]
    fn layer_norm_of_a_sum_matches_the_textbook_formula() {
        let width = 37;
        let rows: Vec<f32> = (0..width * 3).map(|i| ((i * 7919) % 101) as f32 / 13.0 - 3.0).collect();
        let residual: Vec<f32> = (0..width * 3).map(|i| (i % 5) as f32 * 0.25).collect();
        let gamma: Vec<f32> = (0..width).map(|i| 1.0 + i as f32 * 0.01).collect();
        let beta: Vec<f32> = (0..width).map(|i| i as f32 * -0.02).collect();
        let mut got = rows.clone();
        add_layer_norm(&mut got, &residual, &gamma, &beta, 1e-12);
        for r in 0..3 {
            let x: Vec<f64> =
                (0..width).map(|c| (rows[r * width + c] + residual[r * width + c]) as f64).collect();
            let mean = x.iter().sum::<f64>() / width as f64;
            let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / width as f64;
            for c in 0..width {
                let want = (x[c] - mean) / (var + 1e-12).sqrt() * gamma[c] as f64 + beta[c] as f64;
                assert!((got[r * width + c] as f64 - want).abs() < 1e-5, "row {r} col {c}");
            }
        }
    }
}
