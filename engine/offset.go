package engine

import (
	"strconv"
	"strings"
)

// Recovery offsets. Every recoverable user message (order, position and
// notification updates, not live P&L refreshes) has an EntryID in its
// stream: the Redis stream entry ID in streams mode (PublishUserEntry), or a
// number this node gives it (PublishUser). A message's offset, sent to the
// client as its last argument, is the Cursor at that message: for each of
// the three streams, the newest entry published up to and including it.
// Every message of the user with an ID at or below the cursor's entry for
// its stream was queued to the socket before that message, so a client that
// comes back with an offset is owed exactly the user's messages above it.

// EntryID is a Redis stream entry ID, "<milliseconds>-<sequence>". The zero
// EntryID is below every entry.
type EntryID struct{ Millis, Seq uint64 }

// ParseEntryID parses "ms-seq" as Redis writes stream entry IDs.
func ParseEntryID(text string) (EntryID, bool) {
	millis, seq, found := strings.Cut(text, "-")
	if !found {
		return EntryID{}, false
	}
	var id EntryID
	var err error
	if id.Millis, err = strconv.ParseUint(millis, 10, 64); err != nil {
		return EntryID{}, false
	}
	if id.Seq, err = strconv.ParseUint(seq, 10, 64); err != nil {
		return EntryID{}, false
	}
	return id, true
}

// String returns the ID as Redis writes it.
func (id EntryID) String() string {
	return string(id.appendTo(nil))
}

func (id EntryID) appendTo(dst []byte) []byte {
	dst = strconv.AppendUint(dst, id.Millis, 10)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, id.Seq, 10)
}

// Less reports whether id comes before other.
func (id EntryID) Less(other EntryID) bool {
	return id.Millis < other.Millis || (id.Millis == other.Millis && id.Seq < other.Seq)
}

// Cursor is a place in the three user streams, indexed by Stream.
type Cursor [streamCount]EntryID

// offsetSeparator joins the epoch and the cursor's entries in an offset; it
// appears in neither.
const offsetSeparator = '.'

// appendOffset appends the offset text of cursor: the epoch, then the
// entry of each stream, e.g. "s.1732860000000-0.0-0.1732860000123-4".
func appendOffset(dst []byte, epoch string, cursor *Cursor) []byte {
	dst = append(dst, epoch...)
	for stream := StreamOrders; stream < streamCount; stream++ {
		dst = append(dst, offsetSeparator)
		dst = cursor[stream].appendTo(dst)
	}
	return dst
}

// parseOffset parses an offset made by appendOffset with epoch; an offset
// of another epoch (another node's numbering, or a restart) is not ok.
func parseOffset(text, epoch string) (cursor Cursor, ok bool) {
	rest, found := strings.CutPrefix(text, epoch+string(offsetSeparator))
	if !found {
		return Cursor{}, false
	}
	for stream := StreamOrders; stream < streamCount; stream++ {
		var part string
		part, rest, found = strings.Cut(rest, string(offsetSeparator))
		if found != (stream < streamCount-1) {
			return Cursor{}, false
		}
		if cursor[stream], ok = ParseEntryID(part); !ok {
			return Cursor{}, false
		}
	}
	return cursor, true
}

// sharedEpoch is the epoch of offsets made of Redis stream entry IDs: they
// mean the same on every node.
const sharedEpoch = "s"
