//! Hand-written CPU kernels for the encoder's inference pass, run by candle as custom ops
//! (see `crate::ragged`). They work on row-major `f32` slices.
//!
//! Each element-wise kernel has a portable body that is also compiled for AVX-512 and
//! chosen at run time; the matrix multiply has a bfloat16 version for CPUs with AVX-512
//! BF16 (`gemm`), and otherwise candle's own f32 matrix multiply is used. Threads come
//! from rayon's global pool, the one candle's matrix multiply uses (`RAYON_NUM_THREADS`).

pub(crate) mod attention;
pub(crate) mod gemm;
pub(crate) mod math;

use serde::{Deserialize, Serialize};

/// An output buffer that parallel work items write into, each its own disjoint region
/// (rows x columns); the kernels that create one guarantee that.
#[derive(Clone, Copy)]
pub(crate) struct SharedOut(*mut f32);

// SAFETY: shared only between work items that write disjoint regions (see above).
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    pub(crate) fn new(out: &mut [f32]) -> Self {
        Self(out.as_mut_ptr())
    }

    /// Through a method, so closures capture the whole (Sync) wrapper, not the raw field.
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}

/// Whether the CPU has the AVX-512 subsets the vectorized kernels are compiled for.
#[cfg(target_arch = "x86_64")]
pub(crate) fn has_avx512() -> bool {
    use std::arch::is_x86_feature_detected as has;
    has!("avx512f") && has!("avx512vl") && has!("avx512bw") && has!("avx512dq") && has!("fma")
}

/// The arithmetic of the encoder's matrix multiplies at inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// bfloat16 where the CPU has AVX-512 BF16, else f32.
    #[default]
    Auto,
    /// f32 throughout (candle's matrix multiply): the reference arithmetic.
    F32,
    /// Weights and activations rounded to bfloat16 for the matrix multiplies, sums kept
    /// in f32. Needs AVX-512 BF16.
    Bf16,
}

impl Precision {
    /// The arithmetic actually used on this CPU: `Auto` resolved, `Bf16` refused where the
    /// CPU cannot run it.
    pub fn resolve(self) -> Result<Self, String> {
        match self {
            Self::Auto if gemm::available() => Ok(Self::Bf16),
            Self::Auto => Ok(Self::F32),
            Self::Bf16 if !gemm::available() => Err("bf16 needs a CPU with AVX-512 BF16; use f32".into()),
            other => Ok(other),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Auto, Self::F32, Self::Bf16].into_iter().find(|p| p.as_str() == raw.trim())
    }
}
