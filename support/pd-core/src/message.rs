//! Small register messages, the payload of protected calls.
//!
//! Seed 000/003: IPC carries "tens of bytes"; bulk data goes through shared
//! memory. A message here is a label plus at most [`MSG_WORDS`] words, copied
//! by value, so no backend has to expose its IPC buffer.

/// Most words a message carries (Microkit allows 64; we keep requests small).
pub const MSG_WORDS: usize = 8;

/// Label replied when a PD has no protected entry point for a call.
pub const LABEL_UNSUPPORTED: u64 = 0xffff;

/// Label of the reply a restarted server sends to a caller it may have
/// received but never recorded: the call was not carried out, make it again.
/// A transport reply, below every protocol: the caller's channel layer
/// re-issues the same call and never shows this reply to the PD.
pub const LABEL_RETRY: u64 = 0xfffd;

/// Label of every reply of a quarantined server ([`crate::ChildOp::Quarantine`]):
/// it is gone for good, none of its code runs. A transport reply, below
/// every protocol: the caller's channel layer hands it up unchecked.
pub const LABEL_GONE: u64 = 0xfffc;

/// A protected-call message or reply.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Default)]
pub struct Message {
    /// Operation or status label.
    pub label: u64,
    len: u8,
    words: [u64; MSG_WORDS],
}

impl Message {
    /// A message with no words.
    pub const fn new(label: u64) -> Self {
        Self {
            label,
            len: 0,
            words: [0; MSG_WORDS],
        }
    }

    /// A message with the given words; `None` if there are more than [`MSG_WORDS`].
    pub fn with_words(label: u64, words: &[u64]) -> Option<Self> {
        if words.len() > MSG_WORDS {
            return None;
        }
        let mut m = Self::new(label);
        m.words[..words.len()].copy_from_slice(words);
        m.len = words.len() as u8;
        Some(m)
    }

    /// A message from a label, a claimed length and a full word array, as read
    /// back from shared memory or message registers. The length is clamped.
    pub fn from_raw(label: u64, len: usize, words: [u64; MSG_WORDS]) -> Self {
        let len = len.min(MSG_WORDS);
        let mut m = Self {
            label,
            len: len as u8,
            words,
        };
        m.words[len..].iter_mut().for_each(|w| *w = 0);
        m
    }

    /// Append a word; `false` if the message is full.
    pub fn push(&mut self, w: u64) -> bool {
        let i = self.len as usize;
        if i >= MSG_WORDS {
            return false;
        }
        self.words[i] = w;
        self.len += 1;
        true
    }

    /// Number of meaningful words.
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the message carries no words.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The meaningful words.
    pub fn words(&self) -> &[u64] {
        &self.words[..self.len as usize]
    }

    /// Word `i`, if present.
    pub fn word(&self, i: usize) -> Option<u64> {
        self.words().get(i).copied()
    }

    /// The full backing array (for copying into message registers).
    pub fn raw_words(&self) -> &[u64; MSG_WORDS] {
        &self.words
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_bounded() {
        assert!(Message::with_words(1, &[0; MSG_WORDS + 1]).is_none());
        let mut m = Message::with_words(1, &[7; MSG_WORDS]).unwrap_or_default();
        assert_eq!(m.len(), MSG_WORDS);
        assert!(!m.push(1));
        assert_eq!(m.word(MSG_WORDS), None);
    }

    #[test]
    fn from_raw_clamps_and_clears_the_tail() {
        let m = Message::from_raw(3, 100, [9; MSG_WORDS]);
        assert_eq!(m.len(), MSG_WORDS);
        let m = Message::from_raw(3, 2, [9; MSG_WORDS]);
        assert_eq!(m.words(), &[9, 9]);
        assert_eq!(m.raw_words()[2], 0);
    }
}
