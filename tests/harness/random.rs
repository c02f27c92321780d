//! What the randomized suites share: a seedable generator, message lines, their knobs from the
//! environment, running cases on a few threads, and the summary of how they went.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use super::fake::FakeServer;
use super::{ordinary_fetch_peak_kib, run_measuring_memory, Run};

/// splitmix64: small, seedable, good enough to pick cases.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn range(&mut self, low: usize, high: usize) -> usize {
        low + self.below(high - low + 1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

/// A message line: plain text, dots, From lines, empty lines, a CR inside, 8-bit bytes, long
/// lines, or `odd` (a line some servers choke on).
pub fn message_line(rng: &mut Rng, odd: &[u8]) -> Vec<u8> {
    match rng.below(12) {
        0 => b".".to_vec(),
        1 => b"..".to_vec(),
        2 => b".starts with a dot".to_vec(),
        3 => b"From someone at some time".to_vec(),
        4 => Vec::new(),
        5 => b"carriage\rreturn inside".to_vec(),
        6 => vec![0xff, 0xfe, b'8', b'b', b'i', b't', 0x80],
        7 => odd.to_vec(),
        8 if rng.chance(10) => vec![b'L'; rng.range(2000, 12_000)],
        _ => {
            let length = rng.below(78);
            (0..length).map(|_| b' ' + rng.below(95) as u8).collect()
        }
    }
}

/// A number from the environment variable `name`, decimal or `0x` hexadecimal.
fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    let value = value.trim();
    match value.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => value.parse().ok(),
    }
}

/// Runs `count` cases, case i generated from seed `base + i`, on as many threads as there are
/// CPUs (two to four); each case with its result, in the order they finished.
fn run_in_parallel<C: Send, R: Send>(
    count: usize,
    base: u64,
    generate: impl Fn(u64) -> C + Sync,
    run: impl Fn(&C) -> R + Sync,
) -> Vec<(C, R)> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4));
    let next = AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= count {
                    return;
                }
                let case = generate(base.wrapping_add(index as u64));
                let result = run(&case);
                results.lock().unwrap().push((case, result));
            });
        }
    });
    results.into_inner().unwrap()
}

/// Exit statuses the README documents.
pub const DOCUMENTED: [i32; 10] = [0, 64, 65, 69, 73, 74, 75, 76, 77, 78];

/// A hostile run must end within this (stalls cost a timeout or two of one second).
pub const TIME_BOUND: Duration = Duration::from_secs(30);

/// What a hostile run may add to an ordinary fetch's peak resident memory, in KiB: a POP3
/// listing may take `--max-listing` (8 MiB by default), an IMAP answer 1 MiB, every other answer
/// is streamed or capped; the same allowance as in hostile.rs. The ordinary peak is measured,
/// not assumed (the binary and its libraries, about 12 MiB unoptimised).
pub const MEMORY_ALLOWANCE: u64 = 11 * 1024;

/// A run of popget against a hostile server, with its peak memory (KiB) and time.
pub struct HostileRun {
    pub run: Run,
    pub peak: u64,
    pub elapsed: Duration,
}

impl HostileRun {
    pub fn start(command: &mut Command) -> HostileRun {
        let started = Instant::now();
        let (run, peak) = run_measuring_memory(command);
        HostileRun {
            run,
            peak,
            elapsed: started.elapsed(),
        }
    }

    /// The exit status; -1 for a signal.
    pub fn code(&self) -> i32 {
        self.run.output.status.code().unwrap_or(-1)
    }

    /// The rules every hostile run keeps: no panic, a documented exit status, within
    /// [`TIME_BOUND`] and the memory allowance. `context` tells the run for a failure.
    pub fn check(&self, context: &str) -> Result<(), String> {
        let code = self.code();
        if code == 101 || self.run.stderr().contains("panicked") {
            return Err(format!("popget panicked: {context}"));
        }
        if !DOCUMENTED.contains(&code) {
            return Err(format!("undocumented exit status: {context}"));
        }
        if self.elapsed > TIME_BOUND {
            return Err(format!("took {:?}: {context}", self.elapsed));
        }
        let bound = ordinary_fetch_peak_kib() + MEMORY_ALLOWANCE;
        if self.peak > bound {
            return Err(format!(
                "peak memory {} KiB, over {bound} KiB: {context}",
                self.peak
            ));
        }
        Ok(())
    }
}

