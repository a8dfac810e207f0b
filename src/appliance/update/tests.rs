use super::*;

/// `install` allows one install per process at a time (a static lock), so these tests, which
/// run on parallel threads, take turns.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

struct Fixture {
    _tmp: tempfile::TempDir,
    boot: Boot,
    data: PathBuf,
    key: ring::signature::Ed25519KeyPair,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let b = tmp.path().join("boot");
    let data = tmp.path().join("data");
    for d in ["slot-a/pi5", "loader/entries"] {
        fs::create_dir_all(b.join(d)).unwrap_or_else(|e| panic!("{e}"));
    }
    fs::create_dir_all(&data).unwrap_or_else(|e| panic!("{e}"));
    let put = |p: &str, t: &str| fs::write(b.join(p), t).unwrap_or_else(|e| panic!("{e}"));
    put("slot-a/hearth", "old hearth");
    put(
        "slot-a/cmdline.txt",
        "console=tty1 panic=10 hearth.slot=a\n",
    );
    put("slot-a/pi5/cmdline.txt", "console=tty1 hearth.slot=a\n");
    put("loader/loader.conf", "default hearth-a.conf\ntimeout 0\n");
    put(
        "loader/entries/hearth-a.conf",
        "title Hearth (slot a)\nlinux /slot-a/vmlinuz\ninitrd /slot-a/initrd.img\noptions quiet hearth.slot=a\n",
    );
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 =
        ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap_or_else(|e| panic!("{e}"));
    let key = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .unwrap_or_else(|e| panic!("{e}"));
    Fixture {
        _tmp: tmp,
        boot: Boot {
            dir: b,
            current: Slot::A,
        },
        data,
        key,
    }
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        "x86_64" => "amd64",
        o => o,
    }
}

fn sha(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// A bundle of `files`, its manifest signed by `signer`; `payload` may differ from what the
/// manifest describes (tampering).
fn bundle(
    signer: &ring::signature::Ed25519KeyPair,
    version: &str,
    files: &[(&str, &[u8])],
    payload: &[(&str, &[u8])],
) -> Vec<u8> {
    let listed: Vec<serde_json::Value> = files
        .iter()
        .map(|(p, b)| serde_json::json!({"path": p, "size": b.len(), "sha256": sha(b)}))
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "format": 1, "product": "hearth", "arch": arch(), "version": version,
        "build": "test", "files": listed,
    }))
    .unwrap_or_default();
    let sig = signer.sign(&manifest);
    let mut t = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        t.append_data(&mut h, name, data)
            .unwrap_or_else(|e| panic!("{e}"));
    };
    add("manifest.json", &manifest);
    add("manifest.sig", sig.as_ref());
    for (p, b) in payload {
        add(p, b);
    }
    t.into_inner().unwrap_or_else(|e| panic!("{e}"))
}

fn public(f: &Fixture) -> [u8; 32] {
    use ring::signature::KeyPair;
    let mut k = [0u8; 32];
    k.copy_from_slice(f.key.public_key().as_ref());
    k
}

const FILES: &[(&str, &[u8])] = &[
    ("hearth", b"new hearth binary"),
    ("vmlinuz", b"kernel image"),
    ("pi5/vmlinuz", b"pi5 kernel"),
];

#[test]
fn installs_into_the_other_slot_and_selects_it() {
    let _turn = serial();
    let f = fixture();
    let b = bundle(&f.key, "0.2.0", FILES, FILES);
    let got = install(b.as_slice(), &public(&f), &f.boot, &f.data, "0.1.0")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.slot, Slot::B);
    let d = &f.boot.dir;
    let read = |p: &str| fs::read_to_string(d.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(read("slot-b/hearth"), "new hearth binary");
    assert_eq!(read("slot-b/pi5/vmlinuz"), "pi5 kernel");
    assert!(read("slot-b/cmdline.txt").contains("hearth.slot=b"));
    assert!(read("slot-b/pi5/cmdline.txt").contains("hearth.slot=b"));
    assert!(read("slot-a/cmdline.txt").contains("hearth.slot=a"));
    assert!(read("loader/loader.conf").starts_with("default hearth-b.conf\n"));
    assert!(read("loader/loader.conf").contains("timeout 0"));
    let entry = read("loader/entries/hearth-b.conf");
    assert!(entry.contains("linux /slot-b/vmlinuz") && entry.contains("hearth.slot=b"));
    assert!(read("slot.txt").contains("os_prefix=slot-b/pi5/"));
    assert!(!d.join("slot-b.new").exists());
    let s = read_state(&f.data).unwrap_or_default();
    assert_eq!(
        (s.state.as_str(), s.slot.as_str(), s.from.as_str()),
        ("trying", "b", "a")
    );
    assert_eq!(s.version, "0.2.0");
    // A second install while the first is being tried is refused.
    let again = install(b.as_slice(), &public(&f), &f.boot, &f.data, "0.1.0");
    assert!(matches!(again, Err(UpdateError::Busy)), "{again:?}");
}

