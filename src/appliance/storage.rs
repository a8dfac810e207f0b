//! Where the family's data lives: the SD card, or a USB disk chosen in the wizard.
//!
//! Hearth only lists the disks and records the choice (`DATA/move-to-disk`); the image's `/init`
//! does the rest at the next boot, before anything uses the data (`image/move-data`): it checks
//! the disk is still the one chosen, formats it (ext4, whole disk), copies the data partition
//! onto it and moves the `hearthdata` label over, leaving the card's copy as `hearthold`. The
//! outcome is written to `DATA/storage-move.log` (`ok …` or `failed: …`), which the wizard
//! reads after the restart. Off the image (no A/B slot on the kernel command line) no disk is
//! offered: a PC's disks are its owner's business.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Disks smaller than this are not offered: a stick for photos of a family needs room.
pub const MIN_BYTES: u64 = 1 << 30;

const REQUEST: &str = "move-to-disk";
const OUTCOME: &str = "storage-move.log";

/// A whole disk that could hold the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// The kernel's name (`sda`, `nvme0n1`, `vdb`).
    pub name: String,
    /// Size in 512-byte sectors, as `/sys/block/NAME/size` says (checked again by `/init`).
    pub sectors: u64,
    /// Vendor and model, as far as the disk says them (whitespace collapsed, as `/init`'s
    /// `echo $(cat vendor model)` compares it).
    pub model: String,
    pub usb: bool,
    /// A stable identity (WWID or serial, see [`disk_serial`]); may be empty.
    pub serial: String,
    /// Whether the disk has partitions now (the page warns that they will be erased).
    pub partitioned: bool,
}

impl Disk {
    pub fn bytes(&self) -> u64 {
        self.sectors.saturating_mul(512)
    }

    /// "USB disk SanDisk Ultra, 32.0 GB (sda)".
    pub fn describe(&self) -> String {
        let kind = if self.usb { "USB disk" } else { "Disk" };
        let model = if self.model.is_empty() {
            String::new()
        } else {
            format!(" {}", self.model)
        };
        format!(
            "{kind}{model}, {} ({})",
            human_bytes(self.bytes()),
            self.name
        )
    }
}

/// Sizes the way disk makers print them (powers of 1000), so they match the label.
pub fn human_bytes(b: u64) -> String {
    let gb = b as f64 / 1e9;
    if gb >= 1000.0 {
        format!("{:.1} TB", gb / 1000.0)
    } else {
        format!("{gb:.1} GB")
    }
}

/// Whether this Hearth runs on the image, where `/init` can carry out a move.
pub fn supported() -> bool {
    crate::appliance::update::running_slot().is_some()
}

/// Disks that could take the data: whole disks of at least [`MIN_BYTES`], none of whose
/// partitions is mounted (so never the card the box runs from, nor a disk already in use).
pub fn candidates() -> Vec<Disk> {
    let mounted = mounted_disks(Path::new("/proc/self/mountinfo"), Path::new("/sys"));
    list_disks(Path::new("/sys"), &mounted)
}

