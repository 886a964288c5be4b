//! No copy of a secret is left in the helper's memory once it is done with it.
//!
//! In-process: each verb runs in a child process of its own (this test binary
//! again, running one hidden test) that calls the helper's entry point, then
//! reads all of its own writable memory through `/proc/self/mem` and counts
//! the copies of marker secrets. The child knows the markers only XOR-masked,
//! so the search itself puts no copy in memory.
//!
//! From outside: the real helper binary runs under gdb, stopped as it exits
//! (`catch syscall exit_group`), and a core is taken (`gcore`; root's ptrace
//! reaches it although the helper makes itself non-dumpable). The core must
//! not hold the secret either.

use std::ffi::OsString;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Output;

use crate::support::*;

const CHILD: &str = "memory::child_runs_one_verb_then_counts_copies_in_its_memory";
const MASK: u8 = 0x5a;

/// Left in the child's memory on purpose, to show the scan finds what is there.
const CONTROL: &str = "MEMSCAN control marker Fh5Gk7Jd9Ls2";
/// Markers: tokens as the policy sees them, distinctive enough to be found only as copies.
const STORED: &str = "dckr_pat_MEMSCANstoredQ7w9Xk2Lp4Rt6Vb";
const ADDED: &str = "dckr_pat_MEMSCANaddedZ3m8Nq1Ws5Ey7Uc";
const IMPORTED: &str = "dckr_pat_MEMSCANimportedH2j4Kd6Fg8Pz";
const PLAIN_IMPORTED: &str = "dckr_pat_MEMSCANplainimportB3n5Mv7Cx";
const PASSPHRASE: &str = "MEMSCAN vault passphrase Tq4Wn8Rz";
const NEW_PASSPHRASE: &str = "MEMSCAN new vault passphrase Yh3Jk6Lm";

fn masked_hex(marker: &str) -> String {
    marker
        .bytes()
        .map(|b| format!("{:02x}", b ^ MASK))
        .collect()
}

