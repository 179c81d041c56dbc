//! glTF binary plumbing shared by motion takes (`motion::gltf`) and the stage DCC's scenes
//! (`dcc::stage::gltf_io`): the GLB container, base64 data URIs, accessors read from and written
//! to buffer views, and animation samplers evaluated at a time. A neutral leaf (it imports neither `motion` nor `dcc`). The JSON side is the
//! `gltf-json` crate's types; what is here is what that crate leaves to its users: bytes.
//!
//! Reading is strict about content and lenient about layout: every index and byte range is
//! bounds-checked before anything is allocated, any byte stride and component type of the glTF 2.0
//! spec is read (normalised integers mapped to `[0, 1]` / `[-1, 1]`), sparse accessors are applied,
//! and a non-finite number refuses the accessor, because a NaN that reaches a rig corrupts the
//! user's scene silently.

use glam::Quat;
use gltf_json as gj;
use gltf_json::accessor::{ComponentType, GenericComponentType, IndexComponentType, Type};
pub use gltf_json::animation::Interpolation;
use gltf_json::validation::{Checked, USize64};

/// The first four bytes of a GLB container.
pub const GLB_MAGIC: &[u8; 4] = b"glTF";
const CHUNK_JSON: u32 = 0x4E4F_534A;
const CHUNK_BIN: u32 = 0x004E_4942;

/// Upper bound on values that no bytes stand behind (an accessor without a bufferView, all zeros by
/// the glTF rules; a take's frames held over sparse keys): a forged `count` must not exhaust memory.
/// 16 samples × 120 fps × 30 s × 77 joints of rotations is 18 M values.
pub const MAX_VALUES: usize = 32 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// GLB and data URIs
// ---------------------------------------------------------------------------------------------

/// True when `bytes` starts like a GLB container.
pub fn is_glb(bytes: &[u8]) -> bool {
    bytes.starts_with(GLB_MAGIC)
}

/// The chunks of a GLB container.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GlbChunks<'a> {
    pub json: &'a [u8],
    /// The BIN chunk: buffer 0 when that buffer has no `uri`.
    pub bin: Option<&'a [u8]>,
}

/// Splits a GLB container, checking every length against the bytes present.
///
/// Read by hand rather than with `gltf::binary::Glb::from_slice`, which refuses unknown chunk
/// types (the glTF spec says to skip them) and subtracts from the declared length unchecked.
pub fn split_glb(bytes: &[u8]) -> Result<GlbChunks<'_>, String> {
    let u32_at = |at: usize| -> Result<u32, String> {
        bytes
            .get(at..at + 4)
            .and_then(|s| s.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or_else(|| "truncated header".to_string())
    };
    if !is_glb(bytes) {
        return Err("missing the glTF magic".into());
    }
    let version = u32_at(4)?;
    if version != 2 {
        return Err(format!("version {version}, expected 2"));
    }
    let total = u32_at(8)? as usize;
    if total > bytes.len() {
        return Err(format!(
            "header says {total} bytes, only {} present",
            bytes.len()
        ));
    }
    let bytes = &bytes[..total];
    let mut at = 12usize;
    let mut json: Option<&[u8]> = None;
    let mut bin: Option<&[u8]> = None;
    while at + 8 <= bytes.len() {
        let len = u32_at(at)? as usize;
        let kind = u32_at(at + 4)?;
        let start = at + 8;
        let end = start
            .checked_add(len)
            .filter(|&e| e <= bytes.len())
            .ok_or("a chunk runs past the end")?;
        match kind {
            CHUNK_JSON if json.is_none() => json = Some(&bytes[start..end]),
            CHUNK_BIN if bin.is_none() => bin = Some(&bytes[start..end]),
            _ => {} // unknown chunks are skipped, as the spec asks
        }
        at = end;
    }
    Ok(GlbChunks {
        json: json.ok_or("no JSON chunk")?,
        bin,
    })
}

/// A GLB container of `json` (space-padded) and, when not empty, `bin` (zero-padded).
pub fn write_glb(json: Vec<u8>, bin: Vec<u8>) -> Result<Vec<u8>, String> {
    let glb = gltf::binary::Glb {
        // `to_vec` computes the length and pads both chunks itself.
        header: gltf::binary::Header {
            magic: *GLB_MAGIC,
            version: 2,
            length: 0,
        },
        json: json.into(),
        bin: (!bin.is_empty()).then(|| bin.into()),
    };
    glb.to_vec().map_err(|e| format!("cannot write GLB: {e}"))
}