/// The disks in `sys/block`, leaving out `exclude` and what is not a disk for data.
pub fn list_disks(sys: &Path, exclude: &[String]) -> Vec<Disk> {
    let Ok(dir) = fs::read_dir(sys.join("block")) else {
        return Vec::new();
    };
    let mut out: Vec<Disk> = dir
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if !data_disk_name(&name) || exclude.contains(&name) {
                return None;
            }
            let base = sys.join("block").join(&name);
            let sectors: u64 = read_trim(&base.join("size"))?.parse().ok()?;
            if sectors.saturating_mul(512) < MIN_BYTES {
                return None;
            }
            // Read-only media (a write-protected card) cannot take the data.
            if read_trim(&base.join("ro")).as_deref() == Some("1") {
                return None;
            }
            let model = [
                read_trim(&base.join("device/vendor")),
                read_trim(&base.join("device/model")),
            ]
            .into_iter()
            .flatten()
            .flat_map(|s| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .collect::<Vec<_>>()
            .join(" ");
            let usb = fs::canonicalize(&base)
                .map(|p| p.to_string_lossy().contains("/usb"))
                .unwrap_or(false);
            let serial = disk_serial(sys, &name);
            let partitioned = fs::read_dir(&base).is_ok_and(|d| {
                d.filter_map(Result::ok)
                    .any(|p| p.path().join("partition").exists())
            });
            Some(Disk {
                name,
                sectors,
                model,
                usb,
                serial,
                partitioned,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Kernel names of whole disks that can hold data (not loop, RAM, optical, device-mapper,
/// or an eMMC's boot areas).
fn data_disk_name(name: &str) -> bool {
    const NOT: [&str; 8] = ["loop", "ram", "zram", "dm-", "md", "sr", "nbd", "fd"];
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric())
        && !NOT.iter().any(|p| name.starts_with(p))
        && !(name.starts_with("mmcblk") && (name.contains("boot") || name.contains("rpmb")))
}

/// The first non-empty of the disk's WWID, its serial, or the serial of a device it hangs off
/// (a USB stick's), whitespace collapsed: kernel names (`sda`) can change between boots, this
/// does not. `image/move-data` computes the same before formatting anything.
pub fn disk_serial(sys: &Path, name: &str) -> String {
    let base = sys.join("block").join(name);
    let clean = |s: String| s.split_whitespace().collect::<Vec<_>>().join(" ");
    for f in ["device/wwid", "serial", "device/serial"] {
        if let Some(s) = read_trim(&base.join(f)).filter(|s| !s.is_empty()) {
            return clean(s);
        }
    }
    let stop = sys.join("devices");
    let mut dir = fs::canonicalize(base.join("device")).ok();
    while let Some(d) = dir {
        if d == stop || !d.starts_with(&stop) {
            break;
        }
        if let Some(s) = read_trim(&d.join("serial")).filter(|s| !s.is_empty()) {
            return clean(s);
        }
        dir = d.parent().map(Path::to_path_buf);
    }
    String::new()
}

fn read_trim(p: &Path) -> Option<String> {
    fs::read_to_string(p).ok().map(|s| s.trim().to_owned())
}

/// The whole disks that hold a mounted file system (by the `major:minor` of each mount).
pub fn mounted_disks(mountinfo: &Path, sys: &Path) -> Vec<String> {
    let Ok(text) = fs::read_to_string(mountinfo) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(devno) = line.split_whitespace().nth(2) else {
            continue;
        };
        if devno.starts_with("0:") {
            continue; // proc, tmpfs and the like
        }
        let Ok(real) = fs::canonicalize(sys.join("dev/block").join(devno)) else {
            continue;
        };
        // A partition's directory sits inside its disk's.
        let disk = if real.join("partition").exists() {
            real.parent().map(Path::to_path_buf)
        } else {
            Some(real)
        };
        if let Some(name) = disk.and_then(|d| d.file_name().map(|n| n.to_string_lossy().into()))
            && !out.contains(&name)
        {
            out.push(name);
        }
    }
    out
}

fn request_path(data: &Path) -> PathBuf {
    data.join(REQUEST)
}

/// Records the choice for `/init` (synced: the box restarts right after).
pub fn request_move(data: &Path, disk: &Disk) -> io::Result<()> {
    let path = request_path(data);
    let tmp = path.with_extension("tmp");
    let mut f = fs::File::create(&tmp)?;
    write!(
        f,
        "disk={}\nsectors={}\nmodel={}\nserial={}\ndescription={}\n",
        disk.name,
        disk.sectors,
        disk.model,
        disk.serial.replace('\n', " "),
        disk.describe().replace('\n', " ")
    )?;
    f.sync_all()?;
    fs::rename(&tmp, &path)?;
    if let Ok(d) = fs::File::open(data) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The box could not restart itself: the request is withdrawn and the wizard says why.
pub fn cancel_move(data: &Path, why: &str) {
    let _ = fs::remove_file(request_path(data));
    let _ = fs::write(data.join(OUTCOME), format!("failed: {why}\n"));
}

/// Whether a move waits for the next boot.
pub fn move_pending(data: &Path) -> bool {
    request_path(data).exists()
}

/// What came of a move, once `/init` has tried it.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Moved(String),
    Failed(String),
}

/// Reads (and clears) the outcome `/init` left.
pub fn take_outcome(data: &Path) -> Option<Outcome> {
    let path = data.join(OUTCOME);
    let text = fs::read_to_string(&path).ok()?;
    let _ = fs::remove_file(&path);
    let line = text.lines().next().unwrap_or("").trim();
    Some(match line.strip_prefix("ok") {
        Some(rest) => Outcome::Moved(rest.trim().to_owned()),
        None => Outcome::Failed(
            line.strip_prefix("failed:")
                .unwrap_or(line)
                .trim()
                .to_owned(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(sys: &Path, name: &str, sectors: u64, usb: bool) {
        // /sys/block/NAME is a link into /sys/devices, whose path says how the disk is attached.
        let bus = if usb {
            "usb1/1-1/host0"
        } else {
            "pci0/virtio1"
        };
        let real = sys.join("devices").join(bus).join("block").join(name);
        fs::create_dir_all(real.join("device")).unwrap();
        fs::write(real.join("size"), format!("{sectors}\n")).unwrap();
        fs::write(real.join("ro"), "0\n").unwrap();
        fs::write(real.join("device/vendor"), "SanDisk \n").unwrap();
        fs::write(real.join("device/model"), "Ultra Fit       \n").unwrap();
        if usb {
            fs::write(sys.join("devices/usb1/1-1/serial"), "4C530001  \n").unwrap();
        }
        fs::create_dir_all(sys.join("block")).unwrap();
        std::os::unix::fs::symlink(&real, sys.join("block").join(name)).unwrap();
    }

    #[test]
    fn lists_only_unused_data_disks() {
        let t = tempfile::tempdir().unwrap();
        let sys = t.path();
        disk(sys, "mmcblk0", 62_521_344, false);
        disk(sys, "sda", 62_521_344, true);
        disk(sys, "sdb", 1_000_000, true); // 512 MB: too small
        disk(sys, "loop0", 62_521_344, false);
        disk(sys, "mmcblk0boot0", 8192, false);
        let part = sys.join("devices/usb1/1-1/host0/block/sda/sda1");
        fs::create_dir_all(&part).unwrap();
        fs::write(part.join("partition"), "1\n").unwrap();
        let got = list_disks(sys, &["mmcblk0".to_owned()]);
        assert_eq!(got.len(), 1, "{got:?}");
        let d = &got[0];
        assert_eq!((d.name.as_str(), d.usb, d.partitioned), ("sda", true, true));
        assert_eq!(d.describe(), "USB disk SanDisk Ultra Fit, 32.0 GB (sda)");
        assert_eq!(
            d.serial, "4C530001",
            "the USB device's serial, found up the tree"
        );
    }

    #[test]
    fn mounted_partition_excludes_its_disk() {
        let t = tempfile::tempdir().unwrap();
        let sys = t.path();
        disk(sys, "mmcblk0", 62_521_344, false);
        let part = sys.join("devices/pci0/virtio1/block/mmcblk0/mmcblk0p2");
        fs::create_dir_all(&part).unwrap();
        fs::write(part.join("partition"), "2\n").unwrap();
        fs::create_dir_all(sys.join("dev/block")).unwrap();
        std::os::unix::fs::symlink(&part, sys.join("dev/block/179:2")).unwrap();
        let mi = sys.join("mountinfo");
        fs::write(
            &mi,
            "22 1 179:2 / /data rw,noatime - ext4 /dev/mmcblk0p2 rw\n23 1 0:5 / /run rw - tmpfs tmpfs rw\n",
        )
        .unwrap();
        assert_eq!(mounted_disks(&mi, sys), vec!["mmcblk0".to_owned()]);
    }

    #[test]
    fn request_and_outcome() {
        let t = tempfile::tempdir().unwrap();
        let d = Disk {
            name: "sda".into(),
            sectors: 4_194_304,
            model: String::new(),
            usb: true,
            serial: "X1".into(),
            partitioned: false,
        };
        assert!(!move_pending(t.path()));
        request_move(t.path(), &d).unwrap();
        assert!(move_pending(t.path()));
        let text = fs::read_to_string(t.path().join(REQUEST)).unwrap();
        assert!(text.starts_with("disk=sda\nsectors=4194304\n"), "{text}");
        assert_eq!(take_outcome(t.path()), None);
        fs::write(
            t.path().join(OUTCOME),
            "failed: the disk sda is not connected any more\n",
        )
        .unwrap();
        assert_eq!(
            take_outcome(t.path()),
            Some(Outcome::Failed(
                "the disk sda is not connected any more".into()
            ))
        );
        assert_eq!(take_outcome(t.path()), None, "read once");
        fs::write(t.path().join(OUTCOME), "ok USB disk, 2.1 GB (sda)\n").unwrap();
        assert_eq!(
            take_outcome(t.path()),
            Some(Outcome::Moved("USB disk, 2.1 GB (sda)".into()))
        );
    }
}
