package bankfile

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"
)

func day(s string) time.Time { t, _ := time.Parse(time.DateOnly, s); return t }

func TestCAMT053Fixture(t *testing.T) {
	b, err := os.ReadFile("testdata/camt053-recon.xml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse("camt053-recon.xml", b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(s.Data("abc"))
	want := `{"bank_account":"ICBC-3100-0001","closing_balance":"8288.00","entries":[` +
		`{"amount":"10000.00","bank_ref":"BR-c-1","booked_on":"2026-01-05","description":"财政拨款","direction":"credit","entry_ref":"E1"},` +
		`{"amount":"1500.00","bank_ref":"BULK-7","booked_on":"2026-01-11","description":"代发 补助金","direction":"debit","entry_ref":"E2"},` +
		`{"amount":"12.00","bank_ref":"FEE-1","booked_on":"2026-01-31","description":"账户管理费","direction":"debit","entry_ref":"E3"},` +
		`{"amount":"200.00","booked_on":"2026-01-30","direction":"debit","entry_ref":"E4"}],` +
		`"file_sha256":"abc","message_id":"ICBC-CQ-20260131-0001","opening_balance":"0.00","period_end":"2026-01-31",` +
		`"period_start":"2026-01-01","statement_id":"ICBC-3100-0001-2026-01"}`
	if string(got) != want {
		t.Fatalf("data\n got %s\nwant %s", got, want)
	}
	for _, personal := range []string{"张三", "李四", "6217000099998888", "6222000011112222", "江津区财政局"} {
		if bytes.Contains(got, []byte(personal)) {
			t.Fatalf("the statement carries %q, a payee's personal data", personal)
		}
	}
}

func TestCAMT053Errors(t *testing.T) {
	b, _ := os.ReadFile("testdata/camt053-recon.xml")
	src := string(b)
	cases := []struct {
		name, from, to, where string
	}{
		{"bad amount", "<Amt Ccy=\"CNY\">12.00</Amt>", "<Amt Ccy=\"CNY\">12.001</Amt>", "Stmt/Ntry[3]/Amt"},
		{"bad indicator", "<CdtDbtInd>DBIT</CdtDbtInd>\n        <Sts>BOOK</Sts>\n        <BookgDt><Dt>2026-01-31</Dt>", "<CdtDbtInd>X</CdtDbtInd>\n        <Sts>BOOK</Sts>\n        <BookgDt><Dt>2026-01-31</Dt>", "Stmt/Ntry[3]/CdtDbtInd"},
		{"no booking date", "<BookgDt><Dt>2026-01-30</Dt></BookgDt>", "", "Stmt/Ntry[4]/BookgDt"},
		{"not xml", "</Document>", "</Documen>", "line "},
		{"unbalanced", "<Amt Ccy=\"CNY\">8288.00</Amt>\n        <CdtDbtInd>CRDT</CdtDbtInd>\n        <Dt><Dt>2026-01-31</Dt></Dt>\n      </Bal>\n      <Bal>\n        <Tp><CdOrPrtry><Cd>CLAV", "<Amt Ccy=\"CNY\">8289.00</Amt>\n        <CdtDbtInd>CRDT</CdtDbtInd>\n        <Dt><Dt>2026-01-31</Dt></Dt>\n      </Bal>\n      <Bal>\n        <Tp><CdOrPrtry><Cd>CLAV", "closing balance"},
		{"booked outside", "<BookgDt><Dt>2026-01-05</Dt></BookgDt>", "<BookgDt><Dt>2026-02-05</Dt></BookgDt>", "entry 0 (E1)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(src, c.from) {
				t.Fatalf("fixture lacks %q", c.from)
			}
			_, err := Parse("x.xml", []byte(strings.Replace(src, c.from, c.to, 1)), Options{})
			if err == nil || !strings.Contains(err.Error(), c.where) {
				t.Fatalf("got %v, want an error naming %q", err, c.where)
			}
		})
	}
	if _, err := Parse("x.xml", bytes.Repeat([]byte(" "), MaxFileBytes+1), Options{}); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Fatalf("a file over the bound: %v", err)
	}
}

const csvStatement = "\xef\xbb\xbf中国工商银行 账户明细\n账号: ICBC-3100-0001\n" +
	"交易日期,流水号,摘要,借方发生额,贷方发生额,余额,对方户名,对方账号,业务参考号\n" +
	"2026/01/05,E1,财政拨款,,\"10,000.00\",\"10,000.00\",江津区财政局,6222000011112222,BR-c-1\n" +
	"2026/01/11,E2,代发补助金,1500.00,,8500.00,张三,6217000099998888,BULK-7\n" +
	"2026/01/31,E3,账户管理费,12.00,,8488.00,,,FEE-1\n" +
	"合计,,,1512.00,10000.00,,,,\n"

