//! HNSW save/load: parameters, the point store, the graph arrays and the int8 codes, in the
//! checksummed container of `crate::persist`. Loading is a read, a checksum and a range check
//! of every neighbour id — no graph work — so it takes a small fraction of a build.

use std::path::Path;

use super::graph::{Codes, Graph};
use super::{Hnsw, HnswParams, Quantization};
use crate::error::Result;
use crate::persist::{Kind, Reader, Writer};
use crate::quant::Int8Quantizer;
use crate::rotation::Rotation;
use crate::store::VectorStore;

impl Hnsw {
    pub(super) fn write_file(&self, path: &Path) -> Result<()> {
        let _writer = self.writer.lock(); // no links change while the graph is copied out
        let graph = self.graph.read();
        let mut w = Writer::create(path, Kind::Hnsw)?;
        let p = &self.params;
        w.u64(p.m as u64)?;
        w.u64(p.ef_construction as u64)?;
        w.u64(p.ef_search as u64)?;
        w.u64(p.full_scan_threshold as u64)?;
        w.u64(p.seed)?;
        match p.quantization {
            None => w.u8(0)?,
            Some(Quantization::Int8 { oversampling }) => {
                w.u8(1)?;
                w.f32(oversampling)?;
            }
        }
        graph.store.write(&mut w)?;
        w.bytes(&graph.levels)?;
        let (links0, upper, upper_start) = graph.links_raw();
        w.u32s(&links0)?;
        w.u32s(upper_start)?;
        w.u64(upper.len() as u64)?;
        w.u32s(&upper)?;
        w.u64(graph.entry.load(std::sync::atomic::Ordering::Acquire))?;
        match &graph.codes {
            None => w.u8(0)?,
            Some(codes) => {
                w.u8(1)?;
                codes.quantizer.write(&mut w)?;
                w.i8s(&codes.data)?;
            }
        }
        match &graph.rotation {
            None => w.u8(0)?,
            Some(rotation) => {
                w.u8(1)?;
                rotation.write(&mut w)?;
            }
        }
        w.finish()
    }

    pub(crate) fn read(r: &mut Reader) -> Result<Self> {
        let m = r.usize()?;
        let ef_construction = r.usize()?;
        let ef_search = r.usize()?;
        let full_scan_threshold = r.usize()?;
        let seed = r.u64()?;
        let quantization = match r.u8()? {
            0 => None,
            1 => Some(Quantization::Int8 { oversampling: r.f32()? }),
            other => return Err(r.corrupt(format!("unknown quantization code {other}"))),
        };
        let params = HnswParams { m, ef_construction, ef_search, full_scan_threshold, quantization, seed };
        params.validate().map_err(|e| r.corrupt(format!("stored parameters invalid: {e}")))?;

        let store = VectorStore::read(r)?;
        let n = store.offsets();
        let dim = store.dim;
        let levels = r.u8s(n)?;
        let links0 = r.u32s(n * (1 + 2 * m))?;
        let upper_start = r.u32s(n)?;
        let upper_len = r.len()?;
        let upper = r.u32s(upper_len)?;
        let entry = r.u64()?;
        let mut graph =
            Graph::from_raw(store, m, levels, links0, upper_start, upper).map_err(|e| r.corrupt(e))?;
        if entry != super::graph::NO_ENTRY {
            let (offset, level) = (entry as u32 as usize, (entry >> 32) as usize);
            if offset >= n || graph.levels[offset] as usize != level {
                return Err(r.corrupt(format!("entry point {offset} at level {level} is not in the graph")));
            }
        } else if n > 0 {
            return Err(r.corrupt("points without an entry point"));
        }
        graph.entry.store(entry, std::sync::atomic::Ordering::Release);
        graph.find_keepers();
        graph.codes = match r.u8()? {
            0 => None,
            1 => {
                let quantizer = Int8Quantizer::read(r, dim)?;
                Some(Codes { quantizer, data: crate::huge::rehome(r.i8s(n * dim)?) })
            }
            other => return Err(r.corrupt(format!("unknown codes flag {other}"))),
        };
        if graph.codes.is_some() != (params.quantization.is_some() && n > 0) {
            return Err(r.corrupt("quantization codes disagree with the parameters"));
        }
        // Version 1 files predate the rotation: their vectors are in the caller's basis.
        graph.rotation = match if r.version >= 2 { r.u8()? } else { 0 } {
            0 => None,
            1 => Some(std::sync::Arc::new(Rotation::read(r, graph.store.metric, dim)?)),
            other => return Err(r.corrupt(format!("unknown rotation flag {other}"))),
        };
        if graph.rotation.is_some() && params.quantization.is_some() {
            return Err(r.corrupt("a rotation with quantization codes"));
        }
        Ok(Hnsw::from_graph(graph, params))
    }
}
