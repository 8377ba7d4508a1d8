package redis

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/taskgen/taskgen/runtime"
)

// A task's record is two keys sharing the hash tag {id}: a string with the
// record's state, encoded by encodeRecord, and a hash with its progress
// (fields progress, meta and at). Writing the state is then one SET, with
// its expiry, and leaves the progress alone.

const recordVersion = 1

// encodeRecord packs r's state, result and error: a version byte, then
// task, queue, state, result and error as uvarint length and bytes, then
// the attempt (uvarint) and UpdatedAt (varint, Unix ns; 0 is zero).
func encodeRecord(r *runtime.Record, at time.Time) []byte {
	b := make([]byte, 0, 24+len(r.Task)+len(r.Queue)+len(r.State)+len(r.Result)+len(r.Error))
	b = append(b, recordVersion)
	for _, s := range [][]byte{[]byte(r.Task), []byte(r.Queue), []byte(r.State), r.Result, []byte(r.Error)} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(max(r.Attempt, 0)))
	var ns int64
	if !at.IsZero() {
		ns = at.UnixNano()
	}
	return binary.AppendVarint(b, ns)
}

var errBadRecord = errors.New("malformed record")

// decodeRecord unpacks what encodeRecord packed into r.
func decodeRecord(b []byte, r *runtime.Record) error {
	if len(b) == 0 || b[0] != recordVersion {
		return errBadRecord
	}
	b = b[1:]
	var fields [5][]byte
	for i := range fields {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return errBadRecord
		}
		fields[i], b = b[k:k+int(n)], b[k+int(n):]
	}
	attempt, k := binary.Uvarint(b)
	if k <= 0 || attempt > 1<<31-1 {
		return errBadRecord
	}
	b = b[k:]
	ns, k := binary.Varint(b)
	if k <= 0 {
		return errBadRecord
	}
	r.Task, r.Queue, r.State = string(fields[0]), string(fields[1]), runtime.State(fields[2])
	if len(fields[3]) > 0 {
		r.Result = append([]byte(nil), fields[3]...)
	}
	r.Error = string(fields[4])
	r.Attempt = int(attempt)
	if ns != 0 {
		r.UpdatedAt = time.Unix(0, ns)
	}
	return nil
}
