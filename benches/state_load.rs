//! How long a state file of 100,000 seen UIDLs takes to load and to check a full listing
//! against, as a run that finds nothing new does: `cargo bench --bench state_load`.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use popget::state::State;

const UIDLS: usize = 100_000;
const ROUNDS: usize = 15;

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("bench.state");
    // Ids as Dovecot makes them (hex, 24 octets), a few with bytes that need escaping.
    let uids: Vec<Vec<u8>> = (0..UIDLS)
        .map(|n| {
            let mut uid = format!("{n:08x}{:016x}", n as u64 * 2_654_435_761).into_bytes();
            if n % 1000 == 0 {
                uid.push(b' ');
            }
            uid
        })
        .collect();
    let mut state = State::empty(&path);
    for uid in &uids {
        state.record(uid, 1_700_000_000);
    }
    state.commit().expect("the state is written");
    let size = std::fs::metadata(&path).expect("the state file").len();

    let mut loads = Vec::new();
    let mut checks = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let mut state = State::load(&path).expect("the state loads");
        loads.push(started.elapsed());
        // As the fetch plan does: the listing in a map (built with or without a state), the
        // state pruned by it, each listed id looked up.
        let listed: HashSet<&[u8], foldhash::fast::RandomState> =
            uids.iter().map(Vec::as_slice).collect();
        let started = Instant::now();
        let known = uids.iter().filter(|uid| state.contains(uid)).count();
        if known < state.len() {
            state.retain(|uid| listed.contains(uid));
        }
        assert_eq!(known, UIDLS);
        checks.push(started.elapsed());
        let started = Instant::now();
        drop(state);
        let dropped = started.elapsed();
        if loads.len() == ROUNDS {
            println!(
                "free it:              {:.1} ms",
                dropped.as_secs_f64() * 1e3
            );
        }
    }
    println!("state file:           {UIDLS} UIDLs, {size} octets");
    println!(
        "load (median of {ROUNDS}):    {:.1} ms",
        median(loads).as_secs_f64() * 1e3
    );
    println!(
        "check a full listing against it: {:.1} ms",
        median(checks).as_secs_f64() * 1e3
    );
}
