//! Target triples: which ELF machine a triple builds for, and which Debian
//! architecture a package for it declares.

use object::elf;

use crate::binary::Machine;

/// What the packager needs to know about a target triple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub triple: String,
    /// The Debian architecture (`amd64`, `arm64`, `armhf`, ...).
    pub deb_arch: &'static str,
    pub machine: Machine,
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("target `{0}` is not a Linux target; bgapp packages for Linux")]
    NotLinux(String),
    #[error("no Debian architecture is known for target `{0}`")]
    UnknownArch(String),
}

impl Target {
    /// Maps a Linux target triple; the architecture is its first component.
    pub fn from_triple(triple: &str) -> Result<Target, TargetError> {
        let mut parts = triple.split('-');
        let arch = parts.next().unwrap_or_default();
        if !triple.contains("-linux") {
            return Err(TargetError::NotLinux(triple.to_string()));
        }
        let hard_float = triple.ends_with("hf");
        let (deb_arch, e_machine, is_64, big_endian) = match arch {
            "x86_64" if triple.ends_with("gnux32") => ("x32", elf::EM_X86_64, false, false),
            "x86_64" => ("amd64", elf::EM_X86_64, true, false),
            "aarch64" => ("arm64", elf::EM_AARCH64, true, false),
            "aarch64_be" => ("arm64be", elf::EM_AARCH64, true, true),
            "i386" | "i586" | "i686" => ("i386", elf::EM_386, false, false),
            a if (a.starts_with("arm") || a.starts_with("thumb")) && hard_float => {
                ("armhf", elf::EM_ARM, false, false)
            }
            a if a.starts_with("arm") || a.starts_with("thumb") => {
                ("armel", elf::EM_ARM, false, false)
            }
            "riscv64gc" | "riscv64" => ("riscv64", elf::EM_RISCV, true, false),
            "powerpc64le" => ("ppc64el", elf::EM_PPC64, true, false),
            "powerpc64" => ("ppc64", elf::EM_PPC64, true, true),
            "powerpc" => ("powerpc", elf::EM_PPC, false, true),
            "s390x" => ("s390x", elf::EM_S390, true, true),
            "loongarch64" => ("loong64", elf::EM_LOONGARCH, true, false),
            "mips64el" => ("mips64el", elf::EM_MIPS, true, false),
            "mipsel" => ("mipsel", elf::EM_MIPS, false, false),
            "sparc64" => ("sparc64", elf::EM_SPARCV9, true, true),
            _ => return Err(TargetError::UnknownArch(triple.to_string())),
        };
        Ok(Target {
            triple: triple.to_string(),
            deb_arch,
            machine: Machine {
                e_machine,
                is_64,
                big_endian,
            },
        })
    }

    /// Whether a binary built for `machine` runs on this target.
    pub fn accepts(&self, machine: &Machine) -> bool {
        self.machine == *machine
    }
}

/// A readable name for an ELF machine, for error messages.
pub fn describe_machine(m: &Machine) -> String {
    let name = match m.e_machine {
        elf::EM_X86_64 => "x86-64",
        elf::EM_AARCH64 => "AArch64",
        elf::EM_386 => "x86 (32-bit)",
        elf::EM_ARM => "ARM (32-bit)",
        elf::EM_RISCV => "RISC-V",
        elf::EM_PPC64 => "PowerPC64",
        elf::EM_PPC => "PowerPC",
        elf::EM_S390 => "S/390",
        elf::EM_LOONGARCH => "LoongArch",
        elf::EM_MIPS => "MIPS",
        elf::EM_SPARCV9 => "SPARC V9",
        other => return format!("ELF machine {other}"),
    };
    let bits = if m.is_64 { 64 } else { 32 };
    let endian = if m.big_endian {
        "big-endian"
    } else {
        "little-endian"
    };
    format!("{name}, {bits}-bit {endian}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_common_triples_to_debian_architectures() {
        for (triple, arch) in [
            ("x86_64-unknown-linux-gnu", "amd64"),
            ("x86_64-unknown-linux-musl", "amd64"),
            ("aarch64-unknown-linux-gnu", "arm64"),
            ("armv7-unknown-linux-gnueabihf", "armhf"),
            ("arm-unknown-linux-gnueabihf", "armhf"),
            ("thumbv7neon-unknown-linux-gnueabihf", "armhf"),
            ("arm-unknown-linux-gnueabi", "armel"),
            ("armv5te-unknown-linux-gnueabi", "armel"),
            ("i686-unknown-linux-gnu", "i386"),
            ("i586-unknown-linux-gnu", "i386"),
            ("riscv64gc-unknown-linux-gnu", "riscv64"),
            ("powerpc64le-unknown-linux-gnu", "ppc64el"),
            ("s390x-unknown-linux-gnu", "s390x"),
            ("loongarch64-unknown-linux-gnu", "loong64"),
        ] {
            assert_eq!(
                Target::from_triple(triple).unwrap().deb_arch,
                arch,
                "{triple}"
            );
        }
    }

    #[test]
    fn refuses_other_systems_and_unknown_arches() {
        assert!(matches!(
            Target::from_triple("x86_64-pc-windows-msvc"),
            Err(TargetError::NotLinux(_))
        ));
        assert!(matches!(
            Target::from_triple("m68k-unknown-linux-gnu"),
            Err(TargetError::UnknownArch(_))
        ));
    }
}