/// Runs the helper with `args` in a child process, in-process there, feeding
/// `stdin`; returns the child's output and, per marker, the memory regions
/// holding a copy after the helper returned.
fn in_process(
    env: &Env,
    args: &[&str],
    stdin: &str,
    markers: &[&str],
) -> (Output, Vec<Vec<String>>) {
    // The first marker is a control the child leaves in memory on purpose.
    let markers: Vec<&str> = std::iter::once(CONTROL)
        .chain(markers.iter().copied())
        .collect();
    let report = env.root.path().join("memscan.report");
    let _ = std::fs::remove_file(&report);
    let mut command = env.command(std::env::current_exe().unwrap().to_str().unwrap());
    command
        .args([
            "--ignored",
            "--exact",
            CHILD,
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PAT_MEMSCAN_ARGS", args.join("\n"))
        .env(
            "PAT_MEMSCAN_MARKERS",
            markers
                .iter()
                .map(|m| masked_hex(m))
                .collect::<Vec<_>>()
                .join(","),
        )
        .env("PAT_MEMSCAN_REPORT", &report);
    let output = run_with_input(command, stdin, "in-process helper");
    let text = std::fs::read_to_string(&report).unwrap_or_else(|_| {
        panic!(
            "the child wrote no report\nstdout: {}\nstderr: {}",
            stdout(&output),
            stderr(&output)
        )
    });
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("exit 0"),
        "{args:?} failed in-process\nstdout: {}\nstderr: {}",
        stdout(&output),
        stderr(&output)
    );
    let mut found: Vec<Vec<String>> = lines
        .map(|line| {
            line.split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect();
    assert_eq!(found.len(), markers.len(), "{text}");
    let control = found.remove(0);
    assert_eq!(
        control.len(),
        1,
        "the scan finds the one copy the child left on purpose: {control:?}"
    );
    (output, found)
}

/// Asserts that no marker is left anywhere in the child's memory.
#[track_caller]
fn assert_no_copies(args: &[&str], markers: &[&str], found: &[Vec<String>]) {
    for (marker, regions) in markers.iter().zip(found) {
        assert!(
            regions.is_empty(),
            "after `{}`, {} cop(ies) of {marker:?} remain in memory, in: {}",
            args.join(" "),
            regions.len(),
            regions.join(", ")
        );
    }
}

fn check(env: &Env, args: &[&str], stdin: &str, markers: &[&str]) -> Output {
    let (output, found) = in_process(env, args, stdin, markers);
    assert_no_copies(args, markers, &found);
    output
}

#[test]
fn keychain_verbs_leave_no_copy_of_the_secret_in_memory() {
    let keyring = SecretService::start();
    let env = Env::new(&keyring);
    let request = |secret: &str| {
        format!("{{\"ServerURL\":\"ghcr.io\",\"Username\":\"octo\",\"Secret\":\"{secret}\"}}\n")
    };
    check(&env, &["store"], &request(STORED), &[STORED]);
    assert!(keyring.holds(STORED));
    // Escapes in the request go through the unescaping path; the stored item is replaced.
    let escaped = STORED.replacen("MEMSCAN", "MEM\\u0053CAN", 1);
    check(&env, &["store"], &request(&escaped), &[STORED]);
    assert!(keyring.holds(STORED));
    let get = check(&env, &["get"], "ghcr.io", &[STORED]);
    assert!(stdout(&get).contains(&get_reply("ghcr.io", "octo", STORED)));
    check(
        &env,
        &add_args("docker.io", "alice", "ci"),
        &format!("{ADDED}\n"),
        &[ADDED],
    );
    env.write_config_json(&format!(
        "{{\"auths\":{{\"quay.io\":{{\"auth\":\"{}\"}},\"registry.example.com\":{{\"username\":\"u\",\"password\":\"{PLAIN_IMPORTED}\"}}}}}}",
        base64(format!("quay:{IMPORTED}").as_bytes())
    ));
    check(&env, &["import"], "", &[IMPORTED, PLAIN_IMPORTED]);
    assert!(keyring.holds(IMPORTED) && keyring.holds(PLAIN_IMPORTED));
    check(&env, &["erase"], "ghcr.io", &[STORED]);
}

#[test]
fn vault_verbs_leave_no_copy_of_the_passphrase_or_the_secret_in_memory() {
    let mut env = Env::without_keychain();
    let passphrase = env.root.path().join("passphrase");
    std::fs::write(&passphrase, format!("{PASSPHRASE}\n")).unwrap();
    let new_passphrase = env.root.path().join("new-passphrase");
    std::fs::write(&new_passphrase, format!("{NEW_PASSPHRASE}\n")).unwrap();
    env.set("DOCKER_PAT_BACKEND", "file");
    env.set("DOCKER_PAT_PASSPHRASE_FILE", passphrase.to_str().unwrap());
    // No key cache: every verb reads the passphrase and derives the key.
    env.write_config_toml(
        "vault_kdf_memory_kib = 64\nvault_kdf_iterations = 1\nvault_cache_seconds = 0\n",
    );
    let both = [PASSPHRASE, STORED];
    check(&env, &["vault", "init"], "", &[PASSPHRASE]);
    let request =
        format!("{{\"ServerURL\":\"ghcr.io\",\"Username\":\"octo\",\"Secret\":\"{STORED}\"}}\n");
    check(&env, &["store"], &request, &both);
    let get = check(&env, &["get"], "ghcr.io", &both);
    assert!(stdout(&get).contains(&get_reply("ghcr.io", "octo", STORED)));
    check(&env, &["vault", "unlock"], "", &both);
    check(&env, &["vault", "status"], "", &both);
    env.set(
        "DOCKER_PAT_NEW_PASSPHRASE_FILE",
        new_passphrase.to_str().unwrap(),
    );
    check(
        &env,
        &["vault", "passwd"],
        "",
        &[PASSPHRASE, NEW_PASSPHRASE, STORED],
    );
    env.set(
        "DOCKER_PAT_PASSPHRASE_FILE",
        new_passphrase.to_str().unwrap(),
    );
    check(&env, &["vault", "lock"], "", &[NEW_PASSPHRASE]);
    let get = check(&env, &["get"], "ghcr.io", &[NEW_PASSPHRASE, STORED]);
    assert!(stdout(&get).contains(&get_reply("ghcr.io", "octo", STORED)));
}

/// The child: runs one verb of the helper in this process, then counts the
/// copies of each marker in its own writable memory and writes a report.
#[test]
#[ignore = "run in a child process by the memory tests"]
fn child_runs_one_verb_then_counts_copies_in_its_memory() {
    let Some(args) = std::env::var_os("PAT_MEMSCAN_ARGS") else {
        // Run alone (`--ignored`) it has no verb to run and nothing to check.
        return cannot_run("the memory tests run it in a child process, with the verb to run");
    };
    // Opened first: the helper makes the process non-dumpable, which hands its
    // /proc files to root.
    let mem = File::open("/proc/self/mem").unwrap();
    let markers: Vec<Vec<u8>> = std::env::var("PAT_MEMSCAN_MARKERS")
        .unwrap()
        .split(',')
        .map(|hex| {
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect()
        })
        .collect();
    let report = std::env::var_os("PAT_MEMSCAN_REPORT").unwrap();
    let control: Vec<u8> = markers[0].iter().map(|b| b ^ MASK).collect();
    let control = Box::leak(control.into_boxed_slice());
    let mut argv = vec![OsString::from("docker-credential-pat")];
    argv.extend(args.to_string_lossy().split('\n').map(OsString::from));
    let code = docker_credential_pat::run(argv);
    let status = if code == std::process::ExitCode::SUCCESS {
        "exit 0"
    } else {
        "exit 1"
    };
    let mut text = format!("{status}\n");
    for regions in scan(&mem, &markers) {
        text.push_str(&regions.join(" "));
        text.push('\n');
    }
    std::fs::write(Path::new(&report), text).unwrap();
    control.fill(0);
}

/// For each masked marker, the name of the region of every copy found in
/// this process's writable memory.
fn scan(mem: &File, markers: &[Vec<u8>]) -> Vec<Vec<String>> {
    const CHUNK: usize = 1 << 20;
    let longest = markers.iter().map(Vec::len).max().unwrap_or(0);
    let mut found = vec![Vec::new(); markers.len()];
    let mut buffer = vec![0u8; CHUNK + longest];
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    for line in maps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(range), Some(perms)) = (fields.first(), fields.get(1)) else {
            continue;
        };
        // A copy made at run time is in writable memory.
        if !perms.starts_with("rw") {
            continue;
        }
        let name = fields.get(5).copied().unwrap_or("anonymous");
        let (start, end) = range.split_once('-').unwrap();
        let start = u64::from_str_radix(start, 16).unwrap();
        let end = u64::from_str_radix(end, 16).unwrap();
        let mut at = start;
        while at < end {
            let len = ((end - at) as usize).min(CHUNK + longest);
            let Ok(read) = mem.read_at(&mut buffer[..len], at) else {
                break;
            };
            let window = &buffer[..read];
            for (marker, places) in markers.iter().zip(found.iter_mut()) {
                let last = window.len().saturating_sub(marker.len());
                for i in 0..=last.min(CHUNK - 1) {
                    if i + marker.len() <= window.len()
                        && window[i] ^ MASK == marker[0]
                        && window[i..i + marker.len()]
                            .iter()
                            .zip(marker)
                            .all(|(b, m)| b ^ MASK == *m)
                    {
                        places.push(format!("{name}@{:#x}", at + i as u64));
                    }
                }
            }
            // The buffer is in this process's memory too: leave nothing in it.
            buffer.iter_mut().for_each(|b| *b = 0);
            at += CHUNK as u64;
        }
    }
    found
}

/// In the helper's environment, where it stays to the end: the core's positive control.
const CORE_CONTROL: &str = "PAT_CORE_CONTROL=core-control-Wd3Xs9Lq";

/// Takes a core of the real helper as it exits, under gdb; returns its bytes.
fn core_at_exit(env: &Env, dir: &Path, args: &[&str], input: &str) -> Vec<u8> {
    let input_file = dir.join("input");
    std::fs::write(&input_file, input).unwrap();
    let core = dir.join("core");
    let _ = std::fs::remove_file(&core);
    let mut command = env.command("gdb");
    let (key, value) = CORE_CONTROL.split_once('=').unwrap();
    command
        .env(key, value)
        .args(["-batch", "-nx", "--readnever", "-ex", "set pagination off"])
        .args(["-ex", "catch syscall exit_group"])
        // `run` with arguments replaces those given with --args.
        .args([
            "-ex",
            &format!("run {} < {}", args.join(" "), input_file.display()),
        ])
        .args(["-ex", &format!("gcore {}", core.display())])
        .args(["-ex", "kill", "--args", BIN]);
    let output = run_with_input(command, "", "gdb");
    std::fs::remove_file(&input_file).unwrap();
    std::fs::read(&core).unwrap_or_else(|_| {
        panic!(
            "gdb took no core of `{}`\nstdout: {}\nstderr: {}",
            args.join(" "),
            stdout(&output),
            stderr(&output)
        )
    })
}

fn copies(haystack: &[u8], needle: &str) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle.as_bytes())
        .count()
}

