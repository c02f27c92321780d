//! A few threads that fsync the files handed to them, so that each message is being made
//! durable while the next ones stream in, with several syncs in flight at once.

use std::fs::File;
use std::io;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

/// Syncs in flight at once. Measured on a virtio disk (2000 messages, 100 MB): 1 thread was no
/// faster than syncing at placement, 2 took 8% less time, 4 took 12% less, 8 no better than 4.
const SYNC_THREADS: usize = 4;

struct Job {
    file: File,
    done: mpsc::SyncSender<io::Result<()>>,
}

/// The threads start with the first file, and finish the syncs already handed to them when
/// the syncer is dropped.
#[derive(Default)]
pub(super) struct Syncer {
    jobs: OnceLock<Option<mpsc::Sender<Job>>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

/// The outcome of one file's sync, to be waited for.
pub(super) struct Pending(mpsc::Receiver<io::Result<()>>);

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pending")
    }
}

impl Pending {
    /// Waits until the file's data and metadata are on disk (or the sync failed).
    pub fn wait(&self) -> io::Result<()> {
        self.0
            .recv()
            .unwrap_or_else(|_| Err(io::Error::other("the sync thread stopped")))
    }
}

impl Syncer {
    /// Starts syncing `file` (closing it afterwards). Where no thread can be started, syncs
    /// it at once.
    pub fn submit(&self, file: File) -> Pending {
        let (done, outcome) = mpsc::sync_channel(1);
        let job = Job { file, done };
        let job = match self.jobs.get_or_init(|| self.start()) {
            Some(jobs) => match jobs.send(job) {
                Ok(()) => return Pending(outcome),
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        let _ = job.done.send(job.file.sync_all());
        Pending(outcome)
    }

    fn start(&self) -> Option<mpsc::Sender<Job>> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let mut workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        for index in 0..SYNC_THREADS {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name(format!("popget-sync-{index}"))
                .spawn(move || loop {
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok(job) = next else { return };
                    let _ = job.done.send(job.file.sync_all());
                });
            match spawned {
                Ok(worker) => workers.push(worker),
                Err(_) if index > 0 => break,
                Err(_) => return None,
            }
        }
        Some(jobs)
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        drop(self.jobs.take());
        let workers = self.workers.get_mut().unwrap_or_else(|e| e.into_inner());
        for worker in workers.drain(..) {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn every_submitted_file_is_synced_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let syncer = Syncer::default();
        let pending: Vec<Pending> = (0..20)
            .map(|i| {
                let mut file = File::create(dir.path().join(i.to_string())).unwrap();
                file.write_all(b"message").unwrap();
                syncer.submit(file)
            })
            .collect();
        for outcome in &pending {
            outcome.wait().unwrap();
        }
        assert_eq!(syncer.workers.lock().unwrap().len(), SYNC_THREADS);
        drop(syncer);
        assert_eq!(std::fs::read(dir.path().join("19")).unwrap(), b"message");
    }

    #[test]
    fn a_failed_sync_is_reported_to_its_waiter() {
        // fsync of a read-only descriptor on a pipe fails with EINVAL.
        let (reader, _writer) = std::io::pipe().unwrap();
        let file = File::from(std::os::fd::OwnedFd::from(reader));
        let syncer = Syncer::default();
        assert!(syncer.submit(file).wait().is_err());
    }
}
