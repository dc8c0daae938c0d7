//! What the process may use: available RAM, cgroup limits and the address-space limit, read
//! from `/proc` and the cgroup file systems (see [`Limits`]); re-exported by [`crate::memory`].

use std::fmt;
use std::path::{Path, PathBuf};

/// Where the smallest limit of [`Limits`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitSource {
    /// `MemAvailable` of `/proc/meminfo`.
    AvailableMemory,
    /// The cgroup's memory limit (v2 `memory.max`, v1 `memory.limit_in_bytes`).
    Cgroup,
    /// The address-space limit (`ulimit -v`, `RLIMIT_AS`).
    AddressSpace,
}

impl fmt::Display for LimitSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LimitSource::AvailableMemory => "available memory",
            LimitSource::Cgroup => "cgroup memory limit",
            LimitSource::AddressSpace => "address-space limit (ulimit -v)",
        })
    }
}

/// What the process may use, as far as the system says; `None` where nothing is known or
/// there is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Available RAM (`MemAvailable`), in bytes.
    pub available: Option<u64>,
    /// The smallest memory limit of the process's cgroup and its ancestors, in bytes.
    pub cgroup: Option<u64>,
    /// The soft address-space limit, in bytes.
    pub address_space: Option<u64>,
}

/// cgroup v1 writes "no limit" as the largest page-aligned `i64` (9223372036854771712);
/// anything this large is no limit.
const UNLIMITED_FROM: u64 = 1 << 62;

impl Limits {
    /// The limits of this process, read from `/proc` and the cgroup file systems.
    pub fn detect() -> Limits {
        Self::detect_in(Path::new("/"))
    }

    /// The limits as the files under `root` say (`root/proc/meminfo`,
    /// `root/proc/self/{cgroup,mountinfo,limits}` and the cgroup files under the mount points
    /// that mountinfo names, else under `root/sys/fs/cgroup`): [`Limits::detect`] with
    /// `root = /`, and tests with a made-up tree.
    pub fn detect_in(root: &Path) -> Limits {
        let read = |p: &str| std::fs::read_to_string(root.join(p)).ok();
        let available = read("proc/meminfo").and_then(|t| parse_meminfo_available(&t));
        let address_space = read("proc/self/limits").and_then(|t| parse_address_space_limit(&t));
        let cgroup = read("proc/self/cgroup").and_then(|cg| {
            let mounts = read("proc/self/mountinfo")
                .map(|m| parse_mountinfo(&m))
                .unwrap_or_default();
            cgroup_limit(root, &parse_proc_cgroup(&cg), &mounts)
        });
        Limits {
            available,
            cgroup,
            address_space,
        }
    }

    /// The smallest known limit and where it comes from; `None` when none is known.
    ///
    /// ```
    /// use lrp::memory::{LimitSource, Limits};
    /// let l = Limits { available: Some(8 << 30), cgroup: Some(2 << 30), address_space: None };
    /// assert_eq!(l.smallest(), Some((2 << 30, LimitSource::Cgroup)));
    /// assert_eq!(Limits::default().smallest(), None);
    /// ```
    pub fn smallest(&self) -> Option<(u64, LimitSource)> {
        [
            (self.available, LimitSource::AvailableMemory),
            (self.cgroup, LimitSource::Cgroup),
            (self.address_space, LimitSource::AddressSpace),
        ]
        .into_iter()
        .filter_map(|(v, s)| v.map(|v| (v, s)))
        .min_by_key(|&(v, _)| v)
    }

    /// The default budget of an explanation: [`DEFAULT_FRACTION`] of the smallest limit
    /// (the rest is left for the program, the allocator and the images), with its source.
    pub fn default_budget(&self) -> Option<(u64, LimitSource)> {
        let (num, den) = DEFAULT_FRACTION;
        self.smallest()
            .map(|(v, s)| ((v as u128 * num as u128 / den as u128) as u64, s))
    }
}

/// The share of the smallest limit an explanation may use by default: 3/4.
pub const DEFAULT_FRACTION: (u64, u64) = (3, 4);

