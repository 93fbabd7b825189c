//! Bounded, ordered transfers (moby's `distribution/xfer`): jobs start in order, at most
//! `max` at a time, and the first failure stops the others.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::image::registry::RegistryError;

/// Runs `jobs` in order, at most `max` at once; `queued(k)` is called first for every
/// job that has to wait for a slot. On the first failure `cancel` is raised (for work on
/// blocking threads), the other jobs are aborted, and that failure is returned. The
/// results come back in job order.
pub async fn run_bounded<T, F>(
    jobs: Vec<F>,
    max: usize,
    cancel: Arc<AtomicBool>,
    queued: impl Fn(usize) -> Result<(), RegistryError>,
) -> Result<Vec<T>, RegistryError>
where
    F: Future<Output = Result<T, RegistryError>> + Send + 'static,
    T: Send + 'static,
{
    let max = max.max(1);
    let n = jobs.len();
    for k in max..n {
        queued(k)?;
    }
    let mut results: Vec<Option<T>> = (0..n).map(|_| None).collect();
    let mut pending = jobs.into_iter().enumerate();
    let mut running = tokio::task::JoinSet::new();
    loop {
        while running.len() < max {
            let Some((k, job)) = pending.next() else {
                break;
            };
            running.spawn(async move { job.await.map(|t| (k, t)) });
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let failure = match joined {
            Ok(Ok((k, t))) => {
                results[k] = Some(t);
                continue;
            }
            Ok(Err(e)) => e,
            Err(e) => RegistryError::Cancelled(format!("transfer task: {e}")),
        };
        cancel.store(true, Ordering::Relaxed);
        running.abort_all();
        while running.join_next().await.is_some() {}
        return Err(failure);
    }
    Ok(results
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test]
    async fn jobs_run_in_order_within_the_bound() {
        let live = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(Mutex::new(Vec::new()));
        let jobs: Vec<_> = (0..6)
            .map(|k| {
                let (live, peak, started) = (live.clone(), peak.clone(), started.clone());
                async move {
                    started.lock().unwrap().push(k);
                    let now = live.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    live.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, RegistryError>(k * 10)
                }
            })
            .collect();
        let waited = Mutex::new(Vec::new());
        let out = run_bounded(jobs, 2, Arc::new(AtomicBool::new(false)), |k| {
            waited.lock().unwrap().push(k);
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(out, [0, 10, 20, 30, 40, 50]);
        assert_eq!(*waited.lock().unwrap(), [2, 3, 4, 5]);
        assert!(peak.load(Ordering::SeqCst) <= 2);
        // With two slots, job k starts before job k + 2.
        let s = started.lock().unwrap().clone();
        for k in 0..4 {
            let pos = |v| s.iter().position(|x| *x == v).unwrap();
            assert!(pos(k) < pos(k + 2), "{s:?}");
        }
    }

    #[tokio::test]
    async fn the_first_failure_cancels_the_rest() {
        let cancel = Arc::new(AtomicBool::new(false));
        type Job = std::pin::Pin<Box<dyn Future<Output = Result<u32, RegistryError>> + Send>>;
        let jobs: Vec<Job> = vec![
            Box::pin(async { Err(RegistryError::Invalid("boom".into())) }),
            Box::pin(std::future::pending()),
        ];
        let e = run_bounded(jobs, 2, cancel.clone(), |_| Ok(()))
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "boom");
        assert!(cancel.load(Ordering::Relaxed));
    }
}
