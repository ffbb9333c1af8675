//! The copy mode of [`super::apply`]: hard-link groups copied once and
//! linked to their copy, and the quick check that leaves a matching copy
//! alone (see the parent module for the rules).

use super::*;

/// Hard-link groups of a copy: names placing an inode already placed
/// earlier in plan order, each with the `(dir, leaf)` of that first name.
#[derive(Default)]
pub(in crate::merge) struct Groups {
    /// `(dir, leaf)` of a later name -> `(dir, leaf)` of the first name.
    pub(in crate::merge) links: Vec<((u32, u32), (u32, u32))>,
    /// The later names, skipped by the parallel pass.
    pub(in crate::merge) later: HashSet<(u32, u32)>,
    /// Directories holding later names: their metadata is set last.
    pub(in crate::merge) late_dirs: HashSet<u32>,
}

impl Groups {
    pub(in crate::merge) fn of(sources: &[Source], plan: &Plan) -> Groups {
        let mut first: HashMap<FileKey, (u32, u32)> = HashMap::new();
        let mut g = Groups::default();
        for (d, pd) in plan.dirs.iter().enumerate() {
            for (l, &r) in pd.leaves.iter().enumerate() {
                let e = entry(sources, r);
                if e.kind == Kind::Symlink || e.kind == Kind::Dir {
                    continue;
                }
                // A known link count of 1 cannot be part of a group.
                if e.meta.is_some() && e.nlink == 1 {
                    continue;
                }
                let key = FileKey {
                    dev: sources[r.src as usize].tree.dev,
                    ino: e.ino,
                };
                let me = (d as u32, l as u32);
                match first.entry(key) {
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(me);
                    }
                    std::collections::hash_map::Entry::Occupied(o) => {
                        g.links.push((me, *o.get()));
                        g.later.insert(me);
                        g.late_dirs.insert(d as u32);
                    }
                }
            }
        }
        g
    }
}

/// Returns true if the destination entry `st` already is a copy of a
/// source with metadata `m` and identity `key`: the quick check of rsync
/// (type, size, mtime) plus mode and owner, which `-a` also keeps. The
/// source inode itself (left by a hard-link merge) is never a copy.
pub(in crate::merge) fn is_copy_of(
    st: &crate::fsx::FileStat,
    m: &Meta,
    size: u64,
    key: FileKey,
) -> bool {
    Kind::from_mode(st.st_mode) == m.kind
        && st.st_size as u64 == size
        && Mtime::of(st) == m.mtime
        && st.st_mode & 0o7777 == m.mode & 0o7777
        && (!fsx::is_root() || (st.st_uid, st.st_gid) == (m.uid, m.gid))
        && FileKey::of(st) != key
}

/// Counts one new inode: a clone, or a copy (a fallback where a clone was
/// asked for and refused).
fn count_copy(out: &mut Applied, made: Made, data: Data, kind: Kind) {
    if made == Made::Clone {
        out.stats.cloned += 1;
    } else {
        out.stats.copied += 1;
        if data == Data::Clone && kind == Kind::File {
            out.stats.fallbacks += 1;
        }
    }
}