/// `MemAvailable` of a `/proc/meminfo` text, in bytes (`None` if it has none).
///
/// ```
/// let text = "MemTotal:       24576000 kB\nMemFree:  5000 kB\nMemAvailable:   18874368 kB\n";
/// assert_eq!(lrp::memory::parse_meminfo_available(text), Some(18874368 * 1024));
/// ```
pub fn parse_meminfo_available(meminfo: &str) -> Option<u64> {
    meminfo.lines().find_map(|l| {
        let rest = l.strip_prefix("MemAvailable:")?;
        let mut it = rest.split_whitespace();
        let v: u64 = it.next()?.parse().ok()?;
        let unit = match it.next() {
            None => 1,
            Some(u) if u.eq_ignore_ascii_case("kb") => 1024,
            Some(_) => return None,
        };
        v.checked_mul(unit)
    })
}

/// The soft "Max address space" limit of a `/proc/self/limits` text, in bytes; `None` for
/// `unlimited` or when the line is missing.
///
/// ```
/// use lrp::memory::parse_address_space_limit;
/// let head = "Limit                     Soft Limit           Hard Limit           Units     \n";
/// let text = format!("{head}Max address space         4294967296           unlimited            bytes     \n");
/// assert_eq!(parse_address_space_limit(&text), Some(4 << 30));
/// let text = format!("{head}Max address space         unlimited            unlimited            bytes     \n");
/// assert_eq!(parse_address_space_limit(&text), None);
/// ```
pub fn parse_address_space_limit(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max address space"))?;
    let soft = line["Max address space".len()..]
        .split_whitespace()
        .next()?;
    soft.parse().ok()
}

/// The value of a cgroup memory limit file (`memory.max`, `memory.limit_in_bytes`) in
/// bytes; `None` for `max` (v2's "no limit"), v1's near-`i64::MAX` "no limit", or text that
/// is not a number.
///
/// ```
/// use lrp::memory::parse_cgroup_limit;
/// assert_eq!(parse_cgroup_limit("2147483648\n"), Some(2 << 30));
/// assert_eq!(parse_cgroup_limit("max\n"), None);
/// assert_eq!(parse_cgroup_limit("9223372036854771712\n"), None);
/// ```
pub fn parse_cgroup_limit(text: &str) -> Option<u64> {
    let v: u64 = text.trim().parse().ok()?;
    (v < UNLIMITED_FROM).then_some(v)
}

/// The process's cgroups as `/proc/self/cgroup` lists them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupPaths {
    /// The cgroup v2 path (the `0::PATH` line).
    pub v2: Option<String>,
    /// The cgroup v1 path of the memory controller (`N:…memory…:PATH`).
    pub v1_memory: Option<String>,
}

/// Parses `/proc/self/cgroup`.
///
/// ```
/// use lrp::memory::parse_proc_cgroup;
/// let p = parse_proc_cgroup("0::/system.slice/slurmstepd.scope/job_42/step_0/user/task_0\n");
/// assert_eq!(p.v2.as_deref(), Some("/system.slice/slurmstepd.scope/job_42/step_0/user/task_0"));
/// let p = parse_proc_cgroup("5:cpu,cpuacct:/\n4:memory:/kubepods/pod1/abc\n0::/\n");
/// assert_eq!(p.v1_memory.as_deref(), Some("/kubepods/pod1/abc"));
/// ```
pub fn parse_proc_cgroup(text: &str) -> CgroupPaths {
    let mut out = CgroupPaths::default();
    for line in text.lines() {
        let mut it = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            out.v2 = Some(path.to_string());
        } else if controllers.split(',').any(|c| c == "memory") {
            out.v1_memory = Some(path.to_string());
        }
    }
    out
}

/// A cgroup file system mount: the cgroup path at its root and where it is mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    /// The cgroup path the mount shows at its root (`/` unless a container sees a subtree).
    pub root: String,
    /// The mount point, e.g. `/sys/fs/cgroup` or `/sys/fs/cgroup/memory`.
    pub mount_point: String,
}

/// The cgroup mounts of `/proc/self/mountinfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupMounts {
    /// The cgroup2 (unified) mount.
    pub v2: Option<CgroupMount>,
    /// The cgroup v1 mount with the memory controller.
    pub v1_memory: Option<CgroupMount>,
}

