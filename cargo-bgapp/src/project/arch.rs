//! The one table of the architectures bgapp packages for: how a Rust target
//! triple spells each, and what Debian, the GNU toolchain and ELF call it.
//!
//! Layer: project. [`Target`] is the `--target` (or host) triple resolved
//! through the table; the packager looks up Debian and GNU names here
//! (`package/strip.rs`), and error messages name ELF machines with
//! [`describe_machine`].

use object::elf;

use super::binary::Machine;

/// One architecture, as every tool names it.
#[derive(Debug, PartialEq, Eq)]
pub struct Arch {
    /// Debian's name (`dpkg --print-architecture`): `amd64`, `arm64`, `armhf`, ...
    pub deb: &'static str,
    /// The GNU type (`dpkg-architecture -qDEB_HOST_GNU_TYPE`), which prefixes
    /// Debian's cross binutils (`aarch64-linux-gnu-strip`).
    pub gnu_type: &'static str,
    /// The ELF machine, word size and byte order of its binaries.
    pub machine: Machine,
    /// The ELF machine's name, for messages.
    pub cpu_name: &'static str,
    /// The first component of the Rust target triples for it.
    cpu: Cpu,
    /// What the rest of the triple must say, where one CPU has two ABIs.
    abi: Abi,
}

/// How a triple's first component (`x86_64`, `armv7`, `riscv64gc`) matches.
#[derive(Debug, PartialEq, Eq)]
enum Cpu {
    Is(&'static [&'static str]),
    StartsWith(&'static [&'static str]),
}

/// How the end of a triple (`gnueabihf`, `gnux32`) matches.
#[derive(Debug, PartialEq, Eq)]
enum Abi {
    Any,
    EndsWith(&'static str),
    NotEndsWith(&'static str),
}

const fn machine(e_machine: u16, is_64: bool, big_endian: bool) -> Machine {
    Machine {
        e_machine,
        is_64,
        big_endian,
    }
}

const LE: bool = false;
const BE: bool = true;

/// The architectures, one row each.
#[rustfmt::skip]
pub static ARCHES: &[Arch] = &[
    Arch { deb: "amd64",    gnu_type: "x86_64-linux-gnu",        machine: machine(elf::EM_X86_64, true, LE),     cpu_name: "x86-64",       cpu: Cpu::Is(&["x86_64"]),                abi: Abi::NotEndsWith("gnux32") },
    Arch { deb: "x32",      gnu_type: "x86_64-linux-gnux32",     machine: machine(elf::EM_X86_64, false, LE),    cpu_name: "x86-64",       cpu: Cpu::Is(&["x86_64"]),                abi: Abi::EndsWith("gnux32") },
    Arch { deb: "i386",     gnu_type: "i686-linux-gnu",          machine: machine(elf::EM_386, false, LE),       cpu_name: "x86 (32-bit)", cpu: Cpu::Is(&["i386", "i586", "i686"]),  abi: Abi::Any },
    Arch { deb: "arm64",    gnu_type: "aarch64-linux-gnu",       machine: machine(elf::EM_AARCH64, true, LE),    cpu_name: "AArch64",      cpu: Cpu::Is(&["aarch64"]),               abi: Abi::Any },
    Arch { deb: "arm64be",  gnu_type: "aarch64_be-linux-gnu",    machine: machine(elf::EM_AARCH64, true, BE),    cpu_name: "AArch64",      cpu: Cpu::Is(&["aarch64_be"]),            abi: Abi::Any },
    Arch { deb: "armhf",    gnu_type: "arm-linux-gnueabihf",     machine: machine(elf::EM_ARM, false, LE),       cpu_name: "ARM (32-bit)", cpu: Cpu::StartsWith(&["arm", "thumb"]),  abi: Abi::EndsWith("hf") },
    Arch { deb: "armel",    gnu_type: "arm-linux-gnueabi",       machine: machine(elf::EM_ARM, false, LE),       cpu_name: "ARM (32-bit)", cpu: Cpu::StartsWith(&["arm", "thumb"]),  abi: Abi::NotEndsWith("hf") },
    Arch { deb: "riscv64",  gnu_type: "riscv64-linux-gnu",       machine: machine(elf::EM_RISCV, true, LE),      cpu_name: "RISC-V",       cpu: Cpu::Is(&["riscv64gc", "riscv64"]),  abi: Abi::Any },
    Arch { deb: "ppc64el",  gnu_type: "powerpc64le-linux-gnu",   machine: machine(elf::EM_PPC64, true, LE),      cpu_name: "PowerPC64",    cpu: Cpu::Is(&["powerpc64le"]),           abi: Abi::Any },
    Arch { deb: "ppc64",    gnu_type: "powerpc64-linux-gnu",     machine: machine(elf::EM_PPC64, true, BE),      cpu_name: "PowerPC64",    cpu: Cpu::Is(&["powerpc64"]),             abi: Abi::Any },
    Arch { deb: "powerpc",  gnu_type: "powerpc-linux-gnu",       machine: machine(elf::EM_PPC, false, BE),       cpu_name: "PowerPC",      cpu: Cpu::Is(&["powerpc"]),               abi: Abi::Any },
    Arch { deb: "s390x",    gnu_type: "s390x-linux-gnu",         machine: machine(elf::EM_S390, true, BE),       cpu_name: "S/390",        cpu: Cpu::Is(&["s390x"]),                 abi: Abi::Any },
    Arch { deb: "loong64",  gnu_type: "loongarch64-linux-gnu",   machine: machine(elf::EM_LOONGARCH, true, LE),  cpu_name: "LoongArch",    cpu: Cpu::Is(&["loongarch64"]),           abi: Abi::Any },
    Arch { deb: "mips64el", gnu_type: "mips64el-linux-gnuabi64", machine: machine(elf::EM_MIPS, true, LE),       cpu_name: "MIPS",         cpu: Cpu::Is(&["mips64el"]),              abi: Abi::Any },
    Arch { deb: "mipsel",   gnu_type: "mipsel-linux-gnu",        machine: machine(elf::EM_MIPS, false, LE),      cpu_name: "MIPS",         cpu: Cpu::Is(&["mipsel"]),                abi: Abi::Any },
    Arch { deb: "sparc64",  gnu_type: "sparc64-linux-gnu",       machine: machine(elf::EM_SPARCV9, true, BE),    cpu_name: "SPARC V9",     cpu: Cpu::Is(&["sparc64"]),               abi: Abi::Any },
];

impl Arch {
    /// The row for a Linux target triple, from its CPU and ABI parts.
    fn for_triple(triple: &str) -> Option<&'static Arch> {
        let cpu = triple.split('-').next().unwrap_or_default();
        ARCHES
            .iter()
            .find(|a| a.cpu.matches(cpu) && a.abi.matches(triple))
    }

    /// The row for a Debian architecture name.
    pub fn by_deb(deb: &str) -> Option<&'static Arch> {
        ARCHES.iter().find(|a| a.deb == deb)
    }