/// gdb and root's ptrace are needed; without them the test cannot run here.
fn can_take_cores() -> bool {
    let root = rustix::process::geteuid().is_root();
    let gdb = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .any(|dir| dir.join("gdb").is_file());
    if !(root && gdb) {
        cannot_run(&format!(
            "taking a core of the helper needs root and gdb (root: {root}, gdb: {gdb})"
        ));
    }
    root && gdb
}

#[test]
fn a_core_taken_as_the_helper_exits_holds_no_copy_of_the_secret() {
    if !can_take_cores() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let keyring = SecretService::start();
    let keychain = Env::new(&keyring);
    let mut file = Env::without_keychain();
    let passphrase = file.root.path().join("passphrase");
    std::fs::write(&passphrase, format!("{PASSPHRASE}\n")).unwrap();
    file.set("DOCKER_PAT_BACKEND", "file");
    file.set("DOCKER_PAT_PASSPHRASE_FILE", passphrase.to_str().unwrap());
    file.write_config_toml(
        "vault_kdf_memory_kib = 64\nvault_kdf_iterations = 1\nvault_cache_seconds = 0\n",
    );
    ok(&file.run(&["vault", "init"], ""));
    let request =
        format!("{{\"ServerURL\":\"ghcr.io\",\"Username\":\"octo\",\"Secret\":\"{STORED}\"}}\n");
    for (backend, env) in [("keychain", &keychain), ("file", &file)] {
        for (args, input) in [(&["store"][..], request.as_str()), (&["get"], "ghcr.io")] {
            let core = core_at_exit(env, dir.path(), args, input);
            assert!(core.len() > 100_000, "a real core ({} bytes)", core.len());
            assert!(
                copies(&core, CORE_CONTROL) >= 1,
                "the core holds the helper's environment, so the search finds what is there"
            );
            for marker in [STORED, PASSPHRASE] {
                assert_eq!(
                    copies(&core, marker),
                    0,
                    "{backend} `{}`: the core holds {marker:?}",
                    args.join(" ")
                );
            }
        }
        assert_eq!(
            ok(&env.get("ghcr.io")),
            get_reply("ghcr.io", "octo", STORED)
        );
    }
}