impl Task<'_> {
    /// Places one file or special file in copy mode.
    pub(super) fn place_copy(
        &self,
        it: Item,
        keep_newer: bool,
        data: Data,
        out: &mut Applied,
    ) -> Result<()> {
        let Item {
            dir,
            fresh,
            src,
            r,
            e,
        } = it;
        let name: &[u8] = &e.name;
        // In a directory this run created there is nothing to compare with.
        let existing = if fresh { None } else { dir.stat(name)? };
        if let Some(st) = existing {
            let found = Kind::from_mode(st.st_mode);
            if found == Kind::Dir {
                if emptied(dir, name) {
                    return self.place_copy(it, keep_newer, data, out);
                }
                out.clashes
                    .push(clash(self.sources, r, e, Kind::Dir, false));
                return Ok(());
            }
            let (m, size) = match e.meta {
                Some(m) => (m, e.size),
                None => {
                    let s = src.dir.stat(src.name)?.ok_or_else(|| {
                        FsError::new("inspecting", src.path(), crate::fsx::Errno::ENOENT)
                    })?;
                    (Meta::of(&s), s.st_size as u64)
                }
            };
            let key = FileKey {
                dev: self.sources[r.src as usize].tree.dev,
                ino: e.ino,
            };
            if is_copy_of(&st, &m, size, key)
                || (keep_newer
                    && found == Kind::File
                    && m.kind == Kind::File
                    && Mtime::of(&st) > m.mtime)
            {
                out.stats.skipped += 1;
                return Ok(());
            }
            if !self.may_replace(dir, r, e, &st) {
                self.own(r, e, out);
                return Ok(());
            }
            let made = via_temp_made(dir, name, |tmp| copy_any(dir, src, e.kind, tmp, data))?;
            if made == Made::Skipped {
                self.skip(r, e, out);
                return Ok(());
            }
            count_copy(out, made, data, e.kind);
            out.stats.replaced += 1;
            return Ok(());
        }
        // A new name is created in place: until its mtime is set (last),
        // a killed run's partial copy fails the check above and is replaced.
        let made = copy_any(dir, src, e.kind, name, data)?;
        if made == Made::Skipped {
            self.skip(r, e, out);
            return Ok(());
        }
        count_copy(out, made, data, e.kind);
        Ok(())
    }

    /// Links the later names of each hard-link group to the copy made
    /// under the first name, then sets the metadata of the directories
    /// that gained them. Runs after every copy exists; sequential, since
    /// groups are few.
    pub(super) fn link_groups(&self, root: &DirFd, out: &mut Applied) -> Result<()> {
        let layout = self.plan.layout(root);
        let mut dirs = DirCache::new();
        for &((d, l), (fd, fl)) in &self.groups.links {
            let dir = &*dirs.open(&layout, d)?;
            let first_dir = &*dirs.open(&layout, fd)?;
            let r = self.plan.dirs[d as usize].leaves[l as usize];
            let e = entry(self.sources, r);
            let fr = self.plan.dirs[fd as usize].leaves[fl as usize];
            let first_name: &[u8] = &entry(self.sources, fr).name;
            let name: &[u8] = &e.name;
            let placed = first_dir.stat(first_name)?;
            let usable = placed
                .as_ref()
                .is_some_and(|s| !matches!(Kind::from_mode(s.st_mode), Kind::Dir | Kind::Symlink));
            if !usable {
                // The first name was kept as something else: copy this one.
                let src_dir = self.sources[r.src as usize].tree.dir(r.dir as usize)?;
                let src = At {
                    dir: &src_dir,
                    name: &e.name,
                };
                let it = Item {
                    dir,
                    fresh: false,
                    src,
                    r,
                    e,
                };
                self.place(it, out)?;
            } else {
                let want = FileKey::of(placed.as_ref().expect("BUG: checked above"));
                match dir.stat(name)? {
                    Some(st) if FileKey::of(&st) == want => out.stats.skipped += 1,
                    Some(st) if Kind::from_mode(st.st_mode) == Kind::Dir && !emptied(dir, name) => {
                        out.clashes
                            .push(clash(self.sources, r, e, Kind::Dir, false));
                        continue;
                    }
                    Some(st) if Kind::from_mode(st.st_mode) == Kind::Dir => {
                        link_within(first_dir, first_name, dir, name)?;
                        out.stats.linked += 1;
                    }
                    // Something else under this name that the last run
                    // did not place there: the package's own, as in the
                    // parallel pass.
                    Some(st) if !self.may_replace(dir, r, e, &st) => self.own(r, e, out),
                    Some(_) => {
                        via_temp(dir, name, |tmp| {
                            link_within(first_dir, first_name, dir, tmp)
                        })?;
                        out.stats.replaced += 1;
                        out.stats.linked += 1;
                    }
                    None => {
                        link_within(first_dir, first_name, dir, name)?;
                        out.stats.linked += 1;
                    }
                }
            }
            // Recorded like every other name placed (a later name left out
            // of the manifest would be taken for the package's own file by
            // the next run and by file-list).
            if self.opts.record {
                out.placed.push(record(dir, self.sources, r, e, d)?);
            }
        }
        for &d in &self.groups.late_dirs {
            set_dir_meta(
                &*dirs.open(&layout, d)?,
                &dir_meta(self.sources, &self.plan.dirs[d as usize])?,
            )?;
        }
        Ok(())
    }
}
