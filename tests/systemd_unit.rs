//! The systemd unit, `contrib/systemd/confab.service`: systemd accepts it
//! (`systemd-analyze verify`, where that tool exists; skipped where it does not),
//! it keeps the directives the issue and the daemon's design call for, and it
//! agrees with what README.md tells operators to install, with docs/OPERATIONS.md,
//! and with the server itself (defaults, and `confab server --check` on the
//! configuration README recommends for the service).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::run_confab;
use confab::config::{Limits, Settings};

const UNIT: &str = "contrib/systemd/confab.service";

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn read_repo_file(relative: &str) -> String {
    std::fs::read_to_string(repo_path(relative))
        .unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
}

// ---------------------------------------------------------------------------
// The unit file, parsed
// ---------------------------------------------------------------------------

/// The `Key=value` lines of a unit file, with their sections, in file order.
struct Unit {
    text: String,
    directives: Vec<(String, String, String)>,
}

impl Unit {
    fn load() -> Unit {
        Unit::parse(read_repo_file(UNIT))
    }

    fn parse(text: String) -> Unit {
        let mut section = String::new();
        let mut directives = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.to_owned();
                continue;
            }
            // Continuation lines would make a directive span lines this parser
            // does not join; the unit does not need them.
            assert!(
                !line.ends_with('\\'),
                "{UNIT}:{}: continuation lines are not supported here",
                number + 1
            );
            let Some((key, value)) = line.split_once('=') else {
                panic!("{UNIT}:{}: not a Key=value line: {line}", number + 1)
            };
            directives.push((
                section.clone(),
                key.trim().to_owned(),
                value.trim().to_owned(),
            ));
        }
        Unit { text, directives }
    }

    /// Every value assigned to `key` in `section`, in order.
    fn values(&self, section: &str, key: &str) -> Vec<&str> {
        self.directives
            .iter()
            .filter(|(s, k, _)| s == section && k == key)
            .map(|(_, _, v)| v.as_str())
            .collect()
    }

    /// The one value of `key` in `[Service]`; panics unless it is set exactly once.
    fn service(&self, key: &str) -> &str {
        match self.values("Service", key).as_slice() {
            [value] => value,
            values => panic!("{UNIT}: expected one {key}= in [Service], found {values:?}"),
        }
    }

    /// `ExecStart=`, split into the program and its arguments.
    fn exec_start(&self) -> Vec<&str> {
        self.service("ExecStart").split_whitespace().collect()
    }

    /// The `--config` argument of `ExecStart=`.
    fn config_path(&self) -> &str {
        let argv = self.exec_start();
        let at = argv
            .iter()
            .position(|a| *a == "--config")
            .unwrap_or_else(|| panic!("{UNIT}: ExecStart= has no --config: {argv:?}"));
        argv.get(at + 1).expect("--config takes a path")
    }
}

// ---------------------------------------------------------------------------
// systemd-analyze verify
// ---------------------------------------------------------------------------

/// `systemd-analyze`, when this machine has it.
struct SystemdAnalyze;

impl SystemdAnalyze {
    fn find() -> Option<SystemdAnalyze> {
        match Command::new("systemd-analyze").arg("--version").output() {
            Ok(output) if output.status.success() => Some(SystemdAnalyze),
            Ok(output) => panic!(
                "systemd-analyze --version failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => panic!("cannot run systemd-analyze: {err}"),
        }
    }

    /// Runs `systemd-analyze verify` on `unit_text` saved as `confab.service` and
    /// returns what it found wrong: a failing exit status, and every output line
    /// that names the unit (systemd only warns about an unknown directive or a
    /// bad value, and still exits 0). Lines about other units on this machine
    /// are not the unit's problem.
    fn verify(&self, unit_text: &str) -> Vec<String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("confab.service");
        std::fs::write(&path, unit_text).expect("write the unit");
        let output = Command::new("systemd-analyze")
            // The man pages named in Documentation= are installed with the
            // binary, not on the machine running the tests.
            .args(["verify", "--man=no"])
            .arg(&path)
            // Warnings are what matters; a level inherited from the caller's
            // environment could hide them.
            .env("SYSTEMD_LOG_LEVEL", "info")
            .env("SYSTEMD_LOG_COLOR", "0")
            .stdin(Stdio::null())
            .output()
            .expect("run systemd-analyze verify");
        let mut problems: Vec<String> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .chain(String::from_utf8_lossy(&output.stderr).lines())
            .filter(|line| line.contains("confab.service"))
            .map(str::to_owned)
            .collect();
        if !output.status.success() {
            problems.push(format!(
                "systemd-analyze verify exited with {}",
                output.status
            ));
        }
        problems
    }
}

