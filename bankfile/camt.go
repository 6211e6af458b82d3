package bankfile

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/fundledger/fundledger/events"
)

// The elements of camt.053 (BankToCustomerStatement, any version from
// 001.02) that a statement is made of. Nothing about the related parties
// (RltdPties: names, accounts of payers and payees) is declared, so
// encoding/xml skips it and it never enters a Statement.
type camtDoc struct {
	XMLName xml.Name `xml:"Document"`
	Stmt    struct {
		GrpHdr struct {
			MsgID string `xml:"MsgId"`
		} `xml:"GrpHdr"`
		Stmts []camtStmt `xml:"Stmt"`
	} `xml:"BkToCstmrStmt"`
}

type camtStmt struct {
	ID     string `xml:"Id"`
	FrToDt struct {
		From string `xml:"FrDtTm"`
		To   string `xml:"ToDtTm"`
	} `xml:"FrToDt"`
	Acct struct {
		ID struct {
			IBAN string `xml:"IBAN"`
			Othr struct {
				ID string `xml:"Id"`
			} `xml:"Othr"`
		} `xml:"Id"`
	} `xml:"Acct"`
	Bal  []camtBal   `xml:"Bal"`
	Ntry []camtEntry `xml:"Ntry"`
}

type camtBal struct {
	Tp struct {
		Cd    string `xml:"CdOrPrtry>Cd"`
		Prtry string `xml:"CdOrPrtry>Prtry"`
	} `xml:"Tp"`
	Amt       string `xml:"Amt"`
	CdtDbtInd string `xml:"CdtDbtInd"`
	Dt        struct {
		Dt   string `xml:"Dt"`
		DtTm string `xml:"DtTm"`
	} `xml:"Dt"`
}

// camtStatus is Sts, a code in 001.02 to 001.07 (<Sts>BOOK</Sts>) and a
// choice from 001.08 on (<Sts><Cd>BOOK</Cd></Sts>).
type camtStatus struct {
	Text string `xml:",chardata"`
	Cd   string `xml:"Cd"`
}

func (s camtStatus) code() string {
	if c := strings.TrimSpace(s.Cd); c != "" {
		return c
	}
	return strings.TrimSpace(s.Text)
}

type camtEntry struct {
	NtryRef     string     `xml:"NtryRef"`
	Amt         string     `xml:"Amt"`
	CdtDbtInd   string     `xml:"CdtDbtInd"`
	Sts         camtStatus `xml:"Sts"`
	BookgDt     camtDate   `xml:"BookgDt"`
	ValDt       camtDate   `xml:"ValDt"`
	AcctSvcrRef string     `xml:"AcctSvcrRef"`
	TxDtls      []struct {
		Refs struct {
			EndToEndID  string `xml:"EndToEndId"`
			InstrID     string `xml:"InstrId"`
			AcctSvcrRef string `xml:"AcctSvcrRef"`
		} `xml:"Refs"`
		Ustrd []string `xml:"RmtInf>Ustrd"`
		Strd  []string `xml:"RmtInf>Strd>CdtrRefInf>Ref"`
	} `xml:"NtryDtls>TxDtls"`
	AddtlNtryInf string `xml:"AddtlNtryInf"`
}

type camtDate struct {
	Dt   string `xml:"Dt"`
	DtTm string `xml:"DtTm"`
}

func (d camtDate) text() string {
	if d.Dt != "" {
		return d.Dt
	}
	return d.DtTm
}

