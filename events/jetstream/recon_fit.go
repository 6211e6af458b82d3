package jetstream

import "encoding/json"

// fitUnmatched reduces a bank reconciliation report whose unmatched lists
// make it larger than NATS accepts (a fund whose bank history starts long
// after its books, say): it keeps the first unmatched book items, then if
// need be the first unmatched bank entries, that fit, and marks each cut
// list with "<list>_truncated": true and "<list>_total". The signature is
// over the whole report: the stored report, served in full by
// GET /v1/funds/{fund_id}/reconciliations/{seq}, is the one to verify.
func fitUnmatched(obj map[string]json.RawMessage, max int) ([]byte, error) {
	for _, key := range []string{"unmatched_book", "unmatched_bank"} {
		var items []json.RawMessage
		if l, ok := obj[key]; !ok || json.Unmarshal(l, &items) != nil {
			return nil, ErrCannotFit
		}
		obj[key+"_truncated"] = json.RawMessage("true")
		obj[key+"_total"], _ = json.Marshal(len(items))
		obj[key] = json.RawMessage("[]")
		b, err := json.Marshal(obj)
		if err != nil {
			return nil, ErrCannotFit
		}
		if len(b) > max {
			continue // the next list must give way too
		}
		room, k := max-len(b), 0
		for k < len(items) && room-len(items[k])-1 >= 0 {
			room -= len(items[k]) + 1
			k++
		}
		for ; k >= 0; k-- {
			obj[key], _ = json.Marshal(items[:k])
			if b, err := json.Marshal(obj); err == nil && len(b) <= max {
				return b, nil
			}
		}
	}
	return nil, ErrCannotFit
}
