//! The skeleton as a tree in rest pose: checked parents, world positions, and per-subtree sizes, all
//! computed once in O(joints) so that detection stays cheap on big rigs.

use glam::Vec3;

use crate::motion::take::Skeleton;

pub(super) struct Body {
    pub parent: Vec<Option<usize>>,
    pub children: Vec<Vec<usize>>,
    /// World rest position of each joint.
    pub pos: Vec<Vec3>,
    /// Joints on the longest chain from this joint down, itself included (a leaf: 1).
    pub depth: Vec<usize>,
    /// Joints in the subtree, itself included.
    pub size: Vec<usize>,
    /// Lowest and highest rest height in the subtree.
    pub low: Vec<f32>,
    pub high: Vec<f32>,
    /// Height span of the whole skeleton: the scale "far" and "near" are measured against until the
    /// legs are known.
    pub height: f32,
    pub warnings: Vec<String>,
}

impl Body {
    pub fn new(skeleton: &Skeleton) -> Body {
        let joints = &skeleton.joints;
        let n = joints.len();
        let mut warnings = Vec::new();

        // MMCP requires parents first (docs/mmcp.md); anything else (a cycle, an index past the end)
        // makes the joint a root, so every walk up the tree ends.
        let mut parent = Vec::with_capacity(n);
        let mut bad_parents = Vec::new();
        for (j, joint) in joints.iter().enumerate() {
            match joint.parent {
                Some(p) if p < j => parent.push(Some(p)),
                Some(_) => {
                    bad_parents.push(joint.name.as_str());
                    parent.push(None);
                }
                None => parent.push(None),
            }
        }
        if !bad_parents.is_empty() {
            warnings.push(format!(
                "{} joint(s) name a parent that is not an earlier joint and were read as roots: {}",
                bad_parents.len(),
                first_few(&bad_parents)
            ));
        }

        let mut pos = Vec::with_capacity(n);
        let mut bad_offsets = Vec::new();
        for (j, joint) in joints.iter().enumerate() {
            let mut offset = Vec3::from(joint.rest_translation);
            if !offset.is_finite() {
                bad_offsets.push(joint.name.as_str());
                offset = Vec3::ZERO;
            }
            let p = match parent[j] {
                Some(p) => pos[p] + offset,
                None => offset,
            };
            // Finite offsets can still add up to infinity; such a joint sits on its parent.
            pos.push(if p.is_finite() {
                p
            } else {
                parent[j].map_or(Vec3::ZERO, |p| pos[p])
            });
        }
        if !bad_offsets.is_empty() {
            warnings.push(format!(
                "{} joint(s) have a rest offset that is not a number and were read as sitting on their parent: {}",
                bad_offsets.len(),
                first_few(&bad_offsets)
            ));
        }

        let mut children = vec![Vec::new(); n];
        for (j, p) in parent.iter().enumerate() {
            if let Some(p) = *p {
                children[p].push(j);
            }
        }
        // Children come after their parent, so one backward sweep sees every subtree complete.
        let mut depth = vec![1; n];
        let mut size = vec![1; n];
        let mut low: Vec<f32> = pos.iter().map(|p| p.y).collect();
        let mut high = low.clone();
        for j in (0..n).rev() {
            if let Some(p) = parent[j] {
                depth[p] = depth[p].max(depth[j] + 1);
                size[p] += size[j];
                low[p] = low[p].min(low[j]);
                high[p] = high[p].max(high[j]);
            }
        }
        let height = pos.iter().map(|p| p.y).fold(f32::NEG_INFINITY, f32::max)
            - pos.iter().map(|p| p.y).fold(f32::INFINITY, f32::min);

        Body {
            parent,
            children,
            pos,
            depth,
            size,
            low,
            high,
            height: if height.is_finite() { height } else { 0.0 },
            warnings,
        }
    }

    pub fn len(&self) -> usize {
        self.pos.len()
    }

    /// The joints from `top` (included) down to `bottom` (included); empty if `top` is not an
    /// ancestor of `bottom`.
    pub fn path(&self, top: usize, bottom: usize) -> Vec<usize> {
        let mut path = vec![bottom];
        let mut j = bottom;
        while j != top {
            match self.parent[j] {
                Some(p) => {
                    path.push(p);
                    j = p;
                }
                None => return Vec::new(),
            }
        }
        path.reverse();
        path
    }

    /// Every joint of the subtree of `j`.
    pub fn subtree(&self, j: usize) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.size[j]);
        let mut stack = vec![j];
        while let Some(k) = stack.pop() {
            out.push(k);
            stack.extend(self.children[k].iter().copied());
        }
        out
    }

    /// The child a limb or spine continues through: the longest chain, then the biggest subtree,
    /// then the longest bone. Side branches (twist bones, helpers, fingers) lose on the first two.
    pub fn main_child(&self, j: usize) -> Option<usize> {
        self.children[j].iter().copied().max_by(|&a, &b| {
            self.depth[a]
                .cmp(&self.depth[b])
                .then(self.size[a].cmp(&self.size[b]))
                .then(self.bone(a).total_cmp(&self.bone(b)))
                // On a full tie the first child wins, as `max_by` would pick the last.
                .then(b.cmp(&a))
        })
    }

    /// Length of the bone from the parent of `j` to `j`.
    pub fn bone(&self, j: usize) -> f32 {
        self.parent[j].map_or(0.0, |p| self.pos[p].distance(self.pos[j]))
    }

    /// A leaf lying on the bone from its parent to the parent's main child: a twist or roll bone
    /// (UE's `upperarm_twist_01_l`), not a finger.
    pub fn is_twist_leaf(&self, c: usize) -> bool {
        let Some(p) = self.parent[c] else {
            return false;
        };
        let Some(main) = self.main_child(p) else {
            return false;
        };
        if !self.children[c].is_empty() || main == c {
            return false;
        }
        let bone = self.pos[main] - self.pos[p];
        let len = bone.length();
        // The main child sitting on the joint (CMU's `LeftFingerBase` on `LeftHand`) gives no bone
        // to lie along: a leaf there (`LThumb`) is a finger.
        if len <= 1e-4 * self.height {
            return false;
        }
        let along = (self.pos[c] - self.pos[p]).dot(bone) / (len * len);
        let across = (self.pos[c] - self.pos[p] - bone * along).length();
        (-0.05..=1.05).contains(&along) && across <= 0.1 * len
    }
}

/// Horizontal part of a vector (Y is up).
pub(super) fn flat(v: Vec3) -> Vec3 {
    Vec3::new(v.x, 0.0, v.z)
}

fn first_few(names: &[&str]) -> String {
    let mut shown: Vec<String> = names.iter().take(5).map(|n| format!("'{n}'")).collect();
    if names.len() > 5 {
        shown.push("...".into());
    }
    shown.join(", ")
}