/// `bytes` as a buffer `uri`: a base64 data URI.
pub fn data_uri(bytes: &[u8]) -> String {
    use base64::Engine as _;
    format!(
        "data:application/octet-stream;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// The bytes of a base64 data URI (any media type); `None` when `uri` is not one.
pub fn decode_data_uri(uri: &str) -> Option<Result<Vec<u8>, String>> {
    use base64::Engine as _;
    let (_, payload) = uri.strip_prefix("data:")?.split_once(";base64,")?;
    Some(
        base64::engine::general_purpose::STANDARD
            .decode(payload.trim_end())
            .map_err(|e| format!("bad base64: {e}")),
    )
}

// ---------------------------------------------------------------------------------------------
// Reading accessors
// ---------------------------------------------------------------------------------------------

/// The number type an accessor is read into: `f32` for motion, `f64` for the stage DCC (where
/// `UNSIGNED_INT` indices above 2^24 must stay exact).
pub trait Number: Copy + Default {
    fn from_f32(v: f32) -> Self;
    fn from_f64(v: f64) -> Self;
    fn is_finite(self) -> bool;
}

impl Number for f32 {
    fn from_f32(v: f32) -> Self {
        v
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn is_finite(self) -> bool {
        f32::is_finite(self)
    }
}

impl Number for f64 {
    fn from_f32(v: f32) -> Self {
        f64::from(v)
    }
    fn from_f64(v: f64) -> Self {
        v
    }
    fn is_finite(self) -> bool {
        f64::is_finite(self)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AccessorError {
    #[error("accessor {index}: {message}")]
    Invalid { index: usize, message: String },
    #[error("non-finite number in accessor {index}, element {element}")]
    NonFinite { index: usize, element: usize },
}

/// The JSON of one document that accessors are read from, and its buffers' bytes (in `buffers`
/// order).
#[derive(Clone, Copy)]
pub struct Source<'a, B> {
    pub accessors: &'a [gj::Accessor],
    pub views: &'a [gj::buffer::View],
    pub buffers: &'a [B],
}

impl<B: AsRef<[u8]>> Source<'_, B> {
    /// Accessor `index` as flat values (`count × components`) and its component count.
    pub fn read<T: Number>(&self, index: usize) -> Result<(Vec<T>, usize), AccessorError> {
        let err = |message: String| AccessorError::Invalid { index, message };
        let acc = self
            .accessors
            .get(index)
            .ok_or_else(|| err("does not exist".into()))?;
        let Checked::Valid(kind) = acc.type_ else {
            return Err(err("has an invalid type".into()));
        };
        let Checked::Valid(GenericComponentType(component)) = acc.component_type else {
            return Err(err("has an invalid componentType".into()));
        };
        let comps = kind.multiplicity();
        let count = usize::try_from(acc.count.0).map_err(|_| err("count overflows".into()))?;
        let n = count
            .checked_mul(comps)
            .ok_or_else(|| err("count overflows".into()))?;
        let mut out = match acc.buffer_view {
            Some(view) => {
                let layout = Layout {
                    component,
                    normalized: acc.normalized,
                    comps,
                    count,
                };
                self.read_view(view.value(), offset(acc.byte_offset), &layout)
                    .map_err(err)?
            }
            None => {
                // No bufferView: all zeros by the glTF rules (a sparse accessor fills some in).
                if n > MAX_VALUES {
                    return Err(err(format!(
                        "count {count} without a bufferView is implausible"
                    )));
                }
                vec![T::default(); n]
            }
        };
        if let Some(sparse) = &acc.sparse {
            self.apply_sparse(sparse, component, acc.normalized, comps, &mut out)
                .map_err(err)?;
        }
        if let Some(bad) = out.iter().position(|v| !v.is_finite()) {
            return Err(AccessorError::NonFinite {
                index,
                element: bad / comps,
            });
        }
        Ok((out, comps))
    }

    /// The bytes of bufferView `index`, checked against its buffer.
    fn view(&self, index: usize) -> Result<(&[u8], Option<usize>), String> {
        let view = self
            .views
            .get(index)
            .ok_or_else(|| format!("bufferView {index} does not exist"))?;
        let buffer_index = view.buffer.value();
        let buffer = self
            .buffers
            .get(buffer_index)
            .ok_or_else(|| format!("buffer {buffer_index} does not exist"))?
            .as_ref();
        let start = offset(view.byte_offset);
        let len = usize::try_from(view.byte_length.0).unwrap_or(usize::MAX);
        let end = start
            .checked_add(len)
            .filter(|&e| e <= buffer.len())
            .ok_or_else(|| {
                format!(
                    "bufferView {index} [{start}..+{len}] is outside buffer {buffer_index} ({} bytes)",
                    buffer.len()
                )
            })?;
        Ok((&buffer[start..end], view.byte_stride.map(|s| s.0)))
    }

    /// `layout.count` elements from bufferView `view` at `byte_offset`, bounds-checked first.
    fn read_view<T: Number>(
        &self,
        view: usize,
        byte_offset: usize,
        layout: &Layout,
    ) -> Result<Vec<T>, String> {
        let (bytes, stride) = self.view(view)?;
        let elem = layout.comps * layout.component.size();
        let stride = stride.filter(|&s| s > 0).unwrap_or(elem);
        if stride < elem {
            return Err(format!(
                "byteStride {stride} is smaller than an element ({elem})"
            ));
        }
        if layout.count == 0 {
            return Ok(Vec::new());
        }
        let needed = (layout.count - 1)
            .checked_mul(stride)
            .and_then(|v| v.checked_add(elem))
            .and_then(|v| v.checked_add(byte_offset))
            .ok_or("size overflows")?;
        if needed > bytes.len() {
            return Err(format!(
                "needs {needed} bytes but bufferView {view} has {}",
                bytes.len()
            ));
        }
        Ok(layout.decode(&bytes[byte_offset..needed], stride))
    }

    /// Writes the values of a sparse accessor over `out` (docs: glTF 2.0, "Sparse Accessors").
    fn apply_sparse<T: Number>(
        &self,
        sparse: &gj::accessor::sparse::Sparse,
        component: ComponentType,
        normalized: bool,
        comps: usize,
        out: &mut [T],
    ) -> Result<(), String> {
        let count = usize::try_from(sparse.count.0).map_err(|_| "sparse count overflows")?;
        let Checked::Valid(IndexComponentType(index_type)) = sparse.indices.component_type else {
            return Err("sparse indices have an invalid componentType".into());
        };
        let indices: Vec<f64> = self.read_view(
            sparse.indices.buffer_view.value(),
            offset(Some(sparse.indices.byte_offset)),
            &Layout {
                component: index_type,
                normalized: false,
                comps: 1,
                count,
            },
        )?;
        let values: Vec<T> = self.read_view(
            sparse.values.buffer_view.value(),
            offset(Some(sparse.values.byte_offset)),
            &Layout {
                component,
                normalized,
                comps,
                count,
            },
        )?;
        for (i, value) in indices.iter().zip(values.chunks_exact(comps)) {
            let at = (*i as usize)
                .checked_mul(comps)
                .filter(|&at| at + comps <= out.len())
                .ok_or_else(|| format!("sparse index {i} is past the accessor's count"))?;
            out[at..at + comps].copy_from_slice(value);
        }
        Ok(())
    }
}

fn offset(o: Option<USize64>) -> usize {
    o.map_or(0, |o| usize::try_from(o.0).unwrap_or(usize::MAX))
}

/// What an accessor's elements look like in the bytes.
struct Layout {
    component: ComponentType,
    normalized: bool,
    comps: usize,
    count: usize,
}

impl Layout {
    /// `count` elements `stride` bytes apart; `data` holds them all (checked by the caller).
    fn decode<T: Number>(&self, data: &[u8], stride: usize) -> Vec<T> {
        let mut out = Vec::with_capacity(self.count * self.comps);
        let elem = self.comps * self.component.size();
        if stride == elem {
            self.decode_packed(data, &mut out);
        } else {
            for i in 0..self.count {
                self.decode_packed(&data[i * stride..i * stride + elem], &mut out);
            }
        }
        out
    }

    /// Tightly packed components. Floats are copied as they are; integers go through `f64`,
    /// which holds every one exactly.
    fn decode_packed<T: Number>(&self, e: &[u8], out: &mut Vec<T>) {
        let norm = |v: f64, max: f64| {
            T::from_f64(if self.normalized {
                (v / max).max(-1.0)
            } else {
                v
            })
        };
        match self.component {
            ComponentType::F32 => out.extend(
                e.chunks_exact(4)
                    .map(|c| T::from_f32(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
            ),
            ComponentType::U32 => out.extend(
                e.chunks_exact(4)
                    .map(|c| T::from_f64(f64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))),
            ),
            ComponentType::I8 => out.extend(e.iter().map(|&b| norm(f64::from(b as i8), 127.0))),
            ComponentType::U8 => out.extend(e.iter().map(|&b| norm(f64::from(b), 255.0))),
            ComponentType::I16 => out.extend(
                e.chunks_exact(2)
                    .map(|c| norm(f64::from(i16::from_le_bytes([c[0], c[1]])), 32767.0)),
            ),
            ComponentType::U16 => out.extend(
                e.chunks_exact(2)
                    .map(|c| norm(f64::from(u16::from_le_bytes([c[0], c[1]])), 65535.0)),
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Animation samplers
// ---------------------------------------------------------------------------------------------

/// One animation sampler's keys: `times` and the output values, `width` components per value
/// (a CUBICSPLINE output holds in-tangent, value, out-tangent per key).
#[derive(Debug, Clone, Copy)]
pub struct Sampler<'a> {
    pub times: &'a [f32],
    pub values: &'a [f32],
    pub width: usize,
    pub interpolation: Interpolation,
}

impl Sampler<'_> {
    /// The value of key `k` (empty when the output is shorter than the keys).
    pub fn key(&self, k: usize) -> &[f32] {
        let w = self.width;
        let (stride, skip) = match self.interpolation {
            Interpolation::CubicSpline => (3 * w, w),
            _ => (w, 0),
        };
        let start = k * stride + skip;
        self.values.get(start..start + w).unwrap_or(&[])
    }

    /// Writes the value at time `t` into `out` (`width` values) by the glTF rules: the first and
    /// last keys hold outside the keyed range, STEP holds each key, LINEAR interpolates, and
    /// rotations (`width` 4) slerp along the shorter arc. CUBICSPLINE is read as LINEAR through its
    /// key values, the tangents dropped: MMCP servers never send cubic curves, and the stage DCC
    /// writes none. `cursor` is the key the previous call ended on: evaluating increasing times
    /// walks forward instead of searching.
    pub fn eval(&self, t: f32, cursor: &mut usize, out: &mut [f32]) {
        let n = self.times.len();
        if n == 0 {
            return;
        }
        let copy = |k: usize, out: &mut [f32]| {
            for (o, v) in out.iter_mut().zip(self.key(k)) {
                *o = *v;
            }
        };
        if t <= self.times[0] {
            return copy(0, out);
        }
        if t >= self.times[n - 1] {
            return copy(n - 1, out);
        }
        // Here n >= 2 and times[0] < t < times[n - 1]: find k with times[k] <= t < times[k + 1],
        // usually the cursor's key or the next one, else by binary search.
        let brackets = |k: usize| self.times[k] <= t && t < self.times[k + 1];
        let mut k = (*cursor).min(n - 2);
        if !brackets(k) {
            k = if k < n - 2 && brackets(k + 1) {
                k + 1
            } else {
                let after = self.times.partition_point(|x| *x <= t);
                after.saturating_sub(1).min(n - 2)
            };
        }
        *cursor = k;
        let (t0, t1) = (self.times[k], self.times[k + 1]);
        if self.interpolation == Interpolation::Step || t1 <= t0 {
            return copy(k, out);
        }
        let s = (t - t0) / (t1 - t0);
        let (a, b) = (self.key(k), self.key(k + 1));
        if a.len() < self.width || b.len() < self.width {
            return copy(k, out);
        }
        if self.width == 4 {
            let qa = Quat::from_xyzw(a[0], a[1], a[2], a[3]);
            let mut qb = Quat::from_xyzw(b[0], b[1], b[2], b[3]);
            if qa.dot(qb) < 0.0 {
                qb = -qb;
            }
            for (o, v) in out.iter_mut().zip(slerp(qa, qb, s).to_array()) {
                *o = v;
            }
        } else {
            for (o, (a, b)) in out.iter_mut().zip(a.iter().zip(b)) {
                *o = a + (b - a) * s;
            }
        }
    }
}

/// Slerp of two quaternions already on the same hemisphere; normalised lerp when nearly parallel.
fn slerp(a: Quat, b: Quat, s: f32) -> Quat {
    let d = a.dot(b).clamp(-1.0, 1.0);
    if d > 0.9995 {
        return (a + (b - a) * s).normalize();
    }
    let theta = d.acos();
    let sin = theta.sin();
    let wa = ((1.0 - s) * theta).sin() / sin;
    let wb = (s * theta).sin() / sin;
    (a * wa + b * wb).normalize()
}

// ---------------------------------------------------------------------------------------------
// Writing accessors
// ---------------------------------------------------------------------------------------------

/// Appends `values` (`type_`-sized elements of float32) to `bin` as a new bufferView of buffer 0 and
/// an accessor reading it; returns the accessor's index. With `bounds`, the accessor gets the `min`
/// and `max` of each component (required for animation inputs and positions), as the exact float32
/// values, so validators comparing them with the data agree. Non-finite values are written as 0.
pub fn push_f32(
    doc: &mut gj::Root,
    bin: &mut Vec<u8>,
    values: impl IntoIterator<Item = f32>,
    type_: Type,
    bounds: bool,
) -> u32 {
    let comps = type_.multiplicity();
    let mut min = vec![f32::INFINITY; comps];
    let mut max = vec![f32::NEG_INFINITY; comps];
    let mut written = 0usize;
    let view = push_view(
        doc,
        bin,
        values.into_iter().map(|v| {
            let v = if v.is_finite() { v } else { 0.0 };
            let c = written % comps;
            written += 1;
            min[c] = min[c].min(v);
            max[c] = max[c].max(v);
            v.to_le_bytes()
        }),
    );
    let count = written / comps;
    let (min, max) = if bounds && count > 0 {
        (Some(min.into()), Some(max.into()))
    } else {
        (None, None)
    };
    push_accessor(doc, view, count, ComponentType::F32, type_, min, max)
}

/// Appends `indices` as a new bufferView and an `UNSIGNED_INT` scalar accessor; returns its index.
pub fn push_indices(doc: &mut gj::Root, bin: &mut Vec<u8>, indices: &[u32]) -> u32 {
    let view = push_view(doc, bin, indices.iter().map(|v| v.to_le_bytes()));
    push_accessor(
        doc,
        view,
        indices.len(),
        ComponentType::U32,
        Type::Scalar,
        None,
        None,
    )
}

/// Appends 4-byte little-endian words to `bin`, 4-byte aligned as accessors need, and adds a buffer
/// view of them.
fn push_view(
    doc: &mut gj::Root,
    bin: &mut Vec<u8>,
    words: impl Iterator<Item = [u8; 4]>,
) -> gj::Index<gj::buffer::View> {
    while !bin.len().is_multiple_of(4) {
        bin.push(0);
    }
    let offset = bin.len();
    for w in words {
        bin.extend_from_slice(&w);
    }
    doc.push(gj::buffer::View {
        buffer: gj::Index::new(0),
        byte_length: USize64((bin.len() - offset) as u64),
        byte_offset: Some(USize64(offset as u64)),
        byte_stride: None,
        name: None,
        target: None,
        extensions: None,
        extras: None,
    })
}

fn push_accessor(
    doc: &mut gj::Root,
    view: gj::Index<gj::buffer::View>,
    count: usize,
    component: ComponentType,
    type_: Type,
    min: Option<serde_json::Value>,
    max: Option<serde_json::Value>,
) -> u32 {
    let accessor = doc.push(gj::Accessor {
        buffer_view: Some(view),
        byte_offset: None,
        count: USize64(count as u64),
        component_type: Checked::Valid(GenericComponentType(component)),
        extensions: None,
        extras: None,
        type_: Checked::Valid(type_),
        min,
        max,
        name: None,
        normalized: false,
        sparse: None,
    });
    accessor.value() as u32
}

/// A buffer of `byte_length` bytes without a `uri`: the GLB BIN chunk (a `.gltf` writer sets the
/// `uri` to a [`data_uri`]).
pub fn bin_buffer(byte_length: usize) -> gj::Buffer {
    gj::Buffer {
        byte_length: USize64(byte_length as u64),
        name: None,
        uri: None,
        extensions: None,
        extras: None,
    }
}

#[cfg(test)]
mod tests;
