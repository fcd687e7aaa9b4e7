//! Which family of vector kernels the CPU pass runs: the widest this CPU has, or the one
//! `CLOSEST_KERNEL` forces.
//!
//! Products summed in vectors of another width add in another order, so AVX-512, AVX2 and
//! portable code give vectors that differ in their last bits. Lists must not change for that
//! (the engine keeps a written order that such noise alone would flip), and to show that they
//! do not, a run can be made to compute as another machine would: `CLOSEST_KERNEL=portable`,
//! `avx2` or `avx512` forces the family for the whole pass, the matrix products included
//! (`matmul.rs` calls gemm's kernel of that family), and `closest doctor` shows which runs.

use std::sync::OnceLock;

/// The environment variable that forces a family.
pub const KERNEL_VARIABLE: &str = "CLOSEST_KERNEL";

/// A family of vector kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vectors {
    Avx512,
    /// AVX2 with FMA.
    Avx2,
    Generic,
}

impl Vectors {
    /// The widest family this CPU runs.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Self::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Self::Avx2;
            }
        }
        Self::Generic
    }

    /// Whether this CPU runs the family.
    pub fn runs_here(self) -> bool {
        match self {
            Self::Generic => true,
            Self::Avx2 => Self::detect() != Self::Generic,
            Self::Avx512 => Self::detect() == Self::Avx512,
        }
    }

    /// The family `CLOSEST_KERNEL` forces, if it is set: an error says why it cannot be.
    pub fn forced() -> Result<Option<Self>, String> {
        let Some(value) = std::env::var_os(KERNEL_VARIABLE) else {
            return Ok(None);
        };
        let family = match value.to_string_lossy().as_ref() {
            "" => return Ok(None),
            "portable" => Self::Generic,
            "avx2" => Self::Avx2,
            "avx512" => Self::Avx512,
            other => {
                return Err(format!(
                    "{KERNEL_VARIABLE}={other} names no kernel family; use portable, avx2 or avx512"
                ))
            }
        };
        if !family.runs_here() {
            return Err(format!(
                "{KERNEL_VARIABLE} asks for {}, which this CPU does not have; use portable{}",
                family.name(),
                if Self::Avx2.runs_here() {
                    " or avx2"
                } else {
                    ""
                }
            ));
        }
        Ok(Some(family))
    }

    /// The family every pass of this process runs: the forced one, else the widest here (a
    /// family that cannot be forced is refused when the model loads, `Embedder::load`).
    pub fn in_use() -> Self {
        static IN_USE: OnceLock<Vectors> = OnceLock::new();
        *IN_USE.get_or_init(|| Self::forced().ok().flatten().unwrap_or_else(Self::detect))
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Avx512 => "AVX-512F",
            Self::Avx2 => "AVX2",
            Self::Generic => "portable code, no wide vectors",
        }
    }
}