func TestCSV(t *testing.T) {
	s, err := Parse("jan.csv", []byte(csvStatement), Options{StatementID: "S-2026-01", BankAccount: "ICBC-3100-0001",
		From: day("2026-01-01"), To: day("2026-01-31")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(s.Data(""))
	for _, personal := range []string{"张三", "6217000099998888", "江津区财政局", "6222000011112222"} {
		if bytes.Contains(got, []byte(personal)) {
			t.Fatalf("the statement carries %q: %s", personal, got)
		}
	}
	if !s.OpeningBalance.IsZero() || s.ClosingBalance.String() != "8488" || len(s.Entries) != 3 ||
		s.Entries[0].Direction != "credit" || s.Entries[1].BankRef != "BULK-7" || s.Entries[2].Description != "账户管理费" {
		t.Fatalf("statement %s", got)
	}
	// Without --from/--to the period is the entries' dates.
	s, err = Parse("jan.csv", []byte(csvStatement), Options{StatementID: "S", BankAccount: "A"})
	if err != nil || !s.PeriodStart.Equal(day("2026-01-05")) || !s.PeriodEnd.Equal(day("2026-01-31")) {
		t.Fatalf("period %v %v %v", s.PeriodStart, s.PeriodEnd, err)
	}
	for _, c := range []struct{ name, from, to, where string }{
		{"bad amount", "1500.00,,8500", "15x0.00,,8500", "line 5"},
		{"both sides", "1500.00,,8500", "1500.00,1.00,8500", "line 5"},
		{"bad date", "2026/01/31", "2026/13/31", "line 6"},
		{"no ref", ",E3,", ",,", "line 6"},
		{"wrong balance", "8488.00", "8487.00", "closing balance"},
		{"no header", "流水号", "号", "no header row"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("x.csv", []byte(strings.Replace(csvStatement, c.from, c.to, 1)), Options{StatementID: "S", BankAccount: "A"})
			if err == nil || !strings.Contains(err.Error(), c.where) {
				t.Fatalf("got %v, want an error naming %q", err, c.where)
			}
		})
	}
	// Direction and amount columns, balances given as options.
	open, closing := decimal.RequireFromString("100"), decimal.RequireFromString("90")
	s, err = Parse("x.csv", []byte("entry_ref,booked_on,direction,amount,bank_ref,description,counterparty_name\nA1,2026-02-01,debit,10.00,R,fee,Someone\n"),
		Options{StatementID: "S", BankAccount: "A", Opening: &open, Closing: &closing})
	if err != nil || len(s.Entries) != 1 || s.Entries[0].Amount.String() != "10" {
		t.Fatalf("%+v %v", s, err)
	}
}

func TestXLSX(t *testing.T) {
	f := excelize.NewFile()
	for i, line := range strings.Split(strings.TrimSpace(strings.TrimPrefix(csvStatement, "\xef\xbb\xbf")), "\n") {
		var row []any
		for _, c := range splitCSV(line) {
			row = append(row, c)
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow("Sheet1", cell, &row); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		t.Fatal(err)
	}
	s, err := Parse("jan.xlsx", buf.Bytes(), Options{StatementID: "S", BankAccount: "A"})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Entries) != 3 || s.ClosingBalance.String() != "8488" || s.Entries[0].Amount.String() != "10000" {
		t.Fatalf("%+v", s)
	}
	bad := bytes.Replace(buf.Bytes(), []byte("PK"), []byte("XX"), 1)
	if _, err := Parse("jan.xlsx", bad, Options{}); err == nil {
		t.Fatal("a broken workbook was read")
	}
}

func splitCSV(line string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range line {
		switch {
		case r == '"':
			quoted = !quoted
		case r == ',' && !quoted:
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	return append(out, cur.String())
}

// Fuzz targets: whatever the bytes, the parsers return a statement that
// passes Check or an error, and never panic.
func FuzzCAMT053(f *testing.F) {
	b, _ := os.ReadFile("testdata/camt053-recon.xml")
	f.Add(b)
	f.Add([]byte("<Document><BkToCstmrStmt><Stmt><Id>x</Id></Stmt></BkToCstmrStmt></Document>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseCAMT053(data)
		if err == nil {
			_ = s.Check()
		}
	})
}

func FuzzCSV(f *testing.F) {
	f.Add([]byte(csvStatement))
	f.Add([]byte("entry_ref,booked_on,direction,amount\nA,2026-01-01,credit,1.00\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if s, err := Parse("x.csv", data, Options{StatementID: "S", BankAccount: "A"}); err == nil {
			if err := s.Check(); err != nil {
				t.Fatalf("Parse returned a statement that fails Check: %v", err)
			}
		}
	})
}

func FuzzXLSX(f *testing.F) {
	x := excelize.NewFile()
	_ = x.SetSheetRow("Sheet1", "A1", &[]any{"流水号", "交易日期", "借方发生额", "贷方发生额", "余额"})
	_ = x.SetSheetRow("Sheet1", "A2", &[]any{"E1", "2026-01-05", "", "10.00", "10.00"})
	var buf bytes.Buffer
	_ = x.Write(&buf)
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		if s, err := Parse("x.xlsx", data, Options{StatementID: "S", BankAccount: "A"}); err == nil {
			if err := s.Check(); err != nil {
				t.Fatalf("Parse returned a statement that fails Check: %v", err)
			}
		}
	})
}
