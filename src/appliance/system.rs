//! The system page's figures: load, temperature, memory, disks (with warnings at 80/90/95 %),
//! uptime, version, certificate expiry, the mDNS name, and recent errors.

use sysinfo::{Components, Disks, System};

pub struct Snapshot {
    pub version: &'static str,
    pub uptime_secs: u64,
    pub load: (f64, f64, f64),
    pub cpu_percent: f32,
    pub temperature_c: Option<f32>,
    pub memory_total: u64,
    pub memory_used: u64,
    pub hearth_rss: Option<u64>,
    pub disks: Vec<DiskUse>,
    pub certificate_days_left: Option<i64>,
}

pub struct DiskUse {
    pub mount: String,
    pub total: u64,
    pub used: u64,
}

impl DiskUse {
    pub fn percent(&self) -> u64 {
        self.used
            .saturating_mul(100)
            .checked_div(self.total)
            .unwrap_or(0)
    }
    /// The warning a person should see, if any.
    pub fn warning(&self) -> Option<&'static str> {
        match self.percent() {
            95.. => Some("almost full: uploads will soon fail; free space or add a disk"),
            90..=94 => Some("nearly full"),
            80..=89 => Some("filling up"),
            _ => None,
        }
    }
}

/// Gathers the figures (blocking: a CPU sample needs a short pause).
pub fn snapshot(data_dir: &std::path::Path) -> Snapshot {
    let mut sys = System::new();
    sys.refresh_memory();
    sys.refresh_cpu_usage();
    std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
    sys.refresh_cpu_usage();
    let load = System::load_average();
    let temperature_c = Components::new_with_refreshed_list()
        .iter()
        .filter_map(sysinfo::Component::temperature)
        .filter(|t| t.is_finite())
        .fold(None, |m: Option<f32>, t| Some(m.map_or(t, |m| m.max(t))));
    let mut disks: Vec<DiskUse> = Disks::new_with_refreshed_list()
        .iter()
        .filter(|d| d.total_space() > 0)
        .map(|d| DiskUse {
            mount: d.mount_point().display().to_string(),
            total: d.total_space(),
            used: d.total_space().saturating_sub(d.available_space()),
        })
        .collect();
    disks.sort_by(|a, b| a.mount.cmp(&b.mount));
    disks.dedup_by(|a, b| a.mount == b.mount);
    let now = crate::clock::now_unix_secs();
    let certificate_days_left = super::tls::LocalCa::new(data_dir).issued().map(|i| {
        (i64::try_from(i.not_after).unwrap_or(0) - i64::try_from(now).unwrap_or(0)) / 86_400
    });
    let hearth_rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map(|kib| kib * 1024);
    Snapshot {
        version: env!("CARGO_PKG_VERSION"),
        uptime_secs: System::uptime(),
        load: (load.one, load.five, load.fifteen),
        cpu_percent: sys.global_cpu_usage(),
        temperature_c,
        memory_total: sys.total_memory(),
        memory_used: sys.used_memory(),
        hearth_rss,
        disks,
        certificate_days_left,
    }
}

#[cfg(test)]
mod tests {
    use super::DiskUse;

    #[test]
    fn warnings_at_80_90_95() {
        let d = |used| DiskUse {
            mount: "/".into(),
            total: 100,
            used,
        };
        assert_eq!(d(79).warning(), None);
        assert_eq!(d(80).warning(), Some("filling up"));
        assert_eq!(d(91).warning(), Some("nearly full"));
        assert!(d(96).warning().unwrap().contains("almost full"));
    }
}
