//! Moving tree pages toward the front of the main file, so that its end
//! becomes free and a checkpoint can cut it. Writes go to the lowest free
//! page, so a tree that is rewritten gathers at the front by itself; but
//! pages nothing rewrites (a part of the key space that no longer changes,
//! or what survived a mass delete) may sit at the end of the file and keep
//! it long however much is free below them. When the free pages are worth
//! it, a checkpoint copies up to a budget of the tree pages that lie past
//! the live data's size into lower free pages, highest first, with the
//! branches on their paths. Copies are copy-on-write like any change: the
//! old pages are released, free once the new superblock is durable, and
//! then cut with the rest of the free end.
//!
//! Overflow pages are not moved (a leaf would have to be rewritten to point
//! at the copy); they move when their value is rewritten.

use super::checkpoint::TreeWriter;
use super::page::{self, PageType};
use crate::StorageResult;

impl TreeWriter<'_> {
    /// Copies tree pages at or past `cutoff` into lower free pages, at most
    /// `budget` of them; returns the new root (the same when nothing moved).
    pub(crate) fn relocate(
        &mut self,
        root: u64,
        cutoff: u64,
        budget: &mut usize,
    ) -> StorageResult<u64> {
        if root == 0 {
            return Ok(0);
        }
        let height = self.height(root)?;
        self.relocate_node(root, height, cutoff, budget)
    }

    /// Levels of the tree at `root`: 1 for a lone leaf. The tree is
    /// balanced, so the leftmost path tells.
    fn height(&mut self, root: u64) -> StorageResult<usize> {
        let mut id = root;
        let mut height = 1;
        loop {
            let p = self.pager.get(id)?;
            if page::page_type(p) != Some(PageType::Branch) {
                return Ok(height);
            }
            id = page::branch_child(p, 0, id)?;
            height += 1;
        }
    }

    /// Whether moving page `id` gains anything: it lies past the cutoff, a
    /// free page lies before it, and the budget is not spent.
    fn worth_moving(&self, id: u64, cutoff: u64, budget: usize) -> bool {
        budget > 0 && id >= cutoff && self.free.first().is_some_and(|&f| f < id)
    }

    /// `level` is the node's height above the leaves (1: a leaf). Leaves
    /// are read only when they move.
    fn relocate_node(
        &mut self,
        id: u64,
        level: usize,
        cutoff: u64,
        budget: &mut usize,
    ) -> StorageResult<u64> {
        if level == 1 {
            if !self.worth_moving(id, cutoff, *budget) {
                return Ok(id);
            }
            let entries = page::decode_leaf(self.pager.get(id)?, id)?;
            let new = self.alloc();
            let p = page::encode_leaf(&entries, new, self.generation);
            self.pager.put(new, p)?;
            self.release(id);
            *budget -= 1;
            return Ok(new);
        }
        let mut branch = page::decode_branch(self.pager.get(id)?, id)?;
        let mut moved = false;
        // Highest children first: they block the cut the most.
        let mut order: Vec<usize> = (0..branch.children.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(branch.children[i]));
        for i in order {
            if *budget == 0 {
                break;
            }
            let child = branch.children[i];
            let new = self.relocate_node(child, level - 1, cutoff, budget)?;
            if new != child {
                branch.children[i] = new;
                moved = true;
            }
        }
        if !moved && !self.worth_moving(id, cutoff, *budget) {
            return Ok(id);
        }
        let new = self.alloc();
        let p = page::encode_branch(&branch, new, self.generation);
        self.pager.put(new, p)?;
        self.release(id);
        *budget = budget.saturating_sub(1);
        Ok(new)
    }
}
