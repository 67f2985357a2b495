//! `vicinity serve`: open the catalog, serve HTTP, save indexes in the background, and on
//! SIGTERM / ctrl-c stop accepting requests, finish the ones in flight, stop the running jobs
//! at their next batch (they resume at the next start) and save every index.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::api::{router, AppState};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::embedding::Embedder;
use crate::jobs::Jobs;

pub async fn serve(config: Config) -> Result<(), String> {
    let data_dir = config.storage.data_dir.clone();
    let catalog = tokio::task::spawn_blocking(move || Catalog::open(&data_dir))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot open data dir {}: {e}", config.storage.data_dir.display()))?;
    let catalog = Arc::new(catalog);
    let addr = format!("{}:{}", config.service.host, config.service.port);
    let listener =
        tokio::net::TcpListener::bind(&addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let interval = Duration::from_secs(config.storage.index_save_interval_secs);
    let limits = config.service.clone();
    let embedder = load_embedder(&config).await;
    let state = AppState::new(catalog.clone(), config, embedder)
        .map_err(|e| format!("cannot open the job registry: {e}"))?;
    let jobs = state.jobs.clone();
    // Kept so that the last copy of the state goes on a blocking thread below: dropping it
    // joins the search threads and stops the jobs, which must not hold up a runtime worker.
    let held = state.clone();
    let saver = tokio::spawn(save_loop(catalog.clone(), jobs.clone(), interval));
    let upkeep = tokio::spawn(crate::api::metrics::upkeep_loop());
    tracing::info!("listening on {local}");
    crate::api::server::serve(listener, router(state), &limits, shutdown_signal()).await;
    saver.abort();
    upkeep.abort();
    tracing::info!("shutting down: stopping jobs, saving indexes");
    tokio::task::spawn_blocking(move || {
        jobs.stop();
        drop(held);
    })
    .await
    .map_err(|e| e.to_string())?;
    tokio::task::spawn_blocking(move || catalog.save_dirty(&mut BTreeMap::new(), Duration::ZERO, &|_| false))
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!("stopped");
    Ok(())
}

/// Loads the embedding models; without them the service runs and text requests are refused.
async fn load_embedder(config: &Config) -> Option<Arc<Embedder>> {
    if !config.embedding.enabled {
        return None;
    }
    let c = config.embedding.clone();
    match tokio::task::spawn_blocking(move || Embedder::load(&c)).await {
        Ok(Ok(e)) => Some(Arc::new(e)),
        Ok(Err(e)) => {
            tracing::warn!("text embedding disabled: {e} (run `make setup` to install the default model)");
            None
        }
        Err(e) => {
            tracing::warn!("text embedding disabled: {e}");
            None
        }
    }
}

/// Every second: saves the indexes whose writes are older than `interval` (leaving alone the
/// collections a job is importing into or rebuilding: the job ends with a save) and starts the
/// vacuums that are due.
async fn save_loop(catalog: Arc<Catalog>, jobs: Arc<Jobs>, interval: Duration) {
    let mut last_saved = BTreeMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1).min(interval));
    loop {
        tick.tick().await;
        let (c, j) = (catalog.clone(), jobs.clone());
        let mut ls = std::mem::take(&mut last_saved);
        last_saved = match tokio::task::spawn_blocking(move || {
            c.save_dirty(&mut ls, interval, &|name| j.busy(name));
            j.vacuum_if_needed();
            ls
        })
        .await
        {
            Ok(ls) => ls,
            Err(e) => {
                tracing::error!("index saver failed: {e}");
                BTreeMap::new()
            }
        };
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