/// The unit with `ExecStart=` running the binary these tests were built with, so
/// `verify` finds an executable where the installed unit expects one.
fn unit_for_this_build(unit: &Unit) -> String {
    let program = unit.exec_start()[0];
    let line = format!("ExecStart={program} ");
    assert_eq!(
        unit.text.matches(&line).count(),
        1,
        "{UNIT}: one `{line}` line expected"
    );
    unit.text.replace(
        &line,
        &format!("ExecStart=\"{}\" ", env!("CARGO_BIN_EXE_confab")),
    )
}

#[test]
fn systemd_analyze_verify_accepts_the_unit() {
    let Some(analyze) = SystemdAnalyze::find() else {
        eprintln!("note: systemd-analyze is not installed here; skipping `systemd-analyze verify`");
        return;
    };
    let unit = Unit::load();
    let text = unit_for_this_build(&unit);
    let problems = analyze.verify(&text);
    assert!(
        problems.is_empty(),
        "systemd-analyze verify objects to {UNIT}:\n{}",
        problems.join("\n")
    );

    // The same check must catch a directive systemd does not know (it only warns
    // about one), or a clean result above would prove nothing.
    let broken = text.replacen("[Service]\n", "[Service]\nProtectEverything=yes\n", 1);
    let problems = analyze.verify(&broken);
    assert!(
        problems
            .iter()
            .any(|line| line.contains("ProtectEverything")),
        "systemd-analyze verify did not report an unknown directive: {problems:?}"
    );
}

// ---------------------------------------------------------------------------
// What the unit must say
// ---------------------------------------------------------------------------

/// Every directive the issue and the daemon's design call for, with its exact
/// value; a key listed twice must appear with exactly those values, in order.
/// Removing or changing one of these lines fails the test.
const REQUIRED: &[(&str, &str, &str)] = &[
    ("Service", "Type", "notify"),
    ("Service", "NotifyAccess", "main"),
    (
        "Service",
        "ExecStart",
        "/usr/local/bin/confab server --config /etc/confab/confab.toml",
    ),
    ("Service", "ExecReload", "/bin/kill -HUP $MAINPID"),
    ("Service", "Restart", "on-failure"),
    ("Service", "DynamicUser", "yes"),
    ("Service", "StateDirectory", "confab"),
    ("Service", "StateDirectoryMode", "0700"),
    ("Service", "ConfigurationDirectory", "confab"),
    ("Service", "LogsDirectory", "confab"),
    ("Service", "LogsDirectoryMode", "0700"),
    ("Service", "UMask", "0077"),
    ("Service", "CapabilityBoundingSet", ""),
    ("Service", "AmbientCapabilities", ""),
    ("Service", "NoNewPrivileges", "yes"),
    ("Service", "ProtectSystem", "strict"),
    ("Service", "ProtectHome", "yes"),
    ("Service", "PrivateTmp", "yes"),
    ("Service", "PrivateDevices", "yes"),
    ("Service", "PrivateUsers", "yes"),
    ("Service", "PrivateIPC", "yes"),
    ("Service", "PrivateMounts", "yes"),
    ("Service", "ProtectKernelTunables", "yes"),
    ("Service", "ProtectKernelModules", "yes"),
    ("Service", "ProtectKernelLogs", "yes"),
    ("Service", "ProtectControlGroups", "yes"),
    ("Service", "ProtectClock", "yes"),
    ("Service", "ProtectHostname", "yes"),
    ("Service", "ProtectProc", "invisible"),
    ("Service", "ProcSubset", "pid"),
    (
        "Service",
        "RestrictAddressFamilies",
        "AF_INET AF_INET6 AF_UNIX",
    ),
    ("Service", "RestrictNamespaces", "yes"),
    ("Service", "RestrictRealtime", "yes"),
    ("Service", "RestrictSUIDSGID", "yes"),
    ("Service", "LockPersonality", "yes"),
    ("Service", "MemoryDenyWriteExecute", "yes"),
    ("Service", "RemoveIPC", "yes"),
    ("Service", "SystemCallArchitectures", "native"),
    ("Service", "SystemCallFilter", "@system-service"),
    ("Service", "SystemCallFilter", "~@privileged @resources"),
    ("Service", "SystemCallErrorNumber", "EPERM"),
    ("Install", "WantedBy", "multi-user.target"),
];