/// The healthy rerun after a hostile one: it must exit 0 and leave the POP3 server empty.
pub fn check_rerun(rerun: &Run, pop3: &FakeServer, first_run: &str) -> Result<(), String> {
    if rerun.output.status.code() != Some(0) {
        return Err(format!(
            "the rerun against a healthy server exited {:?}: {}\nfirst run: {first_run}",
            rerun.output.status.code(),
            rerun.stderr(),
        ));
    }
    if !pop3.remaining().is_empty() {
        return Err(format!(
            "the rerun left {:?} on the POP3 server; first run: {first_run}",
            pop3.remaining(),
        ));
    }
    Ok(())
}

/// A generated case, as the summary shows it.
pub trait SuiteCase {
    fn seed(&self) -> u64;
    /// A short name for what goes wrong in it; the summary counts cases by it.
    fn kind(&self) -> String;
    /// Everything about it, for a failure.
    fn describe(&self) -> String;
}

/// What a passing case measured of its hostile run: exit status, peak memory (KiB), time.
pub trait Measured {
    fn measured(&self) -> (i32, u64, Duration);
}

impl Measured for (i32, u64, Duration) {
    fn measured(&self) -> (i32, u64, Duration) {
        *self
    }
}

/// A suite's environment variables (its first seed, its number of cases) and their defaults.
pub struct Knobs {
    pub seed: &'static str,
    pub cases: &'static str,
    pub default_seed: u64,
    pub default_cases: usize,
}

/// Runs a randomized suite: the cases its knobs ask for, generated from their seeds, then the
/// summary of how they went; fails if one did.
pub fn run_suite<C: SuiteCase + Send, R: Measured + Send>(
    title: &str,
    knobs: &Knobs,
    generate: impl Fn(u64) -> C + Sync,
    run: impl Fn(&C) -> Result<R, String> + Sync,
) {
    let cases = env_number(knobs.cases).map_or(knobs.default_cases, |n| n as usize);
    let base = env_number(knobs.seed).unwrap_or(knobs.default_seed);
    let started = Instant::now();
    let results = run_in_parallel(cases, base, generate, run);
    summarize(title, knobs, started, &results);
}

/// Prints how the cases went (per kind, the exit statuses seen; the slowest and largest
/// passing run; every failure with the variables that rerun it alone) and fails if one did.
fn summarize<C: SuiteCase, R: Measured>(
    title: &str,
    knobs: &Knobs,
    started: Instant,
    results: &[(C, Result<R, String>)],
) {
    let mut by_kind: BTreeMap<String, (usize, BTreeMap<i32, usize>)> = BTreeMap::new();
    let mut failures = Vec::new();
    let (mut most_memory, mut longest) = (0, Duration::ZERO);
    for (case, result) in results {
        let entry = by_kind.entry(case.kind()).or_default();
        entry.0 += 1;
        match result {
            Ok(outcome) => {
                let (code, peak, elapsed) = outcome.measured();
                *entry.1.entry(code).or_default() += 1;
                most_memory = most_memory.max(peak);
                longest = longest.max(elapsed);
            }
            Err(error) => failures.push((case, error)),
        }
    }
    let first = results
        .iter()
        .map(|(case, _)| case.seed())
        .min()
        .unwrap_or(0);
    println!(
        "{title}: {} cases from seed {first:#x} in {:.1?} ({} failed); passing hostile runs \
         took at most {longest:.1?} and {most_memory} KiB",
        results.len(),
        started.elapsed(),
        failures.len()
    );
    for (kind, (count, codes)) in &by_kind {
        println!("  {kind:44} {count:5}  exit statuses {codes:?}");
    }
    for (case, error) in &failures {
        let seed = case.seed();
        println!(
            "FAILED seed {seed:#x} (rerun: {}={seed:#x} {}=1): {}\n  {error}",
            knobs.seed,
            knobs.cases,
            case.describe()
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed",
        failures.len(),
        results.len()
    );
}