// ParseCAMT053 reads a camt.053 statement. A file with several Stmt
// elements is refused: one event is one statement. Entries whose status
// is not BOOK (pending, information only) are left out: they are not on
// the account yet.
func ParseCAMT053(data []byte) (*Statement, error) {
	if len(data) > MaxFileBytes {
		return nil, errAt("", "the file is %d bytes; at most %d are read", len(data), MaxFileBytes)
	}
	var doc camtDoc
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	dec.CharsetReader = func(label string, r io.Reader) (io.Reader, error) {
		if strings.EqualFold(label, "utf-8") || strings.EqualFold(label, "utf8") {
			return r, nil
		}
		return nil, fmt.Errorf("encoding %q: only UTF-8 is read", label)
	}
	if err := dec.Decode(&doc); err != nil {
		var se *xml.SyntaxError
		if errors.As(err, &se) {
			return nil, errAt(fmt.Sprintf("line %d", se.Line), "not well-formed XML: %s", se.Msg)
		}
		line, _ := dec.InputPos()
		return nil, errAt(fmt.Sprintf("line %d", line), "not a camt.053 Document: %v", err)
	}
	stmts := doc.Stmt.Stmts
	switch {
	case len(stmts) == 0:
		return nil, errAt("Document/BkToCstmrStmt", "no Stmt element: not a camt.053 bank-to-customer statement")
	case len(stmts) > 1:
		return nil, errAt("Document/BkToCstmrStmt", "%d Stmt elements; import one statement per file", len(stmts))
	}
	st := stmts[0]
	const at = "Document/BkToCstmrStmt/Stmt"
	s := &Statement{StatementID: cleanID(st.ID), MessageID: cleanID(doc.Stmt.GrpHdr.MsgID)}
	s.BankAccount = cleanID(st.Acct.ID.IBAN)
	if s.BankAccount == "" {
		s.BankAccount = cleanID(st.Acct.ID.Othr.ID)
	}
	var err error
	if st.FrToDt.From != "" {
		if s.PeriodStart, err = parseDay(st.FrToDt.From); err != nil {
			return nil, errAt(at+"/FrToDt/FrDtTm", "%v", err)
		}
	}
	if st.FrToDt.To != "" {
		if s.PeriodEnd, err = parseDay(st.FrToDt.To); err != nil {
			return nil, errAt(at+"/FrToDt/ToDtTm", "%v", err)
		}
	}
	var haveOpen, haveClose bool
	for i, b := range st.Bal {
		where := fmt.Sprintf("%s/Bal[%d]", at, i+1)
		code := strings.TrimSpace(b.Tp.Cd)
		if code != "OPBD" && code != "PRCD" && code != "CLBD" {
			continue // available and interim balances are not the statement's
		}
		amt, err := parseAmount(b.Amt)
		if err != nil {
			return nil, errAt(where+"/Amt", "%v", err)
		}
		if strings.TrimSpace(b.CdtDbtInd) == "DBIT" {
			amt = amt.Neg()
		}
		day := b.Dt.Dt
		if day == "" {
			day = b.Dt.DtTm
		}
		switch {
		case code == "CLBD":
			s.ClosingBalance, haveClose = amt, true
			if s.PeriodEnd.IsZero() && day != "" {
				if s.PeriodEnd, err = parseDay(day); err != nil {
					return nil, errAt(where+"/Dt", "%v", err)
				}
			}
		case !haveOpen || code == "OPBD":
			s.OpeningBalance, haveOpen = amt, true
			if s.PeriodStart.IsZero() && day != "" && code == "OPBD" {
				if s.PeriodStart, err = parseDay(day); err != nil {
					return nil, errAt(where+"/Dt", "%v", err)
				}
			}
		}
	}
	if !haveOpen {
		return nil, errAt(at, "no opening balance (Bal of type OPBD or PRCD)")
	}
	if !haveClose {
		return nil, errAt(at, "no closing balance (Bal of type CLBD)")
	}
	for i, n := range st.Ntry {
		where := fmt.Sprintf("%s/Ntry[%d]", at, i+1)
		if c := n.Sts.code(); c != "" && c != "BOOK" {
			continue
		}
		e := Entry{EntryRef: cleanID(n.NtryRef)}
		if e.EntryRef == "" {
			e.EntryRef = cleanID(n.AcctSvcrRef)
		}
		if e.EntryRef == "" {
			return nil, errAt(where, "neither NtryRef nor AcctSvcrRef: the entry has no reference to be known by")
		}
		switch strings.TrimSpace(n.CdtDbtInd) {
		case "CRDT":
			e.Direction = events.DirCredit
		case "DBIT":
			e.Direction = events.DirDebit
		default:
			return nil, errAt(where+"/CdtDbtInd", "%q is neither CRDT nor DBIT", n.CdtDbtInd)
		}
		if e.Amount, err = parseAmount(n.Amt); err != nil {
			return nil, errAt(where+"/Amt", "%v", err)
		}
		if !e.Amount.IsPositive() {
			return nil, errAt(where+"/Amt", "%s is not above zero", n.Amt)
		}
		day := n.BookgDt.text()
		if day == "" {
			return nil, errAt(where+"/BookgDt", "the booking date is missing")
		}
		if e.BookedOn, err = parseDay(day); err != nil {
			return nil, errAt(where+"/BookgDt", "%v", err)
		}
		e.BankRef, e.Description = camtRef(n), camtText(n)
		s.Entries = append(s.Entries, e)
	}
	if s.StatementID == "" {
		return nil, errAt(at+"/Id", "the statement id is missing")
	}
	return s, nil
}

// camtRef is the reference the books may carry for an entry: the first
// EndToEndId that is given (not NOTPROVIDED), else InstrId, else the
// structured creditor reference. The bank's own AcctSvcrRef is the
// entry's identity (entry_ref), not a reference the payer gave.
func camtRef(n camtEntry) string {
	for _, t := range n.TxDtls {
		for _, v := range []string{t.Refs.EndToEndID, t.Refs.InstrID} {
			if v = cleanText(v); v != "" && v != "NOTPROVIDED" {
				return v
			}
		}
		for _, v := range t.Strd {
			if v = cleanText(v); v != "" {
				return v
			}
		}
	}
	return ""
}

// camtText is the entry's description: AddtlNtryInf, else the
// unstructured remittance lines joined.
func camtText(n camtEntry) string {
	if s := cleanText(n.AddtlNtryInf); s != "" {
		return s
	}
	var parts []string
	for _, t := range n.TxDtls {
		parts = append(parts, t.Ustrd...)
	}
	return cleanText(strings.Join(parts, " "))
}
