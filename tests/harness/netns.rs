//! Linux network namespaces joined by veth pairs, for scenarios that run real processes
//! on separate network stacks (partitions by taking a link down, impairment by `tc
//! netem` where the kernel has it). Needs root and iproute2; a test calls
//! [`available`] first and skips with the reason it returns.
//!
//! Each namespace holds one end of the pair as [`VETH`]; the two ends are created
//! inside the namespaces, so nothing is added to the host's own network stack.

use std::io;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The name of the veth end inside each namespace of a [`pair`].
pub const VETH: &str = "veth0";

/// The prefix of every namespace this harness creates: `parley-<pid>-<n>`.
const PREFIX: &str = "parley-";

/// A network namespace this process created; deleted (`ip netns del`) on drop, panics
/// included. Processes still running inside keep the stack alive until they exit, so
/// stop them before the namespace drops.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

/// Whether namespaces can be created here (root, `ip` present, `ip netns add` works);
/// `Err` holds the reason to print when skipping.
pub fn available() -> Result<(), String> {
    static AVAILABLE: OnceLock<Result<(), String>> = OnceLock::new();
    AVAILABLE.get_or_init(probe).clone()
}

/// Two namespaces `a` and `b` joined by a veth pair, `a` at `10.231.x.1/24` and `b` at
/// `10.231.x.2/24`, both ends and `lo` up in both. Names are unique per call (pid and
/// a counter), and `x` cycles through 254 subnets within this process;
/// pairs never share a stack, so equal subnets in two processes do not clash anyway.
pub fn pair() -> io::Result<(Netns, Netns, Ipv4Addr, Ipv4Addr)> {
    static SWEPT: OnceLock<()> = OnceLock::new();
    static NEXT: AtomicU32 = AtomicU32::new(0);
    SWEPT.get_or_init(sweep_stale);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let pid = std::process::id();
    let subnet = u8::try_from(n % 254 + 1).unwrap_or(1);
    let a = Netns::create(format!("{PREFIX}{pid}-{n}a"))?;
    let b = Netns::create(format!("{PREFIX}{pid}-{n}b"))?;
    let (addr_a, addr_b) = (
        Ipv4Addr::new(10, 231, subnet, 1),
        Ipv4Addr::new(10, 231, subnet, 2),
    );
    ip(&[
        "-n", &a.name, "link", "add", VETH, "type", "veth", "peer", "name", VETH, "netns", &b.name,
    ])?;
    for (ns, addr) in [(&a, addr_a), (&b, addr_b)] {
        ip(&[
            "-n",
            &ns.name,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            VETH,
        ])?;
        ip(&["-n", &ns.name, "link", "set", "lo", "up"])?;
        ip(&["-n", &ns.name, "link", "set", VETH, "up"])?;
    }
    Ok((a, b, addr_a, addr_b))
}

impl Netns {
    /// The namespace's name (as `ip netns list` shows it).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip netns exec NAME program`: add arguments, then spawn or run it.
    pub fn command(&self, program: &Path) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }

    /// Takes this namespace's veth end down (`up == false`), which cuts the pair both
    /// ways, or up again, which heals it.
    pub fn set_link(&self, up: bool) -> io::Result<()> {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.name, "link", "set", VETH, state])
    }

    /// Delays every packet leaving this namespace's veth end by `delay_ms` and drops
    /// `loss_percent` of them (`tc qdisc replace ... netem`); `Err` holds the reason,
    /// such as "Error: Specified qdisc kind is unknown." where the kernel lacks netem.
    pub fn netem(&self, delay_ms: u32, loss_percent: f32) -> Result<(), String> {
        if !(0.0..=100.0).contains(&loss_percent) {
            return Err(format!("loss {loss_percent} % is not a percentage"));
        }
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, "tc", "qdisc", "replace", "dev"])
            .args([VETH, "root", "netem", "delay"])
            .arg(format!("{delay_ms}ms"))
            .arg("loss")
            .arg(format!("{loss_percent}%"))
            .output()
            .map_err(|e| format!("cannot run tc: {e}"))?;
        check(&out).map_err(|reason| format!("tc netem failed: {reason}"))
    }

    /// `ip netns add NAME`; the value deletes it again on drop.
    fn create(name: String) -> io::Result<Self> {
        ip(&["netns", "add", &name])?;
        Ok(Self { name })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
    }
}

/// Runs `ip` with `args`; a failure carries its stderr.
fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    check(&out).map_err(|reason| io::Error::other(format!("ip {}: {reason}", args.join(" "))))
}

/// `Ok` if the process succeeded, else its trimmed stderr (or exit status).
fn check(out: &Output) -> Result<(), String> {
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    Err(if stderr.is_empty() {
        out.status.to_string()
    } else {
        stderr
    })
}

