//! The live set of a rate workload (`rate-wl --live K`): a ring of the K
//! blocks allocated last, oldest first, kept in a static array of the binary,
//! not on any heap.
//!
//! The array lies in `.bss`, like the arena of [`cmem`](crate::cmem): the
//! kernel maps it at exec, with no system call and no page until touched, so a
//! tracker sees neither a malloc nor an mmap for it, and a long run does not
//! grow it. [`take`] hands it out once, split among the threads of a run.

use std::cell::UnsafeCell;
use std::mem::{align_of, size_of, MaybeUninit};
use std::sync::atomic::{AtomicBool, Ordering};

/// Slots in the static array, for all the threads of a run together.
pub const SLOTS: usize = 1 << 16;

/// One slot: room for a block handle (a pointer and a length, or a mapping).
type Slot = MaybeUninit<[usize; 4]>;

struct Store(UnsafeCell<[Slot; SLOTS]>);

// SAFETY: the array is reached only through `take`, which hands it out once,
// as one exclusive slice.
unsafe impl Sync for Store {}

static STORE: Store = Store(UnsafeCell::new([MaybeUninit::uninit(); SLOTS]));
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The static array's slots, `n` rings of `each` (at most [`SLOTS`] in all);
/// `None` when they would not fit or were already taken.
pub fn take<T>(n: usize, each: usize) -> Option<Vec<Ring<T>>> {
    const { assert!(size_of::<T>() <= size_of::<Slot>() && align_of::<T>() <= align_of::<Slot>()) };
    if n.checked_mul(each)? > SLOTS || each == 0 || TAKEN.swap(true, Ordering::AcqRel) {
        return None;
    }
    // SAFETY: TAKEN was false: this is the one and only borrow of the array,
    // for the rest of the process.
    let all: &'static mut [Slot; SLOTS] = unsafe { &mut *STORE.0.get() };
    Some(
        all.chunks_mut(each)
            .take(n)
            .map(|slots| Ring {
                slots,
                head: 0,
                len: 0,
                _t: std::marker::PhantomData,
            })
            .collect(),
    )
}

/// A ring of at most `capacity` values, oldest first. A value still in it when
/// the ring is dropped is forgotten, not dropped (a block never freed).
pub struct Ring<T> {
    slots: &'static mut [Slot],
    /// Where the oldest value is.
    head: usize,
    len: usize,
    _t: std::marker::PhantomData<T>,
}

// SAFETY: a Ring owns the values in its slots (of a Send type) and its slice
// of the array; nothing else reaches them.
unsafe impl<T: Send> Send for Ring<T> {}

impl<T> Ring<T> {
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_full(&self) -> bool {
        self.len == self.slots.len()
    }

    /// When the ring is full: takes the oldest value out and puts what `f`
    /// makes of it in as the newest, in the same slot (the ring stays full;
    /// one shorter when `f` gives nothing). Returns false, doing nothing, when
    /// the ring is not full. A pop and a push in one touch of one slot, for a
    /// live set that turns over at every call.
    pub fn turn(&mut self, f: impl FnOnce(T) -> Option<T>) -> bool {
        if !self.is_full() {
            return false;
        }
        let at = self.head;
        // SAFETY: the ring is full, so every slot holds a T; head's is the
        // oldest, read once here and not again (head moves past it).
        let old = unsafe { self.slots[at].as_ptr().cast::<T>().read() };
        self.head = if at + 1 == self.slots.len() {
            0
        } else {
            at + 1
        };
        match f(old) {
            // Full, the newest goes at head + len - 1, which is `at`.
            // SAFETY: `at` holds no value (read above); room for a T, aligned.
            Some(v) => unsafe { self.slots[at].as_mut_ptr().cast::<T>().write(v) },
            None => self.len -= 1,
        }
        true
    }

    /// Puts `v` in as the newest; gives it back when the ring is full.
    pub fn push(&mut self, v: T) -> Result<(), T> {
        if self.is_full() {
            return Err(v);
        }
        // A compare, not a `%`: a division costs more than the rest of a
        // rate-wl call.
        let mut at = self.head + self.len;
        if at >= self.slots.len() {
            at -= self.slots.len();
        }
        // SAFETY: the slot is free (outside head..head+len) and holds room
        // for a T, aligned (checked in `take`).
        unsafe { self.slots[at].as_mut_ptr().cast::<T>().write(v) };
        self.len += 1;
        Ok(())
    }

    /// Takes the oldest value out.
    pub fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        // SAFETY: head is in use: push wrote a T there that was not read since.
        let v = unsafe { self.slots[self.head].as_ptr().cast::<T>().read() };
        self.head += 1;
        if self.head == self.slots.len() {
            self.head = 0;
        }
        self.len -= 1;
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_first_bounded_and_taken_once() {
        let mut rings = take::<(usize, String)>(3, 4).expect("the slots");
        assert!(take::<u8>(1, 1).is_none(), "taken once");
        assert_eq!(rings.len(), 3);
        let r = &mut rings[1];
        assert_eq!(r.capacity(), 4);
        for i in 0..4 {
            r.push((i, i.to_string())).unwrap();
        }
        assert_eq!(r.push((9, String::new())).unwrap_err().0, 9);
        assert_eq!(r.pop().unwrap().0, 0);
        r.push((4, "4".into())).unwrap();
        let order: Vec<usize> = std::iter::from_fn(|| r.pop()).map(|v| v.0).collect();
        assert_eq!(order, [1, 2, 3, 4]);
        assert!(r.is_empty());

        // turn: the oldest out and the newest in, only when full
        let r = &mut rings[2];
        assert!(
            !r.turn(|_| Some((9, String::new()))),
            "not full: nothing done"
        );
        for i in 1..=4 {
            r.push((i, String::new())).unwrap();
        }
        let mut seen = vec![];
        assert!(r.turn(|old| {
            seen.push(old.0);
            Some((5, String::new()))
        }));
        assert!(r.is_full());
        assert_eq!(r.pop().unwrap().0, 2);
        r.push((6, String::new())).unwrap();
        assert!(r.turn(|old| {
            seen.push(old.0);
            None
        }));
        assert_eq!(r.len(), 3);
        let order: Vec<usize> = std::iter::from_fn(|| r.pop()).map(|v| v.0).collect();
        assert_eq!(order, [4, 5, 6]);
        assert_eq!(seen, [1, 3]);
    }
}