#[test]
fn unit_has_every_required_directive() {
    let unit = Unit::load();
    let mut checked = 0;
    let mut wrong = Vec::new();
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for &(section, key, _) in REQUIRED {
        if seen.contains(&(section, key)) {
            continue;
        }
        seen.push((section, key));
        let expected: Vec<&str> = REQUIRED
            .iter()
            .filter(|(s, k, _)| *s == section && *k == key)
            .map(|(_, _, v)| *v)
            .collect();
        let actual = unit.values(section, key);
        if actual != expected {
            wrong.push(format!(
                "[{section}] {key}=: expected {expected:?}, found {actual:?}"
            ));
        }
        checked += expected.len();
    }
    assert!(wrong.is_empty(), "{UNIT}:\n{}", wrong.join("\n"));
    assert_eq!(checked, REQUIRED.len());
}

#[test]
fn unit_leaves_room_for_the_servers_own_limits() {
    let unit = Unit::load();
    let defaults = Settings::defaults();

    // systemd sends SIGKILL when TimeoutStopSec= runs out: the graceful drain
    // (at most shutdown_timeout) must fit inside it.
    let stop = humantime::parse_duration(unit.service("TimeoutStopSec"))
        .expect("TimeoutStopSec= is a duration like 30s");
    assert!(
        stop >= defaults.shutdown_timeout + Duration::from_secs(5),
        "TimeoutStopSec={stop:?} leaves no margin over the default shutdown_timeout {:?}",
        defaults.shutdown_timeout
    );

    // The server holds up to max_connections registered clients,
    // max_pending_connections still registering, and a tenth of
    // max_connections (at least 16) being refused, before it closes
    // newcomers at once; logs, listeners and epoll need more.
    let limits = Limits::default();
    let max = limits.max_connections;
    let ceiling = max + limits.max_pending_connections + (max / 10).max(16);
    let nofile: usize = unit
        .service("LimitNOFILE")
        .parse()
        .expect("LimitNOFILE= is a number");
    assert!(
        nofile >= ceiling + 1024,
        "LimitNOFILE={nofile} does not cover the default connection ceiling {ceiling}"
    );
}

// ---------------------------------------------------------------------------
// The unit, README.md, docs/OPERATIONS.md and the server agree
// ---------------------------------------------------------------------------

/// README.md's "Install" section, up to the next second-level heading.
fn readme_install_section() -> String {
    let readme = read_repo_file("README.md");
    let start = readme
        .find("\n## Install\n")
        .expect("README.md has an `## Install` section");
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |at| at + 3);
    rest[..end].to_owned()
}

/// The one ```toml block of README's Install section: the lines an operator
/// uncomments in the installed config.example.toml.
fn readme_service_config(section: &str) -> String {
    let blocks: Vec<&str> = section
        .split("```toml\n")
        .skip(1)
        .map(|rest| rest.split("```").next().expect("closed block"))
        .collect();
    assert_eq!(
        blocks.len(),
        1,
        "README's Install section should show one ```toml block, the config lines to uncomment"
    );
    blocks[0].to_owned()
}

/// config.example.toml with README's lines uncommented in place: each line of the
/// README block replaces the one commented-out line of the example that sets
/// the same key (or opens the same table), so README's instruction can be
/// followed literally.
fn example_with_readme_edits(readme_lines: &str) -> String {
    let example = read_repo_file("config.example.toml");
    let mut lines: Vec<String> = example.lines().map(str::to_owned).collect();
    let mut edits = 0;
    for wanted in readme_lines.lines().filter(|l| !l.trim().is_empty()) {
        let wanted = wanted.trim();
        let matches_commented = |line: &str| {
            let Some(commented) = line.trim().strip_prefix("# ") else {
                return false;
            };
            if wanted.starts_with('[') {
                commented == wanted
            } else {
                let key = wanted.split('=').next().expect("key").trim();
                commented
                    .split_once('=')
                    .is_some_and(|(k, _)| k.trim() == key)
            }
        };
        let at: Vec<usize> = (0..lines.len())
            .filter(|&i| matches_commented(&lines[i]))
            .collect();
        assert_eq!(
            at.len(),
            1,
            "README says to uncomment `{wanted}`, but config.example.toml has {} commented-out lines for it",
            at.len()
        );
        lines[at[0]] = wanted.to_owned();
        edits += 1;
    }
    assert!(edits >= 3, "README's config block is unexpectedly short");
    lines.join("\n") + "\n"
}