fn assert_untouched(f: &Fixture) {
    let d = &f.boot.dir;
    assert!(!d.join("slot-b").exists() && !d.join("slot-b.new").exists());
    assert!(!d.join("slot.txt").exists());
    let loader = fs::read_to_string(d.join("loader/loader.conf")).unwrap_or_default();
    assert!(loader.starts_with("default hearth-a.conf"));
    assert!(read_state(&f.data).is_none());
}

#[test]
fn a_changed_file_is_refused_and_nothing_is_selected() {
    let _turn = serial();
    let f = fixture();
    let payload: &[(&str, &[u8])] = &[
        ("hearth", b"new hearth binary"),
        ("vmlinuz", b"kernel imagE"),
        ("pi5/vmlinuz", b"pi5 kernel"),
    ];
    let b = bundle(&f.key, "0.2.0", FILES, payload);
    let r = install(b.as_slice(), &public(&f), &f.boot, &f.data, "0.1.0");
    assert!(matches!(r, Err(UpdateError::Tampered(_))), "{r:?}");
    assert_untouched(&f);
    // A missing file and an extra one are refused too.
    let b = bundle(&f.key, "0.2.0", FILES, &FILES[..2]);
    let r = install(b.as_slice(), &public(&f), &f.boot, &f.data, "0.1.0");
    assert!(matches!(r, Err(UpdateError::Tampered(_))), "{r:?}");
    let extra: Vec<(&str, &[u8])> = FILES.iter().copied().chain([("evil", &b"x"[..])]).collect();
    let b = bundle(&f.key, "0.2.0", FILES, &extra);
    let r = install(b.as_slice(), &public(&f), &f.boot, &f.data, "0.1.0");
    assert!(matches!(r, Err(UpdateError::Tampered(_))), "{r:?}");
    assert_untouched(&f);
}

#[test]
fn another_key_no_signature_or_garbage_is_refused() {
    let _turn = serial();
    let f = fixture();
    let other = fixture();
    let b = bundle(&other.key, "0.2.0", FILES, FILES);
    let r = install(b.as_slice(), &public(&f), &f.boot, &f.data, "0.1.0");
    assert!(matches!(r, Err(UpdateError::BadSignature)), "{r:?}");
    // A manifest changed after signing: the signature no longer matches.
    let mut b = bundle(&f.key, "0.2.0", FILES, FILES);
    if let Some(i) = b.windows(5).position(|w| w == b"0.2.0") {
        b[i] = b'9';
    }
    let r = install(b.as_slice(), &public(&f), &f.boot, &f.data, "0.1.0");
    assert!(matches!(r, Err(UpdateError::BadSignature)), "{r:?}");
    let r = install(
        &b"not a tar at all"[..],
        &public(&f),
        &f.boot,
        &f.data,
        "0.1.0",
    );
    assert!(matches!(r, Err(UpdateError::NotABundle(_))), "{r:?}");
    assert_untouched(&f);
}

#[test]
fn older_versions_and_odd_paths_are_refused() {
    let _turn = serial();
    let f = fixture();
    let b = bundle(&f.key, "0.0.9", FILES, FILES);
    let r = install(b.as_slice(), &public(&f), &f.boot, &f.data, "0.1.0");
    assert!(matches!(r, Err(UpdateError::Older { .. })), "{r:?}");
    for bad in ["../escape", "/abs", "slot-a/../../x", "cmdline.txt", "a//b"] {
        let files: &[(&str, &[u8])] = &[("hearth", b"h"), (bad, b"x")];
        let b = bundle(&f.key, "0.2.0", files, &files[..1]);
        let r = install(b.as_slice(), &public(&f), &f.boot, &f.data, "0.1.0");
        assert!(matches!(r, Err(UpdateError::NotABundle(_))), "{bad}: {r:?}");
    }
    assert_untouched(&f);
}

#[test]
fn keys_and_versions_parse() {
    assert!(decode_key(&"ab".repeat(32)).is_some());
    assert!(decode_key("abc").is_none());
    assert!(decode_key(&"zz".repeat(32)).is_none());
    assert!(version_key("0.10.0") > version_key("0.9.9"));
    assert!(version_key("1.0.0+abc") == version_key("1.0.0"));
}