/// Parses `/proc/self/mountinfo` for the cgroup mounts (fields: id, parent, dev, root, mount
/// point, options, optional fields, `-`, file system type, source, super options).
///
/// ```
/// use lrp::memory::parse_mountinfo;
/// let text = "30 25 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
///             35 25 0:31 / /sys/fs/cgroup/memory rw shared:15 - cgroup cgroup rw,memory\n";
/// let m = parse_mountinfo(text);
/// assert_eq!(m.v2.unwrap().mount_point, "/sys/fs/cgroup/unified");
/// assert_eq!(m.v1_memory.unwrap().mount_point, "/sys/fs/cgroup/memory");
/// ```
pub fn parse_mountinfo(text: &str) -> CgroupMounts {
    let mut out = CgroupMounts::default();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(dash) = fields.iter().position(|&f| f == "-") else {
            continue;
        };
        let (Some(root), Some(point)) = (fields.get(3), fields.get(4)) else {
            continue;
        };
        let mount = CgroupMount {
            root: unescape_mount(root),
            mount_point: unescape_mount(point),
        };
        match (fields.get(dash + 1), fields.get(dash + 3)) {
            (Some(&"cgroup2"), _) if out.v2.is_none() => out.v2 = Some(mount),
            (Some(&"cgroup"), Some(opts)) if opts.split(',').any(|o| o == "memory") => {
                out.v1_memory.get_or_insert(mount);
            }
            _ => {}
        }
    }
    out
}

/// mountinfo writes space, tab, newline and backslash as octal escapes (`\040`).
fn unescape_mount(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let digit = |c: u8| u32::from(c - b'0');
            let v = digit(b[i + 1]) * 64 + digit(b[i + 2]) * 8 + digit(b[i + 3]);
            out.push(u8::try_from(v).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The smallest memory limit of the cgroup `paths` name and its ancestors, read under
/// `root`: v2 `memory.max`, else v1 `memory.limit_in_bytes`.
fn cgroup_limit(root: &Path, paths: &CgroupPaths, mounts: &CgroupMounts) -> Option<u64> {
    let v2 = paths.v2.as_deref().and_then(|p| {
        let dir = cgroup_dir(root, p, mounts.v2.as_ref(), "sys/fs/cgroup");
        smallest_up(
            &dir,
            &root.join(mount_of(mounts.v2.as_ref(), "sys/fs/cgroup")),
            "memory.max",
        )
    });
    let v1 = paths.v1_memory.as_deref().and_then(|p| {
        let base = mount_of(mounts.v1_memory.as_ref(), "sys/fs/cgroup/memory");
        let dir = cgroup_dir(root, p, mounts.v1_memory.as_ref(), "sys/fs/cgroup/memory");
        smallest_up(&dir, &root.join(base), "memory.limit_in_bytes")
    });
    match (v2, v1) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The mount point of `mount` relative to `/`, or `fallback`.
fn mount_of(mount: Option<&CgroupMount>, fallback: &str) -> PathBuf {
    match mount {
        Some(m) => PathBuf::from(m.mount_point.trim_start_matches('/')),
        None => PathBuf::from(fallback),
    }
}

/// The directory of cgroup `path` under `root`: the path made relative to the mount's
/// root (a container sees its own cgroup as `/`), joined to the mount point.
fn cgroup_dir(root: &Path, path: &str, mount: Option<&CgroupMount>, fallback: &str) -> PathBuf {
    let rel = match mount {
        Some(m) if m.root != "/" => path.strip_prefix(m.root.as_str()).unwrap_or(path),
        _ => path,
    };
    let mut dir = root.join(mount_of(mount, fallback));
    for part in rel.split('/').filter(|p| !p.is_empty() && *p != "..") {
        dir.push(part);
    }
    dir
}

/// The smallest limit in `file` of `dir` and its parents up to `top` (included); files that
/// are missing or say "no limit" are skipped.
fn smallest_up(dir: &Path, top: &Path, file: &str) -> Option<u64> {
    let mut best: Option<u64> = None;
    let mut d = Some(dir);
    while let Some(cur) = d {
        if let Some(v) = std::fs::read_to_string(cur.join(file))
            .ok()
            .and_then(|t| parse_cgroup_limit(&t))
        {
            best = Some(best.map_or(v, |b| b.min(v)));
        }
        if cur == top || !cur.starts_with(top) {
            break;
        }
        d = cur.parent();
    }
    best
}