/// The checks behind [`available`].
fn probe() -> Result<(), String> {
    if !cfg!(target_os = "linux") {
        return Err("network namespaces need Linux".to_owned());
    }
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    let effective_uid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1));
    if effective_uid != Some("0") {
        return Err("network namespaces need root".to_owned());
    }
    Command::new("ip")
        .arg("-V")
        .output()
        .map_err(|e| format!("iproute2 `ip` not found: {e}"))?;
    let name = format!("{PREFIX}{}-probe", std::process::id());
    Netns::create(name)
        .map(drop)
        .map_err(|e| format!("cannot create a network namespace: {e}"))
}

/// Deletes namespaces left by earlier runs that died before dropping theirs (their
/// process no longer exists).
fn sweep_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    /// Returns early from a test, with the reason, where namespaces are unavailable.
    macro_rules! require_netns {
        () => {
            if let Err(reason) = available() {
                eprintln!("skipped: {reason}");
                return;
            }
        };
    }

    fn listed() -> String {
        let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn is_listed(name: &str) -> bool {
        listed()
            .lines()
            .any(|l| l.split_whitespace().next() == Some(name))
    }

    fn on_path(program: &str) -> bool {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(program).is_file()))
    }

    /// Runs `command`, killing it if it has not finished within 10 s.
    fn output_within(mut command: Command) -> Output {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        child.wait_with_output().unwrap()
    }

    /// Whether `to` answers from inside `from`: `ping -c1 -W1` where ping is
    /// installed, else a TCP connect to a closed port, which a reachable host refuses.
    fn reaches(from: &Netns, to: Ipv4Addr) -> bool {
        if on_path("ping") {
            let mut ping = from.command(Path::new("ping"));
            ping.args(["-c1", "-W1"]).arg(to.to_string());
            return output_within(ping).status.success();
        }
        let mut connect = from.command(Path::new("bash"));
        connect.args(["-c", &format!("exec 3<>/dev/tcp/{to}/9")]);
        let out = output_within(connect);
        out.status.success() || String::from_utf8_lossy(&out.stderr).contains("refused")
    }

    /// Polls `reaches` until it equals `expected`, up to 10 s.
    fn wait_reach(from: &Netns, to: Ipv4Addr, expected: bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while reaches(from, to) != expected {
            assert!(
                Instant::now() < deadline,
                "{} reaching {to}: never {expected}",
                from.name()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn pair_reaches_across_cuts_heals_and_cleans_up() {
        require_netns!();
        let (a, b, addr_a, addr_b) = pair().unwrap();
        let names = [a.name().to_owned(), b.name().to_owned()];
        assert!(names.iter().all(|n| is_listed(n)), "{}", listed());
        assert_eq!(addr_a.octets()[..3], addr_b.octets()[..3]);
        wait_reach(&a, addr_b, true);
        wait_reach(&b, addr_a, true);
        wait_reach(&a, Ipv4Addr::LOCALHOST, true);

        a.set_link(false).unwrap();
        wait_reach(&a, addr_b, false);
        wait_reach(&b, addr_a, false);
        a.set_link(true).unwrap();
        wait_reach(&a, addr_b, true);

        drop((a, b));
        assert!(names.iter().all(|n| !is_listed(n)), "{}", listed());
    }

    #[test]
    fn pairs_get_distinct_names_and_subnets() {
        require_netns!();
        let (a1, b1, addr1, _) = pair().unwrap();
        let (a2, b2, addr2, _) = pair().unwrap();
        let names = [a1.name(), b1.name(), a2.name(), b2.name()];
        for (i, name) in names.iter().enumerate() {
            assert!(!names[i + 1..].contains(name));
        }
        assert_ne!(addr1.octets()[2], addr2.octets()[2]);
    }

    #[test]
    fn namespaces_are_deleted_when_a_test_panics() {
        require_netns!();
        let mut names = Vec::new();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let (a, b, _, _) = pair().unwrap();
            names = vec![a.name().to_owned(), b.name().to_owned()];
            panic!("a scenario fails while its namespaces exist");
        }));
        assert!(result.is_err());
        assert_eq!(names.len(), 2);
        assert!(names.iter().all(|n| !is_listed(n)), "{}", listed());
    }

    #[test]
    fn netem_applies_or_says_why_not() {
        require_netns!();
        let (a, _b, _, _) = pair().unwrap();
        match a.netem(20, 1.0) {
            Ok(()) => eprintln!("netem applied"),
            Err(reason) => {
                eprintln!("netem unavailable: {reason}");
                assert!(reason.starts_with("tc netem failed: ") || reason.starts_with("cannot"));
            }
        }
        assert!(a.netem(0, 101.0).is_err());
    }
}