#[test]
fn readme_installs_what_the_unit_runs() {
    let unit = Unit::load();
    let section = readme_install_section();
    let program = Path::new(unit.exec_start()[0]);
    let bin_dir = program.parent().expect("ExecStart= is an absolute path");
    let prefix = bin_dir.parent().expect("a bin directory under a prefix");
    let config = unit.config_path();
    let configuration_directory = unit.service("ConfigurationDirectory");
    assert_eq!(
        config,
        format!("/etc/{configuration_directory}/confab.toml"),
        "the config is not in the unit's ConfigurationDirectory="
    );

    let expected = [
        format!("install -m 755 ~/.cargo/bin/confab {}/", bin_dir.display()),
        format!("cargo install --path . --root {}", prefix.display()),
        "install -m 644 contrib/systemd/confab.service /etc/systemd/system/".to_owned(),
        format!("install -D -m 644 config.example.toml {config}"),
        format!("confab server --config {config} --check"),
        format!("confab server --config {config} --print-fingerprint"),
        "systemctl daemon-reload".to_owned(),
        "systemctl enable --now confab".to_owned(),
        "systemctl reload confab".to_owned(),
        "journalctl -u confab".to_owned(),
        "docs/OPERATIONS.md".to_owned(),
    ];
    let missing: Vec<&String> = expected
        .iter()
        .filter(|text| !section.contains(text.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "README's Install section does not say: {missing:?}"
    );
    assert_eq!(expected.len(), 11);
}

#[test]
fn readme_service_config_uses_the_units_directories() {
    let unit = Unit::load();
    let readme_lines = readme_service_config(&readme_install_section());
    let config = example_with_readme_edits(&readme_lines);
    let settings = Settings::from_toml_str(&config, Path::new(unit.config_path()))
        .unwrap_or_else(|e| panic!("config.example.toml with README's edits: {e}"));
    assert_eq!(
        settings.state_dir,
        Path::new("/var/lib").join(unit.service("StateDirectory")),
        "state_dir is not the unit's StateDirectory="
    );
    let log = settings.log.expect("README's config turns on message logs");
    assert_eq!(
        log.dir,
        Path::new("/var/log").join(unit.service("LogsDirectory")),
        "[log] dir is not the unit's LogsDirectory="
    );
}

#[test]
fn server_accepts_the_readme_service_config() {
    let unit = Unit::load();
    let readme_lines = readme_service_config(&readme_install_section());
    let config = example_with_readme_edits(&readme_lines);

    // The same file, with the service's directories moved into a temporary
    // directory: --check must not look at this machine's /var/lib/confab.
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state");
    let logs = dir.path().join("log");
    let quoted = |p: &Path| toml::Value::String(p.display().to_string()).to_string();
    let state_value = format!("\"/var/lib/{}\"", unit.service("StateDirectory"));
    let logs_value = format!("\"/var/log/{}\"", unit.service("LogsDirectory"));
    assert_eq!(config.matches(&state_value).count(), 1, "{state_value}");
    assert_eq!(config.matches(&logs_value).count(), 1, "{logs_value}");
    let config = config
        .replace(&state_value, &quoted(&state))
        .replace(&logs_value, &quoted(&logs));
    let path = dir.path().join("confab.toml");
    std::fs::write(&path, config).expect("write config");

    let output = run_confab(&[
        "server".as_ref(),
        "--config".as_ref(),
        path.as_os_str(),
        "--check".as_ref(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "--check refused config.example.toml with README's edits ({}):\n{}{}",
        output.status,
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "certificate will be generated in {}",
            state.display()
        )),
        "--check did not use the configured state_dir:\n{stdout}"
    );
}

#[test]
fn operations_guide_explains_every_service_directive() {
    let unit = Unit::load();
    let guide = read_repo_file("docs/OPERATIONS.md");
    let mut keys: Vec<&str> = unit
        .directives
        .iter()
        .filter(|(section, _, _)| section == "Service")
        .map(|(_, key, _)| key.as_str())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let missing: Vec<&&str> = keys
        .iter()
        .filter(|key| !guide.contains(&format!("`{key}=")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/OPERATIONS.md does not explain these [Service] lines of {UNIT}: {missing:?}"
    );
    assert_eq!(keys.len(), 43, "[Service] directives checked: {keys:?}");
}