    /// The architecture cargo-bgapp itself was built for: this machine's.
    /// The row of a resolved [`Target`].
    pub fn for_target(target: &Target) -> Option<&'static Arch> {
        Arch::for_triple(&target.triple)
    }

    pub fn host() -> Option<&'static Arch> {
        Arch::for_triple(env!("CARGO_BGAPP_HOST_TRIPLE"))
    }
}

impl Cpu {
    fn matches(&self, cpu: &str) -> bool {
        match self {
            Cpu::Is(names) => names.contains(&cpu),
            Cpu::StartsWith(prefixes) => prefixes.iter().any(|p| cpu.starts_with(p)),
        }
    }
}

impl Abi {
    fn matches(&self, triple: &str) -> bool {
        match self {
            Abi::Any => true,
            Abi::EndsWith(end) => triple.ends_with(end),
            Abi::NotEndsWith(end) => !triple.ends_with(end),
        }
    }
}

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
    /// Maps a Linux target triple through [`ARCHES`].
    pub fn from_triple(triple: &str) -> Result<Target, TargetError> {
        if !triple.contains("-linux") {
            return Err(TargetError::NotLinux(triple.to_string()));
        }
        let arch =
            Arch::for_triple(triple).ok_or_else(|| TargetError::UnknownArch(triple.to_string()))?;
        Ok(Target {
            triple: triple.to_string(),
            deb_arch: arch.deb,
            machine: arch.machine,
        })
    }

    /// Whether a binary built for `machine` runs on this target.
    pub fn accepts(&self, machine: &Machine) -> bool {
        self.machine == *machine
    }
}

/// A readable name for an ELF machine, for error messages.
pub fn describe_machine(m: &Machine) -> String {
    let Some(arch) = ARCHES.iter().find(|a| a.machine.e_machine == m.e_machine) else {
        return format!("ELF machine {}", m.e_machine);
    };
    let bits = if m.is_64 { 64 } else { 32 };
    let endian = if m.big_endian {
        "big-endian"
    } else {
        "little-endian"
    };
    format!("{}, {bits}-bit {endian}", arch.cpu_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_common_triples_to_debian_architectures() {
        for (triple, arch) in [
            ("x86_64-unknown-linux-gnu", "amd64"),
            ("x86_64-unknown-linux-musl", "amd64"),
            ("x86_64-unknown-linux-gnux32", "x32"),
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

    #[test]
    fn one_row_per_debian_name_and_each_triple_matches_one_row() {
        for (i, a) in ARCHES.iter().enumerate() {
            assert!(
                ARCHES[i + 1..].iter().all(|b| b.deb != a.deb),
                "`{}` twice",
                a.deb
            );
            // The GNU type is itself a triple that maps back to its row.
            let rows: Vec<&str> = ARCHES
                .iter()
                .filter(|b| b.cpu.matches(a.gnu_type.split('-').next().unwrap()))
                .filter(|b| b.abi.matches(a.gnu_type))
                .map(|b| b.deb)
                .collect();
            assert_eq!(rows, [a.deb], "{}", a.gnu_type);
        }
    }

    #[test]
    fn the_host_is_in_the_table() {
        let host = Arch::host().expect("cargo-bgapp runs on an architecture it knows");
        assert_eq!(host.machine.is_64, cfg!(target_pointer_width = "64"));
        assert_eq!(host.machine.big_endian, cfg!(target_endian = "big"));
        if cfg!(all(target_arch = "x86_64", target_pointer_width = "64")) {
            assert_eq!(host.deb, "amd64");
        }
        assert_eq!(Arch::by_deb(host.deb), Some(host));
    }

    #[test]
    fn names_machines() {
        let arm64 = Arch::by_deb("arm64").unwrap();
        assert_eq!(
            describe_machine(&arm64.machine),
            "AArch64, 64-bit little-endian"
        );
        let unknown = machine(0x1234, false, false);
        assert_eq!(describe_machine(&unknown), "ELF machine 4660");
    }
}
