package jetstream

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestFitReconciliation(t *testing.T) {
	var book []string
	for i := 0; i < 5000; i++ {
		book = append(book, fmt.Sprintf(`{"journal_seq":%d,"type":"grant.disbursed","date":"2026-01-01","direction":"debit","amount":"1.00","bank_ref":null}`, i+1))
	}
	report := `{"fund_id":"f","reconciliation_seq":1,"unmatched_bank":[{"entry_ref":"E1"}],"unmatched_book":[` + strings.Join(book, ",") + `],"signature":"s"}`
	small, err := Fit([]byte(report), 20000)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Book      []json.RawMessage `json:"unmatched_book"`
		Bank      []json.RawMessage `json:"unmatched_bank"`
		Truncated bool              `json:"unmatched_book_truncated"`
		Total     int               `json:"unmatched_book_total"`
		Signature string            `json:"signature"`
	}
	if err := json.Unmarshal(small, &got); err != nil {
		t.Fatal(err)
	}
	if len(small) > 20000 || !got.Truncated || got.Total != 5000 || len(got.Book) == 0 || len(got.Book) >= 5000 || len(got.Bank) != 1 || got.Signature != "s" {
		t.Fatalf("reduced to %d bytes: %d book items of %d, truncated %v, %d bank", len(small), len(got.Book), got.Total, got.Truncated, len(got.Bank))
	}
}
