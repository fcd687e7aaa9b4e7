//! `--device` and `--dtype`: parsing, and what `auto` falls back to.

use candle_core::{DType, Device};

use crate::error::{Error, Result};

/// A parsed `--device` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
}

impl std::str::FromStr for DeviceChoice {
    type Err = Error;
    fn from_str(value: &str) -> Result<Self> {
        let invalid = || Error::InvalidArgument {
            what: "device",
            value: value.to_owned(),
            expected: "auto, cpu, cuda or cuda:N",
        };
        match value {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            _ => value
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(invalid),
        }
    }
}

/// The device picked, and a note for stderr when `auto` fell back to the CPU.
#[derive(Debug, Clone)]
pub struct PickedDevice {
    pub device: Device,
    /// Why `auto` runs on the CPU, when it does.
    pub note: Option<String>,
    /// Whether a GPU was expected: the binary was built with CUDA. Only then is the fallback
    /// worth saying on every run; a CPU-only build runs on the CPU by design.
    pub gpu_expected: bool,
}

impl DeviceChoice {
    /// Opens the device. `auto` tries CUDA device 0 when the binary was built with the `cuda`
    /// feature and falls back to the CPU with a note (`gpu_expected` says whether it matters);
    /// an explicit `cuda` that fails is an error.
    pub fn open(self) -> Result<PickedDevice> {
        match self {
            Self::Cpu => Ok(PickedDevice {
                device: Device::Cpu,
                note: None,
                gpu_expected: false,
            }),
            Self::Cuda(ordinal) => open_cuda(ordinal).map(|device| PickedDevice {
                device,
                note: None,
                gpu_expected: true,
            }),
            Self::Auto => match open_cuda(0) {
                Ok(device) => Ok(PickedDevice {
                    device,
                    note: None,
                    gpu_expected: true,
                }),
                Err(err) => Ok(PickedDevice {
                    device: Device::Cpu,
                    note: Some(format!(
                        "no usable GPU, running on the CPU ({})",
                        short_reason(&err)
                    )),
                    gpu_expected: cfg!(feature = "cuda"),
                }),
            },
        }
    }
}

fn short_reason(err: &Error) -> String {
    match err {
        Error::Device { .. } if cfg!(not(feature = "cuda")) => "this build has no CUDA".to_owned(),
        Error::Device { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

#[cfg(feature = "cuda")]
fn open_cuda(ordinal: usize) -> Result<Device> {
    Device::new_cuda(ordinal).map_err(|err| Error::Device {
        device: format!("cuda:{ordinal}"),
        reason: err.to_string(),
    })
}

#[cfg(not(feature = "cuda"))]
fn open_cuda(ordinal: usize) -> Result<Device> {
    Err(Error::Device {
        device: format!("cuda:{ordinal}"),
        reason: "this binary was built without CUDA; rebuild with `cargo build --release --features cuda`".to_owned(),
    })
}

/// Parses `--dtype`.
pub fn parse_dtype(value: &str) -> Result<DType> {
    match value {
        "f32" => Ok(DType::F32),
        "f16" => Ok(DType::F16),
        "bf16" => Ok(DType::BF16),
        _ => Err(Error::InvalidArgument {
            what: "dtype",
            value: value.to_owned(),
            expected: "f32, f16 or bf16",
        }),
    }
}

/// The name `--dtype` takes for a dtype.
pub fn dtype_name(dtype: DType) -> &'static str {
    match dtype {
        DType::F16 => "f16",
        DType::BF16 => "bf16",
        _ => "f32",
    }
}
