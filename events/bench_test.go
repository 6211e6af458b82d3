package events

import (
	"testing"
)

// BenchmarkDecodeGrant is the cost of one ordinary event.
func BenchmarkDecodeGrant(b *testing.B) {
	raw := message(b, TypeGrantApproved)
	subject := subjectOf(TypeGrantApproved)
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if d := Decode(subject, raw); d.Rejection != nil {
			b.Fatal(d.Rejection)
		}
	}
}

// BenchmarkDecodeBatch10000 is the cost of the largest batch accepted.
func BenchmarkDecodeBatch10000(b *testing.B) {
	raw := message(b, TypeGrantBatchApproved, data("lines", lines(MaxBatchLines)))
	subject := subjectOf(TypeGrantBatchApproved)
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if d := Decode(subject, raw); d.Rejection != nil {
			b.Fatal(d.Rejection)
		}
	}
}

// BenchmarkDecodeGrantBinary is one ordinary event in binary content mode.
func BenchmarkDecodeGrantBinary(b *testing.B) {
	m := binaryCase{}.build(b)
	b.SetBytes(int64(len(m.Data)))
	for b.Loop() {
		if d := DecodeMessage(m); d.Rejection != nil {
			b.Fatal(d.Rejection)
		}
	}
}
